"""HTTP load from a separate process: wrk with the Lua script beside this module.

The script sends for `seconds`, then stops sending; each wrk thread prints an IDLE line once all its
requests are answered, and when every thread has, wrk is stopped with SIGINT (it then prints its summary
as usual). wrk is given `MAX_TAIL_SECONDS` past the window for that, and the same as its timeout, so a
slow answer is measured rather than dropped. done() prints one JSON line that `parse_wrk_output` reads.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onevault.bench.errors import BenchError

LUA_SCRIPT = Path(__file__).with_name("load.lua")
MARKER = "ONEVAULT_BENCH_JSON "
IDLE = "ONEVAULT_BENCH_IDLE "
MAX_TAIL_SECONDS = 60
PERCENTILES = ("50", "90", "95", "99", "99.9")


@dataclass(frozen=True)
class LoadSpec:
    """One wrk run: `mode` is single (one event per POST), batch (`per_request` events per POST) or get."""

    url: str
    mode: str
    connections: int
    seconds: float
    token: str
    customer_id: str
    prefix: str = "b"
    per_request: int = 1

    @property
    def threads(self) -> int:
        return min(2, self.connections)  # two cores: more wrk threads would only take CPU from the server


@dataclass(frozen=True)
class LoadResult:
    requests: int
    unanswered: int  # sent but not answered when wrk ended: counted as errors
    active_seconds: float
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    latency_ms: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        """Answers with a 2xx status."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        """Non-2xx answers, requests never answered, and socket errors (connect, read, write, timeout)."""
        return self.requests - self.ok + self.unanswered + sum(self.socket_errors.values())

    @property
    def rate(self) -> float:
        """Requests answered per second of the sending window."""
        return self.requests / self.active_seconds if self.active_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "unanswered": self.unanswered,
            "ok": self.ok,
            "errors": self.errors,
            "requests_per_second": round(self.rate, 1),
            "active_seconds": round(self.active_seconds, 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "socket_errors": self.socket_errors,
            "latency_ms": self.latency_ms,
        }


def wrk_binary() -> str:
    """The wrk executable; BenchError saying what to install when it is missing."""
    found = shutil.which("wrk")
    if found is None:
        raise BenchError("wrk is not installed: install the Debian package `wrk` (apt-get install wrk)")
    return found


def wrk_command(spec: LoadSpec) -> list[str]:
    duration = int(spec.seconds + 0.999) + MAX_TAIL_SECONDS
    return [
        wrk_binary(),
        f"-t{spec.threads}",
        f"-c{spec.connections}",
        f"-d{duration}s",
        "--timeout",
        f"{MAX_TAIL_SECONDS}s",
        "-s",
        str(LUA_SCRIPT),
        spec.url,
        "--",
        spec.mode,
        spec.prefix,
        str(spec.per_request),
        str(spec.seconds),
        spec.token,
        spec.customer_id,
    ]


def parse_wrk_output(stdout: str) -> LoadResult:
    """The figures from the script's JSON line in wrk's output; BenchError when there is none."""
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    if len(lines) != 1:
        raise BenchError(f"wrk printed no summary from the bench script; its output was:\n{stdout[-2000:]}")
    data = json.loads(lines[0][len(MARKER) :])
    statuses: dict[int, int] = {}
    for status, count in data["statuses"]:  # one pair per thread and status: add them up
        statuses[int(status)] = statuses.get(int(status), 0) + int(count)
    latency = data["latency_us"]
    latency_ms = {f"p{p}": latency["percentiles"][p] / 1000 for p in PERCENTILES}
    latency_ms.update(min=latency["min"] / 1000, mean=latency["mean"] / 1000, max=latency["max"] / 1000)
    return LoadResult(
        requests=int(data["requests"]),
        unanswered=int(data["unanswered"]),
        active_seconds=float(data["active_seconds"]),
        statuses=statuses,
        socket_errors={k: int(v) for k, v in data["errors"].items()},
        latency_ms=latency_ms,
    )


def run_load(spec: LoadSpec, tick: Callable[[float], None] | None = None) -> LoadResult:
    """Run wrk until every request sent is answered (calling `tick(elapsed_seconds)` meanwhile)."""
    lines: list[str] = []
    started = time.monotonic()
    with subprocess.Popen(wrk_command(spec), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:  # noqa: S603
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
        reader.start()
        interrupted = False
        while proc.poll() is None:
            if tick is not None:
                tick(time.monotonic() - started)
            if not interrupted and sum(line.startswith(IDLE) for line in lines) >= spec.threads:
                proc.send_signal(signal.SIGINT)  # wrk stops, prints its summary and runs done()
                interrupted = True
            time.sleep(0.1)
        reader.join()
    output = "".join(lines)
    if proc.returncode != 0:
        raise BenchError(f"wrk failed (exit {proc.returncode}): {output.strip()[-2000:]}")
    return parse_wrk_output(output)
