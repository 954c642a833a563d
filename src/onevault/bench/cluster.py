"""Fresh databases for the benchmark: an embedded server in a temporary directory, or new databases on
the server of SYSTEM_DATABASE_URL (dropped afterwards). Never the user's own OneVault database."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from onevault.auth.tenants import Tenant, create_tenant
from onevault.auth.tokens import TokenConfig, issue_token
from onevault.db import migrate, roles
from onevault.db.embedded import start_embedded
from onevault.db.queries import query
from onevault.db.tenancy import tenant_transaction
from onevault.runtime import open_runtime
from onevault.settings import Settings

TOKEN_TTL_SECONDS = 86400


def _autocommit(url: str) -> psycopg.Connection:
    """An admin connection for statements that may not run in a transaction (CREATE DATABASE, VACUUM)."""
    return psycopg.connect(url, autocommit=True, connect_timeout=10)


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    admin_url: str
    app_url: str

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_url, connect_timeout=10)

    def app(self) -> psycopg.Connection:
        return psycopg.connect(self.app_url, connect_timeout=10, application_name="onevault-bench")


@dataclass(frozen=True)
class Credentials:
    tenant: Tenant
    token: str

    @property
    def customer_id(self) -> str:
        return self.tenant.customer_id


@dataclass
class BenchCluster:
    """The server the benchmark's databases live on, and what it created there."""

    admin_url: str
    app_password: str
    tokens: TokenConfig
    embedded: Any = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    created: list[str] = field(default_factory=list)

    @property
    def is_embedded(self) -> bool:
        return self.embedded is not None

    def create_database(self, role: str, template: BenchDatabase | None = None) -> BenchDatabase:
        """A new database: migrated, or a file copy of `template` (which must have no open connection)."""
        name = f"onevault_bench_{self.run_id}_{role}"
        if template is None:
            self._admin(query("bench_create_database"), name=sql.Identifier(name))
        else:
            self._admin(query("bench_copy_database"), name=sql.Identifier(name), source=sql.Identifier(template.name))
        self.created.append(name)
        admin_url = roles.with_database(self.admin_url, name)
        db = BenchDatabase(name, admin_url, roles.app_conninfo(admin_url, self.app_password))
        if template is None:
            with db.admin() as conn:
                migrate.migrate(conn)
        return db

    def drop_database(self, db: BenchDatabase) -> None:
        self._admin(query("bench_drop_database"), name=sql.Identifier(db.name))
        self.created.remove(db.name)

    def tenant(self, db: BenchDatabase, customer_id: str) -> Credentials:
        """Create a tenant in `db` and a token for it, as `onevault tenant create` does."""
        with db.admin() as conn:
            tenant = create_tenant(conn, customer_id.replace("-", " ").title(), customer_id)
        return Credentials(tenant, issue_token(self.tokens, customer_id, TOKEN_TTL_SECONDS))

    def prewrite_wal(self, megabytes: int) -> None:
        """Write `megabytes` of WAL and checkpoint, so the server reuses those files from then on.

        A new server creates each 16 MB WAL file as it first needs it, and with `wal_init_zero` off (see
        db/embedded.py) the file is sparse: every commit's flush then also waits for the filesystem to
        record the blocks just allocated. A server that has run for a while recycles its old files
        instead. The bench's embedded server is new; this makes it the latter."""
        with _autocommit(self.admin_url) as conn:
            conn.execute(query("bench_prewrite_wal"), {"megabytes": megabytes})
            conn.execute(query("bench_checkpoint"))

    def settle(self, db: BenchDatabase) -> bool:
        """Vacuum and analyze `db`, then checkpoint: the last load's dirty pages written out and its rows'
        clean-up done, so neither lands in the next load's figures. False when the admin role may not
        checkpoint (neither superuser nor pg_checkpoint): the vacuum alone is done then."""
        with _autocommit(db.admin_url) as conn:
            conn.execute(query("bench_vacuum_analyze"))
            try:
                conn.execute(query("bench_checkpoint"))
            except psycopg.errors.InsufficientPrivilege:
                return False
        return True

    def close(self) -> None:
        """Drop every database made here, or stop the embedded server (its directory is the caller's)."""
        if self.embedded is not None:
            self.embedded.cleanup()
            self.embedded = None
            return
        for name in list(self.created):
            self._admin(query("bench_drop_database"), name=sql.Identifier(name))
            self.created.remove(name)

    def _admin(self, statement: str, **names: sql.Identifier) -> None:
        with _autocommit(self.admin_url) as conn:
            conn.execute(sql.SQL(statement).format(**names))


def open_cluster(settings: Settings, workdir: Path, jwt_secret: str) -> BenchCluster:
    """An embedded server in `workdir` when SYSTEM_DATABASE_URL is unset, else that server."""
    if settings.system_database_url is None:
        admin_url, handle = start_embedded(workdir)
        password = secrets.token_urlsafe(24)
    else:
        # The application role is shared by every database on the server: keep the password the
        # user's own service connects with, as `onevault serve` would set it.
        rt = open_runtime(settings, prepare=False)
        admin_url, handle, password = rt.admin_url, None, rt.app_password
    with _autocommit(admin_url) as conn:
        roles.ensure_app_role(conn, password)
    tokens = TokenConfig(jwt_secret, settings.jwt_issuer, settings.jwt_audience, settings.jwt_leeway_seconds)
    return BenchCluster(admin_url, password, tokens, handle)


def count(db: BenchDatabase, name: str, tenant_hk: bytes) -> int:
    """A named counting query run inside the tenant's transaction (admin connection)."""
    with db.admin() as conn, tenant_transaction(conn, tenant_hk):
        row = conn.execute(query(name)).fetchone()
    assert row is not None
    return int(row[0])
