"""`onevault serve`: the whole service in one process."""

from __future__ import annotations

import signal
from typing import Annotated

import typer
import uvicorn

from onevault.api.app import create_app
from onevault.auth.tenants import create_tenant, list_tenants
from onevault.cli.common import cli_errors, console, runtime
from onevault.cli.tenants import issue_recorded
from onevault.pipeline.worker import start_in_thread
from onevault.runtime import Runtime, admin_connection

FIRST_TENANT = "default"


def serve(
    host: Annotated[str | None, typer.Option(envvar="ONEVAULT_HOST", help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(envvar="ONEVAULT_PORT", help="Port to listen on.")] = None,
    with_worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            envvar="ONEVAULT_SERVE_WORKER",
            help="Run a pipeline worker inside (or only separate `onevault worker` processes).",
        ),
    ] = True,
) -> None:
    """Start the API (and its database, when embedded); creates a first tenant on first start."""
    with cli_errors():
        rt = runtime(host=host, port=port)
        _first_start(rt)
    s = rt.settings
    # The API's statistics keeper runs in this process already; the worker beside it need not ask too.
    worker, thread = start_in_thread(rt.app_url, statistics_seconds=0) if with_worker else (None, None)
    inside = "a pipeline worker runs inside" if with_worker else "no worker inside: run `onevault worker`"
    console.print(f"OneVault is listening on http://{s.host}:{s.port}  (mode: {s.env}; {inside})")
    # uvicorn re-raises the SIGTERM it caught once it has shut down; with the default handler that kills
    # the process before exit handlers run, and the embedded PostgreSQL would outlive `serve`.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.run(
            create_app(rt, serving=True),
            host=s.host,
            port=s.port,
            proxy_headers=True,
            forwarded_allow_ips=s.forwarded_allow_ips,
            access_log=False,
            log_level="warning",
        )
    finally:
        if worker is not None and thread is not None:
            worker.stop.set()  # the current batch commits before the worker returns
            thread.join(timeout=30)


def _exit_cleanly(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _first_start(rt: Runtime) -> None:
    """On a database with no tenant, create one and print what a user needs to send events."""
    with admin_connection(rt) as conn:
        if list_tenants(conn):
            return
        tenant = create_tenant(conn, "Default", FIRST_TENANT)
        token = issue_recorded(rt, conn, tenant, rt.settings.token_ttl_days * 86400)
    console.print("First start: created a tenant.", style="bold green")
    console.print(f"  customer id: {tenant.customer_id}")
    console.print(f"  tenant_hk:   {tenant.tenant_hk.hex()}")
    console.print(f"  token:       {token}", soft_wrap=True)
