"""The embedded PostgreSQL (pgserver) used when SYSTEM_DATABASE_URL is unset."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def _pgdata(data_dir: Path) -> Path:
    return data_dir.resolve() / "pgdata"


def server_log(data_dir: Path) -> Path:
    """The log of the embedded server started on `data_dir` (pgserver writes it beside the data)."""
    return _pgdata(data_dir) / "log"


def start_embedded(data_dir: Path) -> tuple[str, Any]:
    """Start (or join) the embedded server whose data lives in `data_dir/pgdata`.

    Returns its admin connection URI and the server handle; the server stops when the last process
    holding a handle exits, so the caller keeps the handle alive for as long as it needs the database.
    """
    # pgserver asks platformdirs for a runtime directory; give it one where XDG_RUNTIME_DIR is unset.
    fallback = Path(tempfile.gettempdir()) / f"onevault-runtime-{os.getuid()}"
    os.environ.setdefault("XDG_RUNTIME_DIR", str(fallback))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    import pgserver  # imported late: it is heavy and only needed for the embedded mode

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(_pgdata(data_dir), cleanup_mode="stop")  # type: ignore[attr-defined]
    _tune(server)
    return str(server.get_uri()), server


# pgserver starts PostgreSQL with initdb's defaults: 128 MB of shared buffers and a checkpoint every
# 1 GB of WAL, far below the working set of a tenant with a million events. A 300,000-event drain ran
# at 2,979 events/s with them and 3,651 with these (scripts/drain_bench.py, one worker).
# wal_init_zero: a server writes every new 16 MB WAL file full of zeros before using it, and until its
# first checkpoints recycle old files every file is new. The pipeline writes about 5.6 KB of WAL per
# event, and the zero-filling took 11% of the machine's CPU in a two-worker drain (perf); without it
# 400,000-event drains ran at 11,884 and 12,641 events/s against 10,901 and 11,610. The file is still
# created at its full size (its last byte written). What is lost is the early warning of a full disk: it
# shows at the WAL write (the server stops and recovers; nothing committed is lost), as it already does
# when the disk fills while a backend creates the file.
MAX_SHARED_BUFFERS = 2 * 1024**3
RELOADABLE = {"max_wal_size": "8GB", "checkpoint_timeout": "15min", "wal_init_zero": "off"}


def shared_buffers_bytes() -> int:
    """A quarter of the machine's memory (PostgreSQL's usual advice), between 128 MB and 2 GB."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(128 * 1024**2, min(MAX_SHARED_BUFFERS, memory // 4))


_SIZE = "SELECT pg_size_bytes(current_setting(%s)) = pg_size_bytes(%s)"  # '2GB' equals '2048MB'
_TEXT = "SELECT current_setting(%s) = %s"
_SAME = {"shared_buffers": _SIZE, "max_wal_size": _SIZE, "checkpoint_timeout": _TEXT, "wal_init_zero": _TEXT}


def _tune(server: Any) -> None:
    """Apply the settings above when they differ (a new data directory, or one from before them); restart
    once if shared_buffers must change, before anyone else uses the server. A server that has them is
    left alone, so every later start (serve, each worker) only reads them."""
    import psycopg
    from psycopg import sql

    wanted = {**RELOADABLE, "shared_buffers": f"{shared_buffers_bytes() // 1024**2}MB"}
    with psycopg.connect(str(server.get_uri()), autocommit=True) as conn:
        differ = [name for name, value in wanted.items() if not _has(conn, name, value)]
        for name in differ:
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(wanted[name])))
        if differ:
            conn.execute("SELECT pg_reload_conf()")
    if "shared_buffers" in differ:
        _restart(server)


def _has(conn: Any, name: str, value: str) -> bool:
    return bool(conn.execute(_SAME[name], (name, value)).fetchone() == (True,))


def _restart(server: Any) -> None:
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # no public restart in pgserver
    from pgserver.utils import PostmasterInfo

    pg_ctl(["-w", "restart", "-l", str(server.log)], pgdata=server.pgdata, user=server.system_user)
    # pgserver stops the server at exit only if the postmaster it remembers is running: the new one.
    server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)
