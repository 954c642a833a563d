"""GET /tracker.js serves the minified source, cacheably, within the size budget; the snippet pins its bytes."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from pathlib import Path

import httpx

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
    client: httpx.Client, database: Database, tmp_path: Path, make_tenant
) -> None:  # type: ignore[no-untyped-def]
    make_tenant("acme")
    env = process_env(database, tmp_path / "data")
    done = run_cli(["site", "snippet", "acme", "--site-key", "ovsk_test", "--base-url", str(client.base_url)], env)
    assert done.returncode == 0, done.stderr
    tag = done.stdout.strip()
    digest = base64.b64encode(hashlib.sha384(served(client).content).digest()).decode()
    assert tag == (
        f'<script defer data-site-key="ovsk_test" src="{client.base_url}/tracker.js" '
        f'integrity="sha384-{digest}" crossorigin="anonymous"></script>'
    )


def test_snippet_for_an_unknown_tenant_fails_clearly(database: Database, tmp_path: Path) -> None:
    done = run_cli(["site", "snippet", "nobody", "--site-key", "ovsk_test"], process_env(database, tmp_path / "data"))
    assert done.returncode == 1
    assert "no tenant" in done.stderr
    assert "Traceback" not in done.stderr
