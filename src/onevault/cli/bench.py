"""`onevault bench`: measure the service against its ceilings and the goals of issue 5."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from onevault.bench.report import Measured, Row, build_rows, goal_failures, integrity_failures, table
from onevault.cli.common import cli_errors, console, err_console
from onevault.settings import load_settings

GOALS_MISSED = 2
TABLE_WIDTH = 120


def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes, a minute or two; goals not enforced.")] = False,
    json_file: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
    logs: Annotated[
        Path | None, typer.Option("--logs", help="Keep the API's, workers' and embedded server's logs here.")
    ] = None,
) -> None:
    """Start the service on a fresh database, load it with wrk, and print each figure, its ceiling and goal.

    Exit status: 0 when every goal is met (always with --quick), 1 when the bench could not run or a count
    did not match (raw rows against 2xx answers), 2 when a goal was missed.
    """
    from onevault.bench.run import FULL, QUICK, run_bench  # here: `serve` and `worker` need none of it

    mode = "quick" if quick else "full"
    with cli_errors():
        settings = load_settings()
        started, wall, load_at_start = time.monotonic(), datetime.now(UTC), os.getloadavg()
        measured = run_bench(settings, QUICK if quick else FULL, console, logs)
    rows = build_rows(measured)
    seconds = time.monotonic() - started
    _print(rows, measured, mode, seconds)
    if json_file is not None:
        body = _json(measured, rows, mode, wall, seconds, load_at_start, settings.system_database_url is None)
        json_file.write_text(json.dumps(body, indent=2) + "\n")
    broken = integrity_failures(rows)
    for row in broken:
        expected = row.goal.text if row.goal else ""
        err_console.print(f"[bold red]error:[/] {row.work}: {row.figure} {row.value:,.0f}, expected {expected}")
    if broken:
        raise typer.Exit(1)
    if not quick and goal_failures(rows):
        raise typer.Exit(GOALS_MISSED)


def _print(rows: list[Row], m: Measured, mode: str, seconds: float) -> None:
    s = m.sizes
    title = (
        f"onevault bench, {mode} run ({seconds:.0f} s, {os.cpu_count()} CPUs): loads of {s['load_seconds']:g} s, "
        f"backlog and reads with {s['backlog_events']:,} events in one tenant"
    )
    # Logs (CI) are not terminals: rich would wrap the table to 80 columns there.
    out = console if console.is_terminal else Console(width=TABLE_WIDTH)
    out.print(table(rows, title))
    if mode == "quick":
        out.print("Quick run: small sizes; the goals are for the full run and are not enforced here.")


def _json(
    m: Measured, rows: list[Row], mode: str, wall: datetime, seconds: float, load: tuple[float, ...], embedded: bool
) -> dict[str, Any]:
    return {
        "mode": mode,
        "goals_enforced": mode == "full",
        "started_at": wall.isoformat(),
        "seconds": round(seconds, 1),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in load]},
        "database": "embedded" if embedded else "SYSTEM_DATABASE_URL",
        "sizes": m.sizes,
        "rows": [r.to_dict() for r in rows],
        "loads": {name: load.to_dict() for name, load in m.loads.items()},
        "drains": {
            str(w): {
                "seconds": round(d.seconds, 2),
                "events_per_second": round(d.rate, 1),
                "peak_rss_mb": round(d.peak_rss_mb, 1),
            }
            for w, d in m.drains.items()
        },
        "integrity_ok": not integrity_failures(rows),
        "goals_met": not goal_failures(rows),
    }
