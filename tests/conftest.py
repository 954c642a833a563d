"""One real PostgreSQL per test run, a migrated template database, and a fresh copy per test.

With SYSTEM_DATABASE_URL set the suite uses that server (an admin role that can create databases and
roles); otherwise it starts an embedded pgserver in a temporary directory. Tests never mock the database.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest
import uvicorn
from starlette.types import ASGIApp

from onevault.api.app import create_app
from onevault.auth.sitekeys import create_site_key
from onevault.auth.tenants import Tenant, create_tenant
from onevault.auth.tokens import TokenConfig, issue_token
from onevault.db import migrate, roles
from onevault.db.embedded import start_embedded
from onevault.db.queries import query
from onevault.pipeline.runner import parse_pending_user_agents
from onevault.runtime import Runtime
from onevault.settings import Settings

TEST_JWT_SECRET = "test-secret-" + "x" * 40
TEST_APP_PASSWORD = "onevault-test-app-password"


@dataclass
class Cluster:
    admin_url: str
    template: str
    handle: object = None


@dataclass
class Database:
    name: str
    admin_url: str
    app_url: str

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_url, autocommit=True)

    def app(self) -> psycopg.Connection:
        return psycopg.connect(self.app_url)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    url = os.environ.get("SYSTEM_DATABASE_URL")
    handle = None
    if url is None:
        url, handle = start_embedded(tmp_path_factory.mktemp("pg"))
        with psycopg.connect(url, autocommit=True) as conn:  # a throw-away test cluster needs no fsync
            conn.execute("ALTER SYSTEM SET fsync = off")
            conn.execute("ALTER SYSTEM SET synchronous_commit = off")
            conn.execute("SELECT pg_reload_conf()")
    template = f"ovt_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        roles.ensure_app_role(conn, TEST_APP_PASSWORD)
        conn.execute(f'CREATE DATABASE "{template}"')
    with psycopg.connect(roles.with_database(url, template)) as conn:
        migrate.migrate(conn)
    yield Cluster(url, template, handle)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


def new_database(cluster: Cluster, template: str | None = None) -> Database:
    name = f"ovt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template or cluster.template}"')
    admin_url = roles.with_database(cluster.admin_url, name)
    return Database(name, admin_url, roles.app_conninfo(admin_url, TEST_APP_PASSWORD))


def drop_database(cluster: Cluster, db: Database) -> None:
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


@pytest.fixture
def database(cluster: Cluster) -> Iterator[Database]:
    """A fresh, fully migrated database for one test."""
    db = new_database(cluster)
    yield db
    drop_database(cluster, db)


@pytest.fixture
def runtime(database: Database, tmp_path: Path) -> Runtime:
    settings = Settings(
        system_database_url=database.admin_url,
        jwt_secret=TEST_JWT_SECRET,  # type: ignore[call-arg]
        app_db_password=TEST_APP_PASSWORD,
        data_dir=tmp_path / "data",
    )
    return Runtime(settings, database.admin_url, database.app_url, TEST_JWT_SECRET, TEST_APP_PASSWORD)


def runtime_with(runtime: Runtime, **settings: object) -> Runtime:
    """The same runtime with some settings changed (rate limits, refresh intervals...)."""
    return dataclasses.replace(runtime, settings=runtime.settings.model_copy(update=settings))


@pytest.fixture
def token_config(runtime: Runtime) -> TokenConfig:
    s = runtime.settings
    return TokenConfig(runtime.jwt_secret, s.jwt_issuer, s.jwt_audience, s.jwt_leeway_seconds)


@dataclass
class TenantCredentials:
    tenant: Tenant
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Customer-ID": self.tenant.customer_id}

    @property
    def claims(self) -> dict[str, object]:
        return dict(jwt.decode(self.token, options={"verify_signature": False}))


@pytest.fixture
def make_tenant(database: Database, token_config: TokenConfig):  # type: ignore[no-untyped-def]
    def make(customer_id: str, ttl: int = 3600) -> TenantCredentials:
        with database.admin() as conn:
            tenant = create_tenant(conn, customer_id.title(), customer_id)
        return TenantCredentials(tenant, issue_token(token_config, customer_id, ttl))

    return make


@pytest.fixture
def make_site_key(database: Database):  # type: ignore[no-untyped-def]
    """A public site key for an existing tenant, valid from `origins`."""

    def make(customer_id: str, origins: tuple[str, ...] = ("http://127.0.0.1",)) -> str:
        with database.admin() as conn:
            return create_site_key(conn, customer_id, origins)

    return make


def process_env(database: Database, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for a `python -m onevault ...` process against `database` (no stray ONEVAULT_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEVAULT_")}
    env.update(
        SYSTEM_DATABASE_URL=database.admin_url,
        JWT_SECRET=TEST_JWT_SECRET,
        ONEVAULT_APP_DB_PASSWORD=TEST_APP_PASSWORD,
        ONEVAULT_DATA_DIR=str(data_dir),
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningService:
    """The real app under uvicorn in a background thread, reached over real HTTP."""

    def __init__(
        self, runtime: Runtime, wrap: Callable[[ASGIApp], ASGIApp] | None = None, *, fast_ingest: bool = True
    ) -> None:
        self.port = free_port()
        app: ASGIApp = create_app(runtime, fast_ingest=fast_ingest)
        config = uvicorn.Config(
            wrap(app) if wrap else app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RunningService:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test service did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def service(runtime: Runtime) -> Iterator[RunningService]:
    with RunningService(runtime) as svc:
        yield svc


@pytest.fixture
def client(service: RunningService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=10) as http:
        yield http


TENANT_TABLES_SQL = """
SELECT c.oid::regclass::text
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'onevault_meta')
   AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname = 'tenant_hk' AND NOT a.attisdropped)
 ORDER BY 1
"""


AUDIT_ROW = {
    "occurred_at": [datetime(2026, 1, 1, tzinfo=UTC).timestamp()],
    "credential_id": ["jti"],
    "method": ["GET"],
    "endpoint": ["/api/v1/track/status"],
    "status": [200],
    "outcome": ["ok"],
    "client_ip": ["198.51.100.7"],
}


def tenant_tables(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(TENANT_TABLES_SQL)]


@pytest.fixture
def two_tenants(database: Database, make_tenant):  # type: ignore[no-untyped-def]
    """Tenants acme and globex with raw events and audit rows each."""
    creds = {name: make_tenant(name) for name in ("acme", "globex")}
    with database.admin() as conn:
        for name, c in creds.items():
            with conn.transaction():
                conn.execute(query("set_tenant"), (c.tenant.tenant_hk,))
                for i in range(3):
                    conn.execute(
                        "SELECT api.track_site_event(%s::jsonb, '198.51.100.9', 'Mozilla/5.0 (X11) Firefox/120', %s)",
                        ('{"event_type": "page_view", "page_url": "https://e.com/"}', f"{name}_{i}"),
                    )
                conn.execute(
                    query("insert_rejection_audit"), {"reason": "test", "field": "x", "detail": None, "count": 1}
                )
                parse_pending_user_agents(conn, 100)  # so staging.user_agent_parsed has rows too
                conn.execute("SELECT * FROM staging.process_complete_pipeline(100)")
                conn.execute(
                    query("record_issued_token"),
                    {"tenant_hk": c.tenant.tenant_hk, "jti": f"jti-{name}", "issued_at": 0, "expires_at": 2**31},
                )
                conn.execute(query("append_request_log"), AUDIT_ROW)
            create_site_key(conn, name, ["https://shop.example"])
    return creds
