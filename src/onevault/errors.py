"""The package's exceptions: one root, one subclass per thing a caller can act on.

Each subclass carries the HTTP status and the stable machine code the API answers with; its docstring is
its default human message. The API layer turns any `OneVaultError` into JSON without a stack trace.
"""

from __future__ import annotations


class OneVaultError(Exception):
    """Something went wrong in OneVault."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, message: str | None = None, *, field: str | None = None, rule: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.field = field
        self.rule = rule
        super().__init__(self.message)

    def to_dict(self) -> dict[str, str]:
        body = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.rule is not None:
            body["rule"] = self.rule
        return body


class ConfigurationError(OneVaultError):
    """The configuration is incomplete or invalid."""

    code = "configuration_error"


class MalformedJSON(OneVaultError):
    """The request body is not valid JSON."""

    status_code = 400
    code = "malformed_json"


class MissingHeader(OneVaultError):
    """A required header is missing."""

    status_code = 400
    code = "missing_header"


class InvalidEvent(OneVaultError):
    """The event does not match the tracking contract."""

    status_code = 422
    code = "invalid_event"


class PayloadTooLarge(OneVaultError):
    """The request body is larger than allowed."""

    status_code = 413
    code = "payload_too_large"


class Unauthorized(OneVaultError):
    """A valid bearer token is required."""

    status_code = 401
    code = "unauthorized"


class Forbidden(OneVaultError):
    """The credential does not allow this request."""

    status_code = 403
    code = "forbidden"


class NotFound(OneVaultError):
    """Not found."""

    status_code = 404
    code = "not_found"


class Conflict(OneVaultError):
    """The object already exists."""

    status_code = 409
    code = "conflict"


class DatabaseUnavailable(OneVaultError):
    """The database is not reachable right now; retry shortly."""

    status_code = 503
    code = "database_unavailable"


class MigrationError(OneVaultError):
    """A migration could not be applied or rolled back."""

    code = "migration_error"


class RateLimited(OneVaultError):
    """Too many requests; retry after the time given."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, headers: dict[str, str], field: str | None = None) -> None:
        super().__init__(message, field=field, rule="rate_limit")
        self.headers = headers


class OriginNotAllowed(Forbidden):
    """This site key is not valid from the request's origin."""

    code = "origin_not_allowed"
