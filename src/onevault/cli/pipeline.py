"""`onevault worker` and `onevault pipeline ...`."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import psycopg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from onevault.auth.tenants import find_tenant
from onevault.cli.common import cli_errors, console, runtime
from onevault.db.queries import query
from onevault.db.tenancy import tenant_transaction
from onevault.errors import NotFound
from onevault.pipeline.runner import BatchResult, drain_once
from onevault.pipeline.worker import Worker
from onevault.runtime import Runtime, admin_connection

app = typer.Typer(help="The processing pipeline.", no_args_is_help=True)
BatchSize = Annotated[int, typer.Option(envvar="ONEVAULT_BATCH_SIZE", help="Events per batch.", min=1, max=50_000)]


def worker(
    batch_size: BatchSize = 2000,
    poll: Annotated[float, typer.Option(envvar="ONEVAULT_POLL_SECONDS", help="Seconds between polls.")] = 1.0,
) -> None:
    """Drain raw events through staging into the business layer until SIGTERM or Ctrl-C."""
    with cli_errors():
        rt = runtime()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    every = rt.settings.statistics_seconds
    work = Worker(rt.app_url, batch_size=batch_size, poll_seconds=poll, statistics_seconds=every, stop=stop)
    console.print(f"worker started (batch size {batch_size}); Ctrl-C to stop after the current batch")
    work.run()
    console.print(
        f"worker stopped: {work.processed.staged} staged, {work.processed.loaded} loaded, "
        f"{work.processed.errors} errors"
    )


def _status_rows(rt: Runtime, tenant: str | None) -> list[tuple[str, str, object]]:
    with admin_connection(rt) as conn:
        if tenant is None:
            return [(r[0], r[1], r[2]) for r in conn.execute(query("pipeline_status"))]
        found = find_tenant(conn, tenant)
        if found is None:
            raise NotFound(f"no tenant with customer id {tenant!r}")
        with tenant_transaction(conn, found.tenant_hk):
            return [(r[0], r[1], r[2]) for r in conn.execute(query("pipeline_status"))]


@app.command("status")
def status_cmd(
    tenant: Annotated[str | None, typer.Option(help="One tenant's customer id (default: all).")] = None,
) -> None:
    """Counts per layer (staging.get_pipeline_status)."""
    with cli_errors():
        rows = _status_rows(runtime(), tenant)
    table = Table("layer", "metric", "value")
    for layer, metric, value in rows:
        table.add_row(layer, metric, str(value))
    console.print(table)


@app.command("run")
def run_cmd(batch_size: BatchSize = 2000) -> None:
    """Process everything pending now, with a progress bar (runs as the service's role, tenant by tenant)."""
    with cli_errors():
        rt = runtime()
        pending = _pending(rt)
        total = BatchResult()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with (
            Progress(*columns, console=console) as progress,
            psycopg.connect(rt.app_url, application_name="onevault-cli") as conn,
        ):
            task = progress.add_task("staging and loading", total=max(pending, 1))
            while True:
                done = drain_once(conn, batch_size, on_batch=lambda b: progress.advance(task, b.staged))
                total.add(done)
                if done.total == 0:
                    break
            progress.update(task, completed=max(pending, total.staged))
        console.print(f"{total.staged} staged, {total.loaded} loaded into the business layer, {total.errors} errors")


def _pending(rt: Runtime) -> int:
    rows = _status_rows(rt, None)
    return sum(int(str(v)) for layer, metric, v in rows if (layer, metric) == ("RAW_LAYER", "pending_events"))
