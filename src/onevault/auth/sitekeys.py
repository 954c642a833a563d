"""Public site keys: a browser's credential. A key can only ingest, only from its listed origins.

Like a Segment write key it is not a secret (it sits in the page); what protects a tenant is that it
grants nothing but ingestion, the origin list, rate limits and revocation.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import psycopg

from onevault.auth.tenants import find_tenant
from onevault.db.queries import query
from onevault.errors import InvalidEvent, NotFound

PREFIX = "ovsk_"


@dataclass(frozen=True)
class SiteKey:
    site_key: str
    origins: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


_WELL_FORMED = re.compile(r"ovsk_[A-Za-z0-9_-]{1,95}")


def is_site_key(credential: str) -> bool:
    return credential.startswith(PREFIX)


def is_well_formed(key: str) -> bool:
    """Whether `key` could be a site key at all (what `create_site_key` makes); anything else, a NUL
    character included, is refused without asking the database."""
    return _WELL_FORMED.fullmatch(key) is not None


def normalize_origin(origin: str) -> str:
    """`scheme://host[:port]` in lower case, as browsers send it in the Origin header; else InvalidEvent."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise InvalidEvent(f"{origin!r} is not an origin such as https://example.com", field="origin", rule="format")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidEvent(f"{origin!r} is not an origin such as https://example.com", field="origin", rule="format")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"


def create_site_key(admin: psycopg.Connection, customer_id: str, origins: Sequence[str]) -> str:
    """A new key for the tenant, valid from the given origins; admin connection."""
    listed = sorted({normalize_origin(o) for o in origins})
    if not listed:
        raise InvalidEvent("a site key needs at least one origin", field="origin", rule="required")
    tenant = find_tenant(admin, customer_id)
    if tenant is None:
        raise NotFound(f"no tenant with customer id {customer_id!r}")
    key = PREFIX + secrets.token_urlsafe(24)
    with admin.transaction():
        admin.execute(query("insert_site_key"), {"tenant_hk": tenant.tenant_hk, "site_key": key, "origins": listed})
    return key


def revoke_site_key(admin: psycopg.Connection, site_key: str) -> bool:
    """Revoke a key; False when no active key has that text."""
    with admin.transaction():
        return admin.execute(query("revoke_site_key"), (site_key,)).fetchone() is not None


def list_site_keys(admin: psycopg.Connection, customer_id: str) -> list[SiteKey]:
    rows = admin.execute(query("list_site_keys"), (customer_id,)).fetchall()
    return [SiteKey(r[0], tuple(r[1]), r[2], r[3]) for r in rows]
