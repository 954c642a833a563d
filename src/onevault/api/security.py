"""Security headers on every response (a pure ASGI middleware: no per-request task or body copy)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-site"),
    (b"permissions-policy", b"interest-cohort=(), browsing-topics=()"),
]
# The API answers JSON only: nothing in it may load or run. The interactive docs (development mode only)
# load their own scripts and styles, so they keep the browser's defaults.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/openapi.json")
# The tracker script is loaded by other sites' pages: it must not be fenced to this site.
SCRIPT_HEADERS = [
    (name, b"cross-origin" if name == b"cross-origin-resource-policy" else value) for name, value in HEADERS
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        extra = (
            SCRIPT_HEADERS if path == "/tracker.js" else HEADERS if path.startswith(DOCS_PATHS) else [*HEADERS, API_CSP]
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
