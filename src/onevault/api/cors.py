"""CORS for the ingestion endpoints, answered per tenant from the origins listed for its site keys.

A preflight carries no credential, so it is granted when the site key in the query (the tracker's way)
lists the origin, or, without a key, when any active site key does; the request itself is then checked
against its own key (onevault.api.auth). Read endpoints never grant CORS: they need a token, and a
browser page must not hold one.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from onevault.api.responses import json_response
from onevault.api.state import AppState
from onevault.auth.sitekeys import normalize_origin
from onevault.errors import InvalidEvent

INGEST_PATHS = ("/api/v1/track/async", "/api/v1/track/batch", "/v1/")
ALLOWED_HEADERS = "Content-Type, Authorization, X-Site-Key, X-Customer-ID"
MAX_AGE = "600"


class PreflightCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":  # most requests: nothing to read
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        if b"access-control-request-method" not in headers:
            await self.app(scope, receive, send)
            return
        origin = headers.get(b"origin", b"").decode("latin-1")
        state: AppState = scope["app"].state.onevault
        if scope["path"].startswith(INGEST_PATHS) and await _allowed(state, origin, scope):
            response = Response(
                status_code=204,
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": "POST, OPTIONS",
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": MAX_AGE,
                    "Vary": "Origin",
                },
            )
        else:
            response = json_response(
                {"error": "origin_not_allowed", "message": "no CORS grant for this origin and path"}, 403
            )
        await response(scope, receive, send)


async def _allowed(state: AppState, origin: str, scope: Scope) -> bool:
    try:
        normalized = normalize_origin(origin)
    except InvalidEvent:
        return False
    key = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("site_key", [""])[0]
    if key:
        grant = await state.credentials.site_key(key[:100])
        return grant is not None and normalized in grant.origins
    return await state.credentials.origin_listed(normalized)
