"""Malformed credentials are refused like any wrong one: 401 (or no CORS grant), never a server error."""

from __future__ import annotations

import base64

import httpx
import pytest

EVENT = b'{"event_type": "page_view", "page_url": "https://shop.example/"}'
NUL_KEY = "ovsk_abc\x00def"


def basic(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:".encode()).decode()


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"site_key": NUL_KEY}, {}),
        ({}, {"Authorization": basic(NUL_KEY)}),
        ({}, {"Authorization": basic("ovsk_" + "a" * 500)}),
        ({"site_key": "ovsk_not a key!"}, {}),
    ],
    ids=["nul-in-query", "nul-in-basic", "too-long", "bad-characters"],
)
def test_a_malformed_site_key_is_401(client: httpx.Client, params: dict[str, str], headers: dict[str, str]) -> None:
    """These reached the database, which cannot hold a NUL: answered 500 before."""
    response = client.post("/api/v1/track/async", params=params, headers=headers, content=EVENT)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"


def test_a_preflight_with_a_malformed_site_key_gets_no_grant(client: httpx.Client) -> None:
    response = client.options(
        "/api/v1/track/async",
        params={"site_key": NUL_KEY},
        headers={"Origin": "http://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 403
    assert response.json()["error"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers
