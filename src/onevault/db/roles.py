"""The application role: it owns no table and can never bypass row-level security."""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from onevault.db.queries import query

APP_ROLE = "onevault_app"


def ensure_app_role(admin: psycopg.Connection, password: str) -> None:
    """Create the application role (and the queue role) if missing; (re)assert the app role's attributes."""
    with admin.transaction():
        admin.execute(query("create_app_role_if_missing"))
        admin.execute(query("create_queue_role_if_missing"))
        admin.execute(sql.SQL(query("assert_app_role")).format(password=sql.Literal(password)))


def app_conninfo(admin_url: str, password: str) -> str:
    """The admin connection string with the application role's credentials in place of the admin's."""
    return make_conninfo(admin_url, user=APP_ROLE, password=password)


def with_database(url: str, dbname: str) -> str:
    """The same connection string pointed at another database."""
    return make_conninfo(url, dbname=dbname)
