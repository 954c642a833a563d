"""What authentication decided about a request, and the middleware that acts on it after the endpoint:
rate-limit and CORS headers on the response, and one audit-trail entry per authentication attempt."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from onevault.api.audit import AuditLog

NOTE_KEY = "onevault_note"


@dataclass
class RequestNote:
    started: float = field(default_factory=time.time)
    outcome: str | None = None  # set once authentication was attempted: "ok" or the error code
    tenant_hk: bytes | None = None
    credential_id: str | None = None
    cors_origin: str | None = None
    ratelimit: dict[str, str] = field(default_factory=dict)


def note_of(request: Request) -> RequestNote:
    state = request.scope.setdefault("state", {})
    note = state.get(NOTE_KEY)
    if note is None:
        note = state[NOTE_KEY] = RequestNote()
    assert isinstance(note, RequestNote)
    return note


class RequestContext:
    """Pure ASGI middleware: no body copying, no task per request."""

    def __init__(self, app: ASGIApp, audit: AuditLog | None = None) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        note = RequestNote()
        scope.setdefault("state", {})[NOTE_KEY] = note
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *_headers(note)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if note.outcome is not None and self.audit is not None:
                client = scope.get("client")
                self.audit.record(
                    occurred_at=note.started,
                    tenant_hk=note.tenant_hk,
                    credential_id=note.credential_id,
                    method=scope["method"],
                    endpoint=scope["path"][:300],
                    status=status,
                    outcome=note.outcome,
                    client_ip=client[0] if client else None,
                )


def _headers(note: RequestNote) -> list[tuple[bytes, bytes]]:
    headers = [(k.lower().encode(), v.encode()) for k, v in note.ratelimit.items()]
    if note.cors_origin is not None:
        headers += [
            (b"access-control-allow-origin", note.cors_origin.encode("latin-1")),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", b"Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining"),
        ]
    return headers
