"""The one place where database exceptions become OneVault errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pgerr
from psycopg_pool import PoolTimeout

from onevault import errors


def translate(exc: BaseException) -> errors.OneVaultError:
    """Map a driver exception to the domain error a caller can act on (never exposing SQL text)."""
    if isinstance(exc, PoolTimeout | psycopg.OperationalError | pgerr.QueryCanceled):
        return errors.DatabaseUnavailable()
    if isinstance(exc, pgerr.UniqueViolation):
        return errors.Conflict()
    if isinstance(exc, pgerr.InvalidParameterValue | pgerr.CheckViolation):
        diag = exc.diag
        return errors.InvalidEvent(diag.message_primary, field=diag.column_name, rule=diag.message_detail)
    if isinstance(exc, pgerr.InsufficientPrivilege):
        return errors.Forbidden()
    return errors.OneVaultError()


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise any psycopg error inside the block as the matching OneVault error."""
    try:
        yield
    except (psycopg.Error, PoolTimeout) as exc:
        raise translate(exc) from exc
