"""JSON responses and the error shape every endpoint answers with."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from onevault.errors import OneVaultError


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, headers=headers, media_type="application/json")


def error_response(error: OneVaultError) -> Response:
    headers = {"Retry-After": "1"} if error.status_code == 503 else getattr(error, "headers", None)
    return json_response(error.to_dict(), error.status_code, headers)
