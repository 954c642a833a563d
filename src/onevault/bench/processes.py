"""The service under test as separate processes: `onevault serve --no-worker`, `onevault worker`, and the
trivial ceiling app. Each logs to a file in the bench's directory; peak RSS comes from /proc (VmHWM)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from onevault.bench.cluster import BenchDatabase
from onevault.bench.errors import BenchError

START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
# Large enough that the limiter runs on every request but never refuses one.
UNTHROTTLED = "10000000/second"


@dataclass(frozen=True)
class ServiceEnv:
    """What every child process is given: the database, the secrets, a private data directory."""

    jwt_secret: str
    app_password: str
    workdir: Path

    def for_database(self, db: BenchDatabase) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("SYSTEM_DATABASE_URL", "ONEVAULT_SYSTEM_DATABASE_URL")}
        env.update(
            SYSTEM_DATABASE_URL=db.admin_url,
            JWT_SECRET=self.jwt_secret,
            ONEVAULT_APP_DB_PASSWORD=self.app_password,
            ONEVAULT_DATA_DIR=str(self.workdir / "data"),
            ONEVAULT_RATE_LIMIT_TENANT=UNTHROTTLED,
            ONEVAULT_RATE_LIMIT_IP=UNTHROTTLED,
        )
        return env


class Process:
    """A child process with its log file; `peak_rss_mb` must be read before `stop`."""

    def __init__(self, name: str, command: list[str], env: dict[str, str] | None, log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 - ours

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def peak_rss_mb(self) -> float:
        """The kernel's high-water mark of this process's resident memory, in MB (10^6 bytes)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6  # the kernel counts in KiB
        raise BenchError(f"{self.name}: no VmHWM in /proc/{self.pid}/status")

    def stop(self) -> None:
        """SIGTERM (a worker commits its batch, the API drains), SIGKILL if it does not end in time."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def failure(self, what: str) -> BenchError:
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return BenchError(f"{self.name} {what} (log {self.log}):\n{tail}")


class HttpService(Process):
    def __init__(self, name: str, command: list[str], env: dict[str, str] | None, log: Path, port: int) -> None:
        super().__init__(name, command, env, log)
        self.base_url = f"http://127.0.0.1:{port}"

    def wait_ready(self) -> None:
        """Until GET /health answers 200; BenchError with the log's tail if the process dies or hangs."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive():
                raise self.failure("exited before it was ready")
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise self.failure(f"did not answer /health within {START_TIMEOUT:.0f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def onevault(*args: str) -> list[str]:
    return [sys.executable, "-m", "onevault", *args]


def start_api(env: ServiceEnv, db: BenchDatabase, name: str = "api") -> HttpService:
    """The API exactly as `onevault serve` runs it, without the worker thread (workers are measured apart)."""
    port = free_port()
    command = onevault("serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port))
    service = HttpService(name, command, env.for_database(db), env.workdir / f"{name}.log", port)
    service.wait_ready()
    return service


def start_trivial(env: ServiceEnv) -> HttpService:
    port = free_port()
    command = [sys.executable, "-m", "onevault.bench.trivial", str(port)]
    service = HttpService("trivial", command, None, env.workdir / "trivial.log", port)
    service.wait_ready()
    return service


def start_workers(env: ServiceEnv, db: BenchDatabase, count: int) -> list[Process]:
    """`count` separate `onevault worker` processes against `db`."""
    return [
        Process(f"worker-{i}", onevault("worker"), env.for_database(db), env.workdir / f"worker-{i}.log")
        for i in range(count)
    ]
