"""Request and response shapes, for the OpenAPI document only: bodies are parsed by ingest.contract and
answered as built by the routes, so these models must describe those bodies exactly
(tests/security/test_schemathesis.py holds every answer of the running service to them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from onevault.ingest.contract import MAX_BATCH_EVENTS

# Optional text fields accept null as well as a string, exactly like the contract.
_NOT_BLANK = r"\S"  # JSON Schema patterns are searched, not anchored: at least one non-blank character


class TrackEvent(BaseModel):
    """One tracked event. Unknown fields are kept in the raw layer as sent; no string may hold a NUL
    character and the event may nest at most 32 levels deep."""

    model_config = ConfigDict(extra="allow")

    event_type: str = Field(min_length=1, max_length=100, pattern=_NOT_BLANK, examples=["page_view"])
    page_url: str = Field(min_length=1, max_length=2048, pattern=_NOT_BLANK, examples=["https://example.com/pricing"])
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
    timestamp: Annotated[str, Field(max_length=64)] | float | None = Field(
        default=None, description="ISO 8601 string or epoch milliseconds"
    )


class TrackBatch(BaseModel):
    """Up to 500 events, each checked on its own."""

    model_config = ConfigDict(extra="allow")

    events: list[TrackEvent] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class _Answer(BaseModel):
    """A response body: exactly these fields, so a field added to an answer must be documented too."""

    model_config = ConfigDict(extra="forbid")


class TrackAccepted(_Answer):
    success: Literal[True]
    event_id: str
    processing_status: Literal["queued"]
    duplicate: bool


class PipelineResults(_Answer):
    raw_processed: bool
    staging_processed: bool
    business_processed: bool
    validation_status: Literal["VALID", "INVALID", "SUSPICIOUS"] | None = None
    quality_score: float | None = None
    reason: str | None = None


class TrackCompleted(_Answer):
    success: Literal[True]
    event_id: str
    processing_status: Literal["completed", "queued"]  # queued: stored, but the pipeline run failed
    duplicate: bool
    pipeline_results: PipelineResults


class BatchItemStored(_Answer):
    index: int
    status: Literal["accepted", "duplicate"]
    event_id: str


class BatchItemRejected(_Answer):
    """The event's error, as a single event would have been answered."""

    index: int
    status: Literal["rejected"]
    error: str
    message: str
    field: str | None = None
    rule: str | None = None


class TrackBatchResult(_Answer):
    success: Literal[True]
    accepted: int
    duplicates: int
    rejected: int
    results: list[Annotated[BatchItemStored | BatchItemRejected, Field(discriminator="status")]]


class QueueCounts(_Answer):
    raw_pending: int = Field(description="received, not yet claimed")
    staging_pending: int = Field(description="claimed by a worker, being staged")
    business_pending: int = Field(description="staged, not yet in the business layer")
    last_processed: datetime | None


class RecentEvent(_Answer):
    event_id: str
    event_type: str | None
    raw_created_at: datetime
    raw_status: Literal["PENDING", "PROCESSING", "PROCESSED", "ERROR"]
    validation_status: Literal["VALID", "INVALID", "SUSPICIOUS"] | None
    quality_score: float | None
    business_status: Literal["PENDING", "LOADED", "SKIPPED", "ERROR"] | None
    last_error: str | None


class QualityRule(_Answer):
    rule: str
    severity: Literal["ERROR", "SUSPICIOUS", "WARNING"]
    events: int


class QualityMetrics(_Answer):
    window_hours: int
    total: int
    valid: int
    suspicious: int
    invalid: int
    avg_quality_score: float | None
    valid_rate: float | None
    rules: list[QualityRule]


class TrackStatus(_Answer):
    pipeline_status: QueueCounts
    recent_events: list[RecentEvent]
    quality_metrics: QualityMetrics


class ProcessResult(_Answer):
    success: Literal[True]
    raw_to_staging: int
    staging_to_business: int
    errors: int
    batches: int
    remaining: QueueCounts


class EventTypeCount(_Answer):
    event_type: str | None
    events: int


class HourCount(_Answer):
    hour: datetime = Field(description="the start of a UTC hour, by received time")
    events: int


class ProcessingStates(_Answer):
    raw: dict[str, int] = Field(description="raw-layer events per processing status")
    business: dict[str, int] = Field(description="staged events per business-layer status")


class Throughput(_Answer):
    events_per_minute_last_hour: float
    avg_processing_ms: float | None


class Dashboard(_Answer):
    window_hours: int
    events_by_type: list[EventTypeCount]
    events_by_hour: list[HourCount]
    quality_metrics: QualityMetrics
    processing_status: ProcessingStates
    throughput: Throughput
    error_rate: float


class ErrorBody(_Answer):
    error: str = Field(description="a stable machine code, listed per status")
    message: str
    field: str | None = Field(default=None, description="the field or header at fault")
    rule: str | None = Field(default=None, description="the rule it broke")


class Health(_Answer):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]
    version: str


_INTEGER = {"type": "integer", "minimum": 0}
RATE_LIMIT_HEADERS: dict[str, dict[str, Any]] = {
    "X-RateLimit-Limit": {"description": "Requests allowed in the tightest window", "schema": _INTEGER},
    "X-RateLimit-Remaining": {"description": "Requests left in that window", "schema": _INTEGER},
    "X-RateLimit-Reset": {"description": "When that window resets (Unix time, seconds)", "schema": _INTEGER},
}
RETRY_AFTER: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
_ERRORS: dict[int, tuple[str, dict[str, dict[str, Any]]]] = {
    400: ("`malformed_json`: the body is not JSON; `missing_header`: X-Customer-ID is missing", {}),
    401: ("`unauthorized`: the credential is missing, invalid, expired or revoked, or its tenant is unknown", {}),
    403: (
        "`forbidden`: X-Customer-ID names another tenant; `origin_not_allowed`: the site key is not valid "
        "from the request's Origin",
        {},
    ),
    413: ("`payload_too_large`: the body is over the size limit (`field: body`, `rule: max_bytes`)", {}),
    422: ("`invalid_event` or `invalid_request`: a rule is broken (`field` and `rule` name it)", {}),
    429: (
        "`rate_limited`: too many requests for this tenant or client address",
        {**RETRY_AFTER, **{name: {**h, "required": True} for name, h in RATE_LIMIT_HEADERS.items()}},
    ),
    503: ("`database_unavailable`: the database is away; retry shortly", RETRY_AFTER),
}
# What an authenticated request can be answered, whatever the endpoint does.
AUTH_ERRORS = (400, 401, 403, 429, 503)


def error_answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """ErrorBody, described and with its headers, for each error status."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in sorted(statuses):
        text, headers = _ERRORS[code]
        documented[code] = {"model": ErrorBody, "description": text, **({"headers": headers} if headers else {})}
    return documented


def answers(status: int, *errors: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: rate-limit headers on its success, and ErrorBody for each error status."""
    return {status: {"headers": RATE_LIMIT_HEADERS}, **error_answers(*errors)}


# Every error an ingestion endpoint can answer (the Segment endpoints use it too).
ERROR_RESPONSES = error_answers(*AUTH_ERRORS, 413, 422)
