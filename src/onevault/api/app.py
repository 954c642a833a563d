"""The application factory. Its lifespan owns the connection pool and the group-commit writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from onevault import __version__
from onevault.api.errors import install_error_handlers
from onevault.api.routes import health, segment, track
from onevault.api.security import SecurityHeaders
from onevault.api.state import AppState
from onevault.auth.tenants import TenantCache
from onevault.auth.tokens import TokenConfig
from onevault.ingest.writer import GroupCommitWriter
from onevault.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    """A FastAPI app serving the tracking API against `runtime`'s database as the application role."""
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            runtime.app_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            open=False,
            timeout=5.0,
            kwargs={
                "options": f"-c statement_timeout={settings.statement_timeout_ms}",
                "application_name": "onevault-api",
            },
        )
        await pool.open(wait=False)  # start even while the database is away: /health then says 503
        writer = GroupCommitWriter(
            pool,
            max_events=settings.group_commit_max_events,
            wait_ms=settings.group_commit_wait_ms,
            flushers=settings.group_commit_flushers,
        )
        await writer.start()
        tokens = TokenConfig(
            runtime.jwt_secret, settings.jwt_issuer, settings.jwt_audience, settings.jwt_leeway_seconds
        )
        app.state.onevault = AppState(settings, pool, writer, TenantCache(pool), tokens)
        try:
            yield
        finally:
            await writer.stop()
            await pool.close()

    docs = "/docs" if settings.is_development else None
    app = FastAPI(title="OneVault", version=__version__, lifespan=lifespan, docs_url=docs, redoc_url=None)
    install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.include_router(health.router)
    app.include_router(track.router)
    app.include_router(segment.router)
    return app
