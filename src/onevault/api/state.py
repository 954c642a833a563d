"""What the app holds for its lifetime: the pool, the writer, the tenant cache and token config."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from psycopg_pool import AsyncConnectionPool

from onevault.auth.tenants import TenantCache
from onevault.auth.tokens import TokenConfig
from onevault.ingest.writer import GroupCommitWriter
from onevault.settings import Settings


@dataclass
class AppState:
    settings: Settings
    pool: AsyncConnectionPool
    writer: GroupCommitWriter
    tenants: TenantCache
    tokens: TokenConfig


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.onevault
    return state
