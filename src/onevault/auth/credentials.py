"""What the API knows about credentials, cached per process and refreshed every few seconds.

Secrets, revocations and site keys live in the database, so a rotation or a revocation made by one
`onevault` command reaches every API process within `refresh_seconds`, without a restart and without a
database round trip per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from functools import lru_cache

from psycopg_pool import AsyncConnectionPool

from onevault.auth.cache import TtlCache
from onevault.auth.sitekeys import is_well_formed
from onevault.auth.tokens import Claims, TokenConfig, verify_token
from onevault.db.errors import translated
from onevault.db.queries import query
from onevault.errors import Unauthorized


@lru_cache(maxsize=4096)
def _digest(jti: str) -> bytes:
    """SHA-256 of a token id, as revocations are stored; remembered, since a client sends the same token."""
    return hashlib.sha256(jti.encode()).digest()


@dataclass(frozen=True)
class SiteKeyGrant:
    tenant_hk: bytes
    customer_id: str
    origins: frozenset[str]


class CredentialStore:
    def __init__(self, pool: AsyncConnectionPool, fallback_secret: str, refresh_seconds: float) -> None:
        self._pool = pool
        self._fallback = fallback_secret
        self._refresh = refresh_seconds
        self._lock = asyncio.Lock()
        self._loaded_at = float("-inf")
        self._secrets: tuple[str, ...] = (fallback_secret,)
        self._revoked: frozenset[bytes] = frozenset()  # SHA-256 of the revoked ids
        self._site_keys: TtlCache[SiteKeyGrant | None] = TtlCache(refresh_seconds)
        self._origins: TtlCache[bool] = TtlCache(refresh_seconds)
        self._tokens: TtlCache[Claims] = TtlCache(refresh_seconds)  # only tokens that verified

    async def secrets(self) -> tuple[str, ...]:
        """The accepted JWT secrets, newest first."""
        await self._refresh_snapshot()
        return self._secrets

    async def verify(self, token: str, config: TokenConfig) -> Claims:
        """verify_token with the accepted secrets, remembered for the refresh interval: checking a JWT's
        signature costs more than the rest of an ingest, and a client sends the same token every time."""
        accepted = await self.secrets()

        async def check(text: str) -> Claims:
            return verify_token(config, text, accepted)

        claims = await self._tokens.get(token, check)
        if claims.expires_at <= time.time():
            raise Unauthorized("the token has expired")
        return claims

    async def is_revoked(self, jti: str) -> bool:
        await self._refresh_snapshot()
        return _digest(jti) in self._revoked

    async def site_key(self, key: str) -> SiteKeyGrant | None:
        """The tenant and origins of an active key; None for an unknown or revoked one."""
        if not is_well_formed(key):
            return None
        return await self._site_keys.get(key, self._load_site_key)

    async def origin_listed(self, origin: str) -> bool:
        """Whether any active site key lists the origin (what a credential-less preflight can be told)."""
        if "\x00" in origin:  # text PostgreSQL cannot hold, so no key can list it
            return False
        return await self._origins.get(origin, self._load_origin)

    async def _refresh_snapshot(self) -> None:
        if time.monotonic() - self._loaded_at < self._refresh:
            return
        async with self._lock:
            if time.monotonic() - self._loaded_at < self._refresh:
                return
            with translated():
                async with self._pool.connection() as conn:
                    accepted = [r[0] for r in await (await conn.execute(query("accepted_secrets"))).fetchall()]
                    revoked = [bytes(r[0]) for r in await (await conn.execute(query("revoked_token_ids"))).fetchall()]
            self._secrets = tuple(accepted) or (self._fallback,)
            self._revoked = frozenset(revoked)
            self._loaded_at = time.monotonic()

    async def _load_site_key(self, key: str) -> SiteKeyGrant | None:
        with translated():
            async with self._pool.connection() as conn:
                row = await (await conn.execute(query("resolve_site_key"), (key,))).fetchone()
        if row is None or row[3]:
            return None
        return SiteKeyGrant(bytes(row[0]), row[1], frozenset(row[2]))

    async def _load_origin(self, origin: str) -> bool:
        with translated():
            async with self._pool.connection() as conn:
                row = await (await conn.execute(query("origin_is_listed"), (origin,))).fetchone()
        return bool(row and row[0])
