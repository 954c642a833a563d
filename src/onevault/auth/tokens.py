"""JWT bearer tokens: HS256 only, with iss, aud, exp, nbf, iat and jti all required and checked.

The subject is the tenant's customer id. Header fields such as `kid` and `jku` are never consulted: the
keys are the service's accepted secrets (onevault.auth.keyring), tried newest first. The clock leeway
applies to `nbf` and `iat` (an issuer's clock may run ahead); `exp` has none, so an expired token is
refused the second it expires.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from onevault.errors import Unauthorized

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti"]


@dataclass(frozen=True)
class TokenConfig:
    secret: str
    issuer: str
    audience: str
    leeway_seconds: int = 30


@dataclass(frozen=True)
class Claims:
    customer_id: str
    jti: str
    expires_at: int


def issue_token(config: TokenConfig, customer_id: str, ttl_seconds: int, *, now: int | None = None) -> str:
    """A signed token for `customer_id`, valid from now for `ttl_seconds`."""
    issued = int(time.time()) if now is None else now
    claims = {
        "iss": config.issuer,
        "aud": config.audience,
        "sub": customer_id,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, config.secret, algorithm=ALGORITHM)


def verify_token(config: TokenConfig, token: str, secrets: tuple[str, ...] = ()) -> Claims:
    """The token's claims if its signature, algorithm, issuer, audience and times hold; else Unauthorized."""
    claims = _decode(config, token, secrets or (config.secret,))
    if claims["exp"] <= time.time():
        raise Unauthorized("the token has expired")
    subject, jti = claims.get("sub"), claims.get("jti")
    if not isinstance(subject, str) or not isinstance(jti, str):
        raise Unauthorized("the token is not valid")
    return Claims(customer_id=subject, jti=jti, expires_at=int(claims["exp"]))


def _decode(config: TokenConfig, token: str, secrets: tuple[str, ...]) -> dict[str, Any]:
    for secret in secrets:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_seconds,
                options={"require": REQUIRED_CLAIMS, "verify_exp": False},
            )
        except jwt.InvalidSignatureError:
            continue  # perhaps signed with another accepted secret
        except jwt.PyJWTError:
            raise Unauthorized("the token is not valid") from None
        if not isinstance(claims.get("exp"), int | float):
            raise Unauthorized("the token is not valid")
        return claims
    raise Unauthorized("the token is not valid")
