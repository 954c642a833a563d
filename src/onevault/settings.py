"""One typed settings object, read once from the environment.

Names from the spec keep their names (`SYSTEM_DATABASE_URL`, `JWT_SECRET`); everything else starts with
`ONEVAULT_`. Outside development mode there is no default secret: start-up fails and names the variable.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from onevault.errors import ConfigurationError

MIN_SECRET_BYTES = 32


class Settings(BaseSettings):
    """Every knob of the service. Each field's env name is `ONEVAULT_<FIELD>` unless noted."""

    model_config = SettingsConfigDict(env_prefix="ONEVAULT_", extra="ignore", frozen=True)

    env: Literal["development", "production"] = "development"
    # Admin connection (migrations, tenant and token management). Unset: embedded PostgreSQL in data_dir.
    system_database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SYSTEM_DATABASE_URL", "ONEVAULT_SYSTEM_DATABASE_URL")
    )
    jwt_secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices("JWT_SECRET"))
    data_dir: Path = Path(".onevault")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # The role the service connects as: owns no table, cannot bypass row-level security.
    app_db_password: SecretStr | None = None
    jwt_issuer: str = "onevault"
    jwt_audience: str = "onevault-api"
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    token_ttl_days: int = Field(default=365, ge=1, le=3650)
    max_event_bytes: int = Field(default=32 * 1024, ge=1024)
    max_batch_bytes: int = Field(default=512 * 1024, ge=1024)
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=16, ge=1)
    statement_timeout_ms: int = Field(default=5000, ge=100)
    # Group commit: concurrent ingests wait at most this long to share one transaction.
    group_commit_wait_ms: float = Field(default=0.0, ge=0, le=50)
    group_commit_max_events: int = Field(default=1000, ge=1, le=10000)
    group_commit_flushers: int = Field(default=2, ge=1, le=16)
    # POST /track: a tenant's next run waits at most this long for as many requests as its last run took.
    # 0: it starts at once, and clients split into runs that take turns (docs/pipeline.md).
    track_gather_ms: float = Field(default=0.0, ge=0, le=50)
    forwarded_allow_ips: str = "127.0.0.1"
    # Rate limits in the `limits` notation ("N/second", "N/minute", several joined by ";"). Per tenant
    # after authentication; per client address before it, so floods of bad credentials are limited too.
    rate_limit_tenant: str = "10000/second"
    rate_limit_ip: str = "2000/second"
    # How soon a revocation, a secret rotation or a new site key reaches every API process.
    credential_refresh_seconds: float = Field(default=2.0, ge=0, le=300)
    # A changed JWT_SECRET or `onevault token rotate-secret`: the old secret stays valid this long.
    jwt_rotation_overlap_seconds: int = Field(default=86400, ge=0)
    # The audit trail is written in batches at most this often (and on shutdown).
    audit_flush_ms: int = Field(default=200, ge=10, le=10_000)
    # How often each API and worker process has the tables that doubled since their last ANALYZE analyzed
    # (migration 0023), so that no cached plan keeps treating a grown table as empty; 0 leaves it to autovacuum.
    statistics_seconds: float = Field(default=2.0, ge=0, le=3600)

    @field_validator("rate_limit_tenant", "rate_limit_ip")
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate limit such as '100/second' or '10/second;1000/hour'") from None
        return value

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.env != "production":
            return self
        if self.jwt_secret is None:
            raise ValueError("JWT_SECRET must be set in production (at least 32 random bytes)")
        if len(self.jwt_secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError("JWT_SECRET must be at least 32 bytes long")
        if self.system_database_url and self.app_db_password is None:
            raise ValueError("ONEVAULT_APP_DB_PASSWORD must be set in production with SYSTEM_DATABASE_URL")
        return self

    @property
    def is_development(self) -> bool:
        return self.env == "development"


def load_settings(**overrides: object) -> Settings:
    """Read the environment (plus `overrides`) into Settings; raises ConfigurationError naming the problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"invalid configuration: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
