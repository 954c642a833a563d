"""The two hot ingestion endpoints, `POST /api/v1/track/async` and `/batch`, dispatched without FastAPI's
router and dependency solver.

Under load the API process is CPU-bound, and a py-spy profile put FastAPI's route matching, dependency
solving and exception-middleware plumbing at about a third of each ingest request. This middleware sits
inside the package's own middlewares (security headers, CORS, the request context that audits and adds
rate-limit headers), so those apply unchanged, and calls the very functions the FastAPI routes call:
`authenticate_ingest`, then the endpoint. The FastAPI routes stay registered: they document the
endpoints (OpenAPI) and serve them when this middleware is not installed. Errors are answered by the
app's own exception handlers, so the answers are the same bytes either way (tests/api/test_fastpath.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from onevault.api.auth import Caller, authenticate_ingest
from onevault.api.errors import handle_error
from onevault.api.routes.track import TRACK_PREFIX, track_async, track_batch

Endpoint = Callable[[Request, Caller], Awaitable[Response]]
ENDPOINTS: dict[str, Endpoint] = {f"{TRACK_PREFIX}/async": track_async, f"{TRACK_PREFIX}/batch": track_batch}


class IngestFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = ENDPOINTS.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await endpoint(request, await authenticate_ingest(request))
        except Exception as exc:  # answered as the app's handlers answer it (and logged there)
            response = await handle_error(request, exc)
        await response(scope, receive, send)
