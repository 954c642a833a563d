"""What the app holds for its lifetime: pool, writers, immediate pipeline, credential and limit state."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from psycopg_pool import AsyncConnectionPool

from onevault.api.audit import AuditLog
from onevault.api.ratelimit import RateLimits
from onevault.auth.credentials import CredentialStore
from onevault.auth.tenants import TenantCache
from onevault.auth.tokens import TokenConfig
from onevault.ingest.writer import GroupCommitWriter
from onevault.pipeline.immediate import ImmediatePipeline
from onevault.settings import Settings


@dataclass
class AppState:
    settings: Settings
    pool: AsyncConnectionPool
    writer: GroupCommitWriter
    tenants: TenantCache
    tokens: TokenConfig
    credentials: CredentialStore
    limits: RateLimits
    audit: AuditLog
    immediate: ImmediatePipeline


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.onevault
    return state
