"""Request and response shapes, for the OpenAPI document (bodies are parsed by ingest.contract)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TrackEvent(BaseModel):
    """One tracked event. Unknown fields are kept in the raw layer as sent."""

    model_config = ConfigDict(extra="allow")

    event_type: str = Field(min_length=1, max_length=100, examples=["page_view"])
    page_url: str = Field(min_length=1, max_length=2048, examples=["https://example.com/pricing"])
    event_data: dict[str, Any] | None = Field(default=None, examples=[{"title": "Pricing"}])
    event_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$",
        description="Idempotency key: a retry with the same id is stored once.",
    )
    session_id: str | None = Field(default=None, max_length=256)
    visitor_id: str | None = Field(default=None, max_length=256)
    user_id: str | None = Field(default=None, max_length=256)
    referrer: str | None = Field(default=None, max_length=2048)
    referrer_url: str | None = Field(default=None, max_length=2048)
    timestamp: str | float | None = Field(default=None, description="ISO 8601 string or epoch milliseconds")


class TrackAccepted(BaseModel):
    success: Literal[True]
    event_id: str
    processing_status: Literal["queued"]
    duplicate: bool


class PipelineResults(BaseModel):
    raw_processed: bool
    staging_processed: bool
    business_processed: bool
    validation_status: Literal["VALID", "INVALID", "SUSPICIOUS"] | None = None
    quality_score: float | None = None
    reason: str | None = None


class TrackCompleted(BaseModel):
    success: Literal[True]
    event_id: str
    processing_status: Literal["completed"]
    duplicate: bool
    pipeline_results: PipelineResults


class ErrorBody(BaseModel):
    error: str
    message: str
    field: str | None = None
    rule: str | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]
    version: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in [
        (400, "Malformed JSON or a missing header"),
        (401, "Missing, invalid or expired token"),
        (403, "X-Customer-ID does not match the token"),
        (413, "Event too large"),
        (422, "The event breaks a rule of the contract"),
        (503, "Database unavailable"),
    ]
}
