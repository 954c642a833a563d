"""The application factory. Its lifespan owns the connection pool and the group-commit writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from onevault import __version__
from onevault.api.audit import AuditLog
from onevault.api.context import RequestContext
from onevault.api.cors import PreflightCors
from onevault.api.errors import install_error_handlers
from onevault.api.fastpath import OneVaultApp
from onevault.api.openapi import install_openapi
from onevault.api.ratelimit import RateLimits
from onevault.api.routes import health, segment, track, tracker
from onevault.api.security import SecurityHeaders
from onevault.api.state import AppState
from onevault.auth.credentials import CredentialStore
from onevault.auth.tenants import TenantCache
from onevault.auth.tokens import TokenConfig
from onevault.db.pools import LifoConnectionPool
from onevault.db.statistics import StatisticsKeeper
from onevault.gctuning import tune_for_serving
from onevault.ingest.writer import GroupCommitWriter
from onevault.pipeline.immediate import ImmediatePipeline
from onevault.runtime import Runtime


def create_app(runtime: Runtime, *, serving: bool = False, fast_ingest: bool = True) -> OneVaultApp:
    """A FastAPI app serving the tracking API against `runtime`'s database as the application role.
    `serving` (the service process, not a test) tunes the garbage collector once everything is up;
    `fast_ingest=False` leaves the hot ingestion endpoints to FastAPI's own routing (a test compares)."""
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connect = {
            "options": f"-c statement_timeout={settings.statement_timeout_ms}",
            "application_name": "onevault-api",
        }
        pool = LifoConnectionPool(
            runtime.app_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            open=False,
            timeout=5.0,
            kwargs=connect,
        )
        await pool.open(wait=False)  # start even while the database is away: /health then says 503
        writer = GroupCommitWriter(
            runtime.app_url,
            connect,
            max_events=settings.group_commit_max_events,
            wait_ms=settings.group_commit_wait_ms,
            flushers=settings.group_commit_flushers,
        )
        await writer.start()
        if serving:
            tune_for_serving()  # after the pool and writer exist, so they are frozen too
        tokens = TokenConfig(
            runtime.jwt_secret, settings.jwt_issuer, settings.jwt_audience, settings.jwt_leeway_seconds
        )
        credentials = CredentialStore(pool, runtime.jwt_secret, settings.credential_refresh_seconds)
        limits = RateLimits(settings.rate_limit_tenant, settings.rate_limit_ip)
        audit.bind(pool)
        await audit.start()
        immediate = ImmediatePipeline(pool, gather_ms=settings.track_gather_ms)
        statistics = StatisticsKeeper(pool, settings.statistics_seconds)
        await statistics.start()
        app.state.onevault = AppState(
            settings, pool, writer, TenantCache(pool), tokens, credentials, limits, audit, immediate
        )
        try:
            yield
        finally:
            await statistics.stop()
            await immediate.stop()
            await writer.stop()
            await audit.stop()
            await pool.close()

    docs = "/docs" if settings.is_development else None
    app = OneVaultApp(title="OneVault", version=__version__, lifespan=lifespan, docs_url=docs, redoc_url=None)
    install_error_handlers(app)
    install_openapi(app)
    audit = AuditLog(settings.audit_flush_ms)
    # Outermost last: security headers on everything, preflights answered before the routes, and the
    # request context (audit, CORS and rate-limit headers) around every endpoint. The hot ingestion
    # endpoints get the same three ahead of FastAPI (onevault.api.fastpath).
    app.add_middleware(RequestContext, audit=audit)
    app.add_middleware(PreflightCors)
    app.add_middleware(SecurityHeaders)
    if fast_ingest:
        app.install_ingest_front()
    app.include_router(health.router)
    app.include_router(track.router)
    app.include_router(tracker.router)
    app.include_router(segment.router)
    return app
