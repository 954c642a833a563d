"""The three hot ingestion endpoints, `POST /api/v1/track/async`, `/batch` and `/track` itself, dispatched
ahead of FastAPI.

Under load the API process is CPU-bound. A py-spy profile put FastAPI's route matching, dependency
solving and exception-middleware plumbing at about a third of each ingest request, and what FastAPI and
Starlette do before the first user middleware (the native OpenTelemetry check, the error and body-limit
middlewares) at another 8%. So `OneVaultApp` hands these paths to a chain of its own: the app's own
middlewares, built from the same list as the FastAPI stack (security headers, CORS, the request context
that audits and adds rate-limit headers), then `ingest_endpoint`, which calls the very functions the FastAPI
routes call: the route's authentication dependency, then the endpoint. Errors are answered by the app's own exception
handlers, so the answers are the same bytes either way (tests/api/test_fastpath.py). The FastAPI routes
stay registered: they document the endpoints (OpenAPI) and serve them when the front is not installed.
FastAPI's native telemetry does not see these paths; every other request it does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast, get_type_hints

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from onevault.api.auth import Caller
from onevault.api.errors import handle_error
from onevault.api.routes.track import TRACK_PREFIX, track, track_async, track_batch

Endpoint = Callable[[Request, Caller], Awaitable[Response]]
ENDPOINTS: dict[str, Endpoint] = {
    f"{TRACK_PREFIX}/async": track_async,
    f"{TRACK_PREFIX}/batch": track_batch,
    TRACK_PREFIX: track,
}
Authenticate = Callable[[Request], Awaitable[Caller]]


def declared_authentication(endpoint: Endpoint) -> Authenticate:
    """The dependency the endpoint's `caller` parameter declares for FastAPI (`Depends(...)`), so that the
    front authenticates each path exactly as its route does (POST /track takes no site key)."""
    caller = get_type_hints(endpoint, include_extras=True)["caller"]
    return cast(Authenticate, caller.__metadata__[0].dependency)


AUTHENTICATE: dict[str, Authenticate] = {path: declared_authentication(e) for path, e in ENDPOINTS.items()}


class OneVaultApp(FastAPI):
    """FastAPI, except that `POST` to a path in ENDPOINTS goes to `ingest_front` when one is set."""

    ingest_front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.ingest_front
        if front is not None and scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in ENDPOINTS:
            scope["app"] = self  # as Starlette sets it: the endpoints find the app's state through it
            await front(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def install_ingest_front(self) -> None:
        """Set `ingest_front` to `ingest_endpoint` inside the middlewares added so far, wrapped as Starlette
        wraps its router, so the two stacks cannot drift apart."""
        front: ASGIApp = ingest_endpoint
        for cls, args, kwargs in reversed(self.user_middleware):
            front = cls(front, *args, **kwargs)
        self.ingest_front = front


class IndexedHeaders(Headers):
    """Starlette's Headers, looked up in a dict instead of a scan of the list: authentication, the body
    limit, the client's facts and CORS read about eight headers of every ingest request. As in Headers,
    names are case-insensitive and the first of repeated headers wins."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope=scope)
        self._index = dict(reversed(self.raw))

    def get(self, key: str, default: Any = None) -> Any:
        value = self._index.get(key.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")

    def __getitem__(self, key: str) -> str:
        return self._index[key.lower().encode("latin-1")].decode("latin-1")

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower().encode("latin-1") in self._index


class IngestRequest(Request):
    @property
    def headers(self) -> Headers:
        if not hasattr(self, "_headers"):
            self._headers = IndexedHeaders(self.scope)
        return self._headers


async def ingest_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    request = IngestRequest(scope, receive)
    try:
        path = scope["path"]
        response = await ENDPOINTS[path](request, await AUTHENTICATE[path](request))
    except Exception as exc:  # answered as the app's handlers answer it (and logged there)
        response = await handle_error(request, exc)
    await response(scope, receive, send)
