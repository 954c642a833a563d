"""The JWT secrets the service accepts, kept in the database so a rotation reaches every process.

The newest active secret signs; every active one verifies. `rotate` adds a secret and retires the others
after an overlap, so tokens already handed out keep working until then. No process restarts.
"""

from __future__ import annotations

import secrets

import psycopg

from onevault.db.queries import query


def seed_secret(admin: psycopg.Connection, secret: str, overlap_seconds: int) -> None:
    """Make the configured secret an accepted one (a changed JWT_SECRET retires the old after the overlap)."""
    with admin.transaction():
        admin.execute(query("seed_signing_secret"), {"secret": secret, "overlap": overlap_seconds})


def rotate(admin: psycopg.Connection, overlap_seconds: int) -> str:
    """Add a new random secret, retire the others after `overlap_seconds`; returns the new fingerprint."""
    new = secrets.token_urlsafe(48)
    with admin.transaction():
        row = admin.execute(query("add_signing_secret"), {"secret": new}).fetchone()
        admin.execute(query("retire_other_secrets"), {"secret": new, "overlap": overlap_seconds})
    assert row is not None
    return str(row[0])


def accepted_secrets(conn: psycopg.Connection) -> list[str]:
    """The active secrets, newest (the signing one) first."""
    return [row[0] for row in conn.execute(query("accepted_secrets"))]
