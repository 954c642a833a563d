"""The JWT negative suite, revocation and secret rotation, against the running service."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from onevault.auth import keyring
from onevault.db.queries import query
from tests.conftest import TEST_JWT_SECRET, Database, RunningService, runtime_with

EVENT = {"event_type": "page_view", "page_url": "https://shop.example/"}


@pytest.fixture
def fast_service(runtime) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    """Credentials re-read every 0.2 s, so revocations and rotations show within the test."""
    with RunningService(runtime_with(runtime, credential_refresh_seconds=0.2)) as svc:
        yield svc


def claims(**override: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": "onevault", "aud": "onevault-api", "sub": "acme", "iat": now, "nbf": now, "exp": now + 600}
    base["jti"] = uuid.uuid4().hex
    base.update(override)
    return {k: v for k, v in base.items() if v is not None}


def post(url: str, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "X-Customer-ID": "acme"}
    return httpx.post(f"{url}/api/v1/track/async", json=EVENT, headers=headers, timeout=10)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any], alg: str = "none") -> str:
    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(payload).encode())}."


def tampered() -> str:
    header, _, signature = jwt.encode(claims(), TEST_JWT_SECRET, algorithm="HS256").split(".")
    return f"{header}.{b64(json.dumps(claims(sub='globex')).encode())}.{signature}"


def rsa_pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def hs_signed_with(secret: bytes) -> str:
    """HS256 with an arbitrary byte key (pyjwt refuses PEM keys as HMAC secrets, an attacker does not)."""
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims()).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def bad_tokens() -> dict[str, str]:
    private, public = rsa_pair()
    now = int(time.time())
    return {
        "alg none": unsigned(claims()),
        "alg NONE": unsigned(claims(), alg="NONE"),
        "alg HS256 without a signature": unsigned(claims(), alg="HS256"),
        "RS256 signed with an attacker's key": jwt.encode(claims(), private, algorithm="RS256"),
        "HS256 keyed with an RSA public key": hs_signed_with(public),
        "tampered payload": tampered(),
        "expired by 1 s": jwt.encode(claims(exp=now - 1), TEST_JWT_SECRET, algorithm="HS256"),
        "nbf in the future": jwt.encode(claims(nbf=now + 120), TEST_JWT_SECRET, algorithm="HS256"),
        "wrong aud": jwt.encode(claims(aud="someone-else"), TEST_JWT_SECRET, algorithm="HS256"),
        "wrong iss": jwt.encode(claims(iss="evil"), TEST_JWT_SECRET, algorithm="HS256"),
        "missing exp": jwt.encode(claims(exp=None), TEST_JWT_SECRET, algorithm="HS256"),
        "missing jti": jwt.encode(claims(jti=None), TEST_JWT_SECRET, algorithm="HS256"),
        "kid pointing elsewhere": jwt.encode(claims(), "x" * 40, algorithm="HS256", headers={"kid": "../../dev/null"}),
        "jku pointing elsewhere": jwt.encode(
            claims(), private, algorithm="RS256", headers={"jku": "http://127.0.0.1:1/keys.json"}
        ),
        "wrong secret": jwt.encode(claims(), "another-secret-" + "y" * 40, algorithm="HS256"),
        "not a token": "definitely.not.a-token",
    }


def test_every_bad_token_is_401_and_stores_nothing(database: Database, make_tenant, service: RunningService) -> None:  # type: ignore[no-untyped-def]
    make_tenant("acme")
    good = jwt.encode(claims(), TEST_JWT_SECRET, algorithm="HS256")
    assert post(service.url, good).status_code == 202, "the control token must work, or the suite proves nothing"
    for name, token in bad_tokens().items():
        response = post(service.url, token)
        assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
        assert response.json()["error"] == "unauthorized", name
    with database.admin() as conn:
        assert conn.execute("SELECT count(*) FROM raw.site_tracking_events").fetchone() == (1,)


def test_a_revoked_token_is_refused_without_a_restart(database: Database, make_tenant, fast_service) -> None:  # type: ignore[no-untyped-def]
    make_tenant("acme")
    token = jwt.encode(claims(), TEST_JWT_SECRET, algorithm="HS256")
    other = jwt.encode(claims(), TEST_JWT_SECRET, algorithm="HS256")
    assert post(fast_service.url, token).status_code == 202
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    with database.admin() as conn:
        assert conn.execute(query("revoke_token"), {"jti": jti, "customer_id": "acme"}).fetchone() is not None
    time.sleep(0.5)
    refused = post(fast_service.url, token)
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]
    assert post(fast_service.url, other).status_code == 202, "revoking one token must leave the others alone"


def test_rotation_accepts_old_and_new_during_the_overlap_then_only_new(  # type: ignore[no-untyped-def]
    database: Database, make_tenant, fast_service
) -> None:
    make_tenant("acme")
    old = jwt.encode(claims(), TEST_JWT_SECRET, algorithm="HS256")
    with database.admin() as conn:
        keyring.seed_secret(conn, TEST_JWT_SECRET, 3600)
        keyring.rotate(conn, overlap_seconds=2)
        newest = keyring.accepted_secrets(conn)[0]
    assert newest != TEST_JWT_SECRET
    new = jwt.encode(claims(), newest, algorithm="HS256")
    time.sleep(0.5)
    assert post(fast_service.url, old).status_code == 202, "the old secret must work during the overlap"
    assert post(fast_service.url, new).status_code == 202
    time.sleep(2.5)
    assert post(fast_service.url, old).status_code == 401, "the old secret must be refused after the overlap"
    assert post(fast_service.url, new).status_code == 202
