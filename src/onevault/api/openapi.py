"""The OpenAPI document: how each endpoint authenticates, and every answer it can give.

The routes answer with bodies they build themselves (so FastAPI never re-validates a hot path); what is
declared here only documents them, and tests/security/test_schemathesis.py holds the running service to it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from onevault.api.schemas import TrackBatch, TrackEvent

REF = "#/components/schemas/{model}"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A token from `onevault token issue`, sent with X-Customer-ID naming its tenant. "
        "On ingestion endpoints the bearer may also be a site key.",
    },
    "customerId": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Customer-ID",
        "description": "The token's own tenant: required with a bearer token (400 when missing, 403 when it "
        "names another tenant); optional with a site key or Basic credentials.",
    },
    "siteKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Site-Key",
        "description": "A public site key (`onevault site add`): ingestion only, only from its listed origins.",
    },
    "siteKeyQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "site_key",
        "description": "The same site key in the query string (what the tracker and navigator.sendBeacon use).",
    },
    "writeKeyBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "Segment-style: the username is a site key or a token; the password is ignored.",
    },
}
TOKEN_AUTH: list[dict[str, list[str]]] = [{"bearerToken": [], "customerId": []}]
INGEST_AUTH: list[dict[str, list[str]]] = [
    *TOKEN_AUTH,
    {"siteKeyHeader": []},
    {"siteKeyQuery": []},
    {"writeKeyBasic": []},
]


def body_doc(model: str, text_plain: str = "the same JSON, sent without a CORS preflight") -> dict[str, Any]:
    """A JSON request body read by the route itself (also accepted as text/plain), for `openapi_extra`."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=model)}},
                "text/plain": {"schema": {"type": "string", "description": text_plain}},
            },
        }
    }


def install_openapi(app: FastAPI) -> None:
    """Add the security schemes and the request-body models (which no route declares as a parameter)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, openapi_version=app.openapi_version, routes=app.routes
            )
            components = document.setdefault("components", {})
            components["securitySchemes"] = SECURITY_SCHEMES
            _, bodies = models_json_schema([(TrackEvent, "validation"), (TrackBatch, "validation")], ref_template=REF)
            components.setdefault("schemas", {}).update(bodies["$defs"])
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
