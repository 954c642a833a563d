"""The application role: it owns no table and can never bypass row-level security."""

from __future__ import annotations

import random
import time

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo

from onevault.db.queries import query

APP_ROLE = "onevault_app"
ROLE_ATTEMPTS = 20


def ensure_app_role(admin: psycopg.Connection, password: str) -> None:
    """Create the application role (and the queue role) if missing; (re)assert the app role's attributes.

    Every API and worker process does this as it starts, and the roles are the cluster's, not the
    database's. Two ALTER ROLEs of one role at once make the later fail with "tuple concurrently
    updated", and two CREATE ROLEs a unique violation. The advisory lock queues the processes of one
    database; processes on other databases of the cluster can still collide, so a collision is retried.
    """
    for attempt in range(ROLE_ATTEMPTS):
        try:
            with admin.transaction():
                admin.execute(query("role_lock"))
                admin.execute(query("create_app_role_if_missing"))
                admin.execute(query("create_queue_role_if_missing"))
                admin.execute(sql.SQL(query("assert_app_role")).format(password=sql.Literal(password)))
            return
        except (errors.InternalError_, errors.UniqueViolation) as exc:
            if attempt == ROLE_ATTEMPTS - 1 or not _is_collision(exc):
                raise
            time.sleep(random.uniform(0.005, 0.05))  # noqa: S311 - jitter, not a secret


def _is_collision(exc: psycopg.Error) -> bool:
    # "tuple concurrently updated" is an internal error (XX000); its message is in the server's language.
    return isinstance(exc, errors.UniqueViolation) or exc.sqlstate == "XX000"


def app_conninfo(admin_url: str, password: str) -> str:
    """The admin connection string with the application role's credentials in place of the admin's."""
    return make_conninfo(admin_url, user=APP_ROLE, password=password)


def with_database(url: str, dbname: str) -> str:
    """The same connection string pointed at another database."""
    return make_conninfo(url, dbname=dbname)
