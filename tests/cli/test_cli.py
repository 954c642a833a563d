"""The `onevault` command, run as a user runs it: a separate process with environment variables."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import TEST_JWT_SECRET, Database, free_port, process_env
from tests.pipeline.dataset import generate, load_raw


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onevault", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def cli_env(database: Database, tmp_path: Path) -> dict[str, str]:
    return process_env(database, tmp_path / "data")


def test_tenant_create_json_prints_id_key_and_token(cli_env: dict[str, str]) -> None:
    done = run_cli(["tenant", "create", "Acme Corp", "--json"], cli_env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["customer_id"] == "acme-corp"
    assert re.fullmatch(r"[0-9a-f]{64}", body["tenant_hk"])
    claims = jwt.decode(body["token"], TEST_JWT_SECRET, algorithms=["HS256"], audience="onevault-api")
    assert claims["sub"] == "acme-corp"
    assert {"iss", "aud", "exp", "iat", "nbf", "jti"} <= claims.keys()


def test_tenant_create_twice_fails_clearly(cli_env: dict[str, str]) -> None:
    assert run_cli(["tenant", "create", "Acme", "--json"], cli_env).returncode == 0
    again = run_cli(["tenant", "create", "Acme", "--json"], cli_env)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_token_issue_with_ttl(cli_env: dict[str, str]) -> None:
    assert run_cli(["tenant", "create", "Acme", "--json"], cli_env).returncode == 0
    done = run_cli(["token", "issue", "--tenant", "acme", "--ttl", "2h", "--json"], cli_env)
    assert done.returncode == 0, done.stderr
    token = json.loads(done.stdout)["token"]
    claims = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"], audience="onevault-api")
    assert claims["exp"] - claims["iat"] == 7200
    unknown = run_cli(["token", "issue", "--tenant", "nobody"], cli_env)
    assert unknown.returncode == 1


def test_db_status_rollback_and_migrate(cli_env: dict[str, str]) -> None:
    status = run_cli(["db", "status"], cli_env)
    assert status.returncode == 0
    assert "pending" not in status.stdout
    rolled = run_cli(["db", "rollback", "--all"], cli_env)
    assert rolled.returncode == 0, rolled.stderr
    assert "pending" in run_cli(["db", "status"], cli_env).stdout
    migrated = run_cli(["db", "migrate"], cli_env)
    assert migrated.returncode == 0, migrated.stderr
    assert "pending" not in run_cli(["db", "status"], cli_env).stdout


def test_production_mode_without_secret_fails_fast_naming_it(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "ONEVAULT_ENV": "production"}
    env.pop("JWT_SECRET")
    done = run_cli(["db", "status"], env)
    assert done.returncode == 1
    assert "JWT_SECRET" in done.stderr


def test_pipeline_run_processes_everything_with_progress(
    cli_env: dict[str, str], database: Database, make_tenant
) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    with database.app() as conn:
        load_raw(conn, acme, generate(5, 2, 4, seed=11).events)
    before = run_cli(["pipeline", "status"], cli_env)
    assert before.returncode == 0, before.stderr
    assert re.search(r"pending_events\s+│\s+40", before.stdout)
    done = run_cli(["pipeline", "run", "--batch-size", "15"], cli_env)
    assert done.returncode == 0, done.stderr
    assert "40 staged, 40 loaded into the business layer, 0 errors" in done.stdout
    after = run_cli(["pipeline", "status", "--tenant", "acme"], cli_env)
    assert re.search(r"pending_events\s+│\s+0", after.stdout)
    with database.admin() as conn:
        assert conn.execute("SELECT count(*) FROM business.site_event_h").fetchone() == (40,)


class Serve:
    """`onevault serve` on the embedded PostgreSQL in a data directory of its own."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ONEVAULT_") and k not in {"SYSTEM_DATABASE_URL", "JWT_SECRET"}
        }
        self.env.update(ONEVAULT_DATA_DIR=str(data_dir), ONEVAULT_PORT=str(self.port))
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "onevault", "serve"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
            if self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError(f"serve did not become healthy:\n{self.proc.stdout.read() if self.proc.stdout else ''}")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        return out


@pytest.mark.slow
def test_serve_first_start_then_data_survives_a_restart(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "ovdata")
    event = {"page_url": "https://example.com/", "event_type": "page_view", "event_id": "evt_persist"}
    serve.start()
    first_out = serve.stop()  # the first-start banner names the tenant and its token
    assert not (tmp_path / "ovdata" / "pgdata" / "postmaster.pid").exists(), "PostgreSQL outlived serve"
    customer = re.search(r"customer id:\s+(\S+)", first_out)
    token = re.search(r"token:\s+(\S+)", first_out)
    assert customer and token, first_out
    headers = {"Authorization": f"Bearer {token[1]}", "X-Customer-ID": customer[1]}

    serve.start()
    try:
        first = httpx.post(f"{serve.url}/api/v1/track/async", json=event, headers=headers, timeout=10)
        assert first.status_code == 202
        assert first.json()["duplicate"] is False
        # The worker inside serve takes the event to the business layer without being asked.
        deadline, status = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            status = httpx.get(f"{serve.url}/api/v1/track/status", headers=headers, timeout=10).json()
            if status["recent_events"] and status["recent_events"][0]["business_status"] == "LOADED":
                break
            time.sleep(0.3)
        assert status["recent_events"][0]["event_id"] == "evt_persist"
        assert status["recent_events"][0]["business_status"] == "LOADED"
    finally:
        second_out = serve.stop()
    assert "First start" not in second_out  # the first tenant is made once

    serve.start()
    try:
        again = httpx.post(f"{serve.url}/api/v1/track/async", json=event, headers=headers, timeout=10)
        assert again.status_code == 202
        assert again.json()["duplicate"] is True  # the row written before the restart is still there
    finally:
        serve.stop()
    # The embedded PostgreSQL stops with `serve` (SIGTERM included): no server outlives it.
    assert not (tmp_path / "ovdata" / "pgdata" / "postmaster.pid").exists()
