"""Helpers shared by the CLI commands: settings with flag overrides, error reporting, durations."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from onevault.errors import OneVaultError
from onevault.runtime import Runtime, open_runtime
from onevault.settings import load_settings

console = Console()
err_console = Console(stderr=True)
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@contextmanager
def cli_errors() -> Iterator[None]:
    """Print a OneVaultError as one clear line and exit 1 (no traceback for expected failures)."""
    try:
        yield
    except OneVaultError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(1) from None


def runtime(prepare: bool = True, **overrides: object) -> Runtime:
    """Settings from the environment (flags win), then the runtime (embedded server, migrations)."""
    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    return open_runtime(settings, prepare=prepare)


def parse_duration(text: str) -> int:
    """'90d', '12h', '30m' or '45s' in seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise typer.BadParameter("use a number and a unit: 30s, 15m, 12h or 90d")
    return int(match[1]) * _UNIT_SECONDS[match[2]]
