"""Turn Settings into a running environment: database URLs, the embedded server, dev-mode secrets."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from onevault.auth import keyring
from onevault.db import migrate, roles
from onevault.db.embedded import start_embedded
from onevault.errors import ConfigurationError, DatabaseUnavailable
from onevault.settings import Settings

SECRETS_FILE = "secrets.json"


@dataclass
class Runtime:
    """What every process needs once settings are read. Keep it alive as long as the database is used."""

    settings: Settings
    admin_url: str
    app_url: str
    jwt_secret: str
    app_password: str
    embedded: Any = None  # the pgserver handle; the embedded server stops when the last handle goes


def open_runtime(settings: Settings, *, prepare: bool = True) -> Runtime:
    """Resolve database URLs and secrets; with `prepare`, also create the app role and apply migrations."""
    dev_secrets = _dev_secrets(settings.data_dir) if settings.is_development else {}
    jwt_secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else dev_secrets.get("jwt_secret")
    app_password = (
        settings.app_db_password.get_secret_value() if settings.app_db_password else dev_secrets.get("app_db_password")
    )
    if not jwt_secret or not app_password:  # unreachable outside dev: Settings refuses it; kept for clarity
        raise ConfigurationError("JWT_SECRET and ONEVAULT_APP_DB_PASSWORD must be set outside development mode")
    embedded = None
    admin_url = settings.system_database_url
    if admin_url is None:
        admin_url, embedded = start_embedded(settings.data_dir)
    app_url = roles.app_conninfo(admin_url, app_password)
    runtime = Runtime(settings, admin_url, app_url, jwt_secret, app_password, embedded)
    if prepare:
        prepare_database(runtime)
    return runtime


def prepare_database(runtime: Runtime) -> list[migrate.Migration]:
    """Ensure the application role exists and every migration is applied; returns those applied now."""
    with admin_connection(runtime) as conn:
        roles.ensure_app_role(conn, runtime.app_password)
        applied = migrate.migrate(conn)
        keyring.seed_secret(conn, runtime.jwt_secret, runtime.settings.jwt_rotation_overlap_seconds)
        return applied


def admin_connection(runtime: Runtime) -> psycopg.Connection:
    """A new admin connection (migrations, tenants, tokens): never used on the request path."""
    try:
        return psycopg.connect(runtime.admin_url, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to the database: {exc}") from exc


def _dev_secrets(data_dir: Path) -> dict[str, str]:
    """Development-mode secrets, generated once and kept (mode 0600) in the data directory."""
    path = data_dir / SECRETS_FILE
    if path.exists():
        return dict(json.loads(path.read_text()))
    data_dir.mkdir(parents=True, exist_ok=True)
    values = {"jwt_secret": secrets.token_urlsafe(48), "app_db_password": secrets.token_urlsafe(24)}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process started at the same moment and won: use its secrets
        return dict(json.loads(path.read_text()))
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    return values
