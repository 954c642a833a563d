"""schemathesis against the running service and its own OpenAPI document: no server error, and every
answer (status, content type, body, headers) as documented.

schemathesis runs as its CLI (`st run`, a subprocess: its documented interface) and writes a JSON report
(failures by check, test cases generated) and a HAR file (every request it sent, with the answer). The
figures are printed (`pytest -s` or `-rA`) and written to `schemathesis.txt` in pytest's base temp dir;
each run's console output, report and HAR stay in the test's tmp_path (to replay a failure).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningService, TenantCredentials, runtime_with

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
SEED = 20261127
UNLIMITED = {"rate_limit_tenant": "1000000/second", "rate_limit_ip": "1000000/second"}


def schemathesis(url: str, report: Path, *options: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run `st run` against the service; returns its JSON report and the HAR entries of what it sent."""
    report.mkdir(parents=True)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--seed",
        str(SEED),
        # One worker: hypothesis describing strategies in two threads can crash CPython 3.11's parser.
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--report",
        "json,har",
        "--report-json-path",
        str(report / "report.json"),
        "--report-har-path",
        str(report / "requests.har"),
        "--output-sanitize",
        "false",
        "--no-color",
        *options,
    ]
    done = subprocess.run(command, cwd=report, capture_output=True, text=True, timeout=300, check=False)
    (report / "output.txt").write_text(done.stdout + done.stderr)
    if not (report / "report.json").exists():
        pytest.fail(f"schemathesis wrote no report (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr}")
    result = json.loads((report / "report.json").read_text())
    entries = json.loads((report / "requests.har").read_text())["log"]["entries"]
    return result, entries


def failures_by_check(result: dict[str, Any]) -> Counter[str]:
    return Counter({f"{f['code']} {f['title']}": f["count"] for f in result["failures"]})


def assert_clean(result: dict[str, Any], report: Path) -> None:
    """No failure of any check, no error, nothing skipped, no schema part left unresolved."""
    failures = failures_by_check(result)
    see = f"details in {report / 'output.txt'}"
    assert failures == Counter(), f"schemathesis failures by check: {dict(failures)}; {see}"
    assert result["errors"] == [], f"schemathesis errors: {result['errors']}; {see}"
    assert result["test_cases"]["with_failures"] == 0, see
    assert result["operations"]["tested"] == result["operations"]["total"], f"untested operations; {see}"
    assert result["warnings"]["unresolvable_reference"] == [], see
    assert result["exit_code"] == 0, see


def statuses(entries: list[dict[str, Any]]) -> Counter[int]:
    return Counter(e["response"]["status"] for e in entries)


def bodies(entries: list[dict[str, Any]], path: str, status: int) -> list[Any]:
    """The JSON answers with `status` to requests for `path` (query strings aside)."""
    return [
        json.loads(e["response"]["content"]["text"])
        for e in entries
        if e["response"]["status"] == status and e["request"]["url"].split("?")[0].endswith(path)
    ]


def note(tmp_path_factory: pytest.TempPathFactory, line: str) -> None:
    """Print a figure and keep it in <basetemp>/schemathesis.txt for the record."""
    print(line)
    with (tmp_path_factory.getbasetemp() / "schemathesis.txt").open("a") as out:
        out.write(line + "\n")


def with_token(tenant: TenantCredentials) -> list[str]:
    """The options that send the tenant's bearer token and X-Customer-ID with every request."""
    return [option for name, value in tenant.headers.items() for option in ("--header", f"{name}: {value}")]


def operations(document: dict[str, Any]) -> int:
    return sum(len(methods) for methods in document["paths"].values())


def test_with_a_valid_token_no_server_error_and_every_answer_as_documented(  # type: ignore[no-untyped-def]
    runtime, make_tenant, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tenant = make_tenant("fuzz")
    with RunningService(runtime_with(runtime, **UNLIMITED)) as svc:
        document = httpx.get(f"{svc.url}/openapi.json").json()
        result, entries = schemathesis(svc.url, tmp_path / "token", *with_token(tenant), "--max-examples", "80")
    assert_clean(result, tmp_path / "token")
    assert result["operations"]["total"] == operations(document) >= 7
    generated = result["test_cases"]["generated"]
    codes = statuses(entries)
    note(tmp_path_factory, f"token run: {generated} test cases generated, {len(entries)} requests sent; {dict(codes)}")
    assert generated >= 700, "too few requests to cover every operation well"
    assert 500 not in codes
    # The token worked: the run reached the success answers, not only the guard in front, and the
    # monitoring answers it checked held data (so their nested models were checked, not empty lists).
    assert codes[200] > 0 and codes[202] > 0, dict(codes)
    assert any(b["recent_events"] and b["quality_metrics"]["rules"] for b in bodies(entries, "/status", 200))
    assert any(b["events_by_type"] and b["events_by_hour"] for b in bodies(entries, "/dashboard", 200))
    assert any(b["results"] for b in bodies(entries, "/batch", 202))


def test_rate_limited_answers_are_documented_with_their_headers(  # type: ignore[no-untyped-def]
    runtime, make_tenant, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The unlimited run never sees a 429: here a tight limit makes most answers one, each checked
    against the document (Retry-After and X-RateLimit-* are required there)."""
    tenant = make_tenant("fuzz")
    with RunningService(runtime_with(runtime, rate_limit_tenant="5/minute", rate_limit_ip="1000/second")) as svc:
        options = [*with_token(tenant), "--max-examples", "10", "--phases", "fuzzing"]
        result, entries = schemathesis(svc.url, tmp_path / "limited", *options)
    assert_clean(result, tmp_path / "limited")
    codes = statuses(entries)
    note(tmp_path_factory, f"rate-limited run: {len(entries)} requests sent; {dict(codes)}")
    assert codes[429] > len(entries) // 2, "the limit must have been hit for this run to check the 429s"
