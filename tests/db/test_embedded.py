"""The embedded server's settings: applied on a new data directory, kept on the next start, and the
server still stops with the last process that holds it (the restart must not orphan it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from onevault.db.embedded import RELOADABLE, shared_buffers_bytes

SHOW = """
import sys
from pathlib import Path
import psycopg
from onevault.db.embedded import start_embedded
uri, handle = start_embedded(Path(sys.argv[1]))
with psycopg.connect(uri) as conn:
    names = ("shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_init_zero")
    print(*(conn.execute(f"SELECT pg_size_bytes(current_setting('{n}'))" if n == "shared_buffers"
            else f"SHOW {n}").fetchone()[0] for n in names))
"""


def test_a_new_embedded_server_gets_its_settings_and_stops_with_its_process(tmp_path: Path) -> None:
    for _ in range(2):  # the first start restarts once to apply shared_buffers; the second finds them
        done = subprocess.run([sys.executable, "-c", SHOW, str(tmp_path)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        buffers, wal, checkpoint, zero = done.stdout.split()
        assert int(buffers) == shared_buffers_bytes() // 1024**2 * 1024**2
        wanted = ("max_wal_size", "checkpoint_timeout", "wal_init_zero")
        assert (wal, checkpoint, zero) == tuple(RELOADABLE[n] for n in wanted)
        assert not (tmp_path / "pgdata" / "postmaster.pid").exists(), "the embedded PostgreSQL outlived its process"


def test_shared_buffers_stay_between_128_mb_and_2_gb() -> None:
    assert 128 * 1024**2 <= shared_buffers_bytes() <= 2 * 1024**3
