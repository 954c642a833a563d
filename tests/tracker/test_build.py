"""GET /tracker.js serves the minified source, cacheably, within the size budget; the snippet pins its bytes."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from pathlib import Path

import httpx
import pytest

from onevault.tracker.build import SIZE_BUDGET, minify, source
from tests.cli.test_cli import run_cli
from tests.conftest import Database, process_env


def served(client: httpx.Client, **headers: str) -> httpx.Response:
    response = client.get("/tracker.js", headers={"Accept-Encoding": "identity", **headers})
    assert response.status_code == 200
    return response


def test_served_script_is_the_minified_source(client: httpx.Client) -> None:
    body = served(client).content
    assert body == minify(source())
    assert len(body) < len(source().encode()) / 2  # comments, whitespace and local names went
    assert b"OneVaultTracker" in body and b"/api/v1/track/batch?site_key=" in body


def test_tracker_is_at_most_2_5_kb_minified_and_gzipped(client: httpx.Client) -> None:
    body = served(client).content
    size = len(gzip.compress(body, compresslevel=9))
    print(f"tracker.js: {len(body)} bytes minified, {size} bytes gzipped (budget {SIZE_BUDGET})")
    assert size <= SIZE_BUDGET


def test_script_is_cacheable_and_revalidates_by_etag(client: httpx.Client) -> None:
    first = served(client)
    assert first.headers["content-type"].startswith("application/javascript")
    assert re.search(r"max-age=\d+", first.headers["cache-control"])
    etag = first.headers["etag"]
    again = client.get("/tracker.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get("/tracker.js", headers={"If-None-Match": '"stale"'}).status_code == 200


def test_script_is_gzip_encoded_when_accepted_and_loadable_from_other_sites(client: httpx.Client) -> None:
    plain = served(client).content
    with httpx.stream("GET", f"{client.base_url}/tracker.js", headers={"Accept-Encoding": "gzip"}) as response:
        raw = response.read()  # httpx decodes; the wire bytes are checked through the header and length
        wire = response.num_bytes_downloaded
        headers = response.headers
    assert headers["content-encoding"] == "gzip"
    assert raw == plain
    assert wire < len(plain) / 2
    assert headers["access-control-allow-origin"] == "*"
    assert headers["cross-origin-resource-policy"] == "cross-origin"
    assert "accept-encoding" in headers["vary"].lower()


def test_snippet_pins_exactly_the_served_bytes(
    client: httpx.Client, cli_env: dict[str, str], make_tenant, make_site_key
) -> None:  # type: ignore[no-untyped-def]
    make_tenant("acme")
    key = make_site_key("acme", ("https://shop.example",))
    done = run_cli(["site", "snippet", "acme", "--site-key", key, "--base-url", str(client.base_url)], cli_env)
    assert done.returncode == 0, done.stderr
    digest = base64.b64encode(hashlib.sha384(served(client).content).digest()).decode()
    assert done.stdout.strip() == (
        f'<script defer data-site-key="{key}" src="{client.base_url}/tracker.js" '
        f'integrity="sha384-{digest}" crossorigin="anonymous"></script>'
    )


def test_snippet_takes_the_newest_active_key_by_default(cli_env: dict[str, str], make_tenant, make_site_key) -> None:  # type: ignore[no-untyped-def]
    make_tenant("acme")
    make_site_key("acme", ("https://shop.example",))
    newest = make_site_key("acme", ("https://shop.example",))
    done = run_cli(["site", "snippet", "acme", "--base-url", "https://ov.example/", "--cookieless"], cli_env)
    assert done.returncode == 0, done.stderr
    assert f'data-site-key="{newest}" data-cookieless src="https://ov.example/tracker.js"' in done.stdout


def test_snippet_refuses_another_tenants_key_and_an_unknown_tenant(
    cli_env: dict[str, str], make_tenant, make_site_key
) -> None:  # type: ignore[no-untyped-def]
    make_tenant("acme")
    make_tenant("globex")
    theirs = make_site_key("globex", ("https://globex.example",))
    for args, message in (
        (["acme", "--site-key", theirs], "not an active key of this tenant"),
        (["acme"], "no active site key"),
        (["nobody"], "no tenant"),
    ):
        done = run_cli(["site", "snippet", *args], cli_env)
        assert done.returncode == 1, args
        assert message in done.stderr
        assert "Traceback" not in done.stderr


@pytest.fixture
def cli_env(database: Database, tmp_path: Path) -> dict[str, str]:
    return process_env(database, tmp_path / "data")
