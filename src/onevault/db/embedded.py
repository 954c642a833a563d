"""The embedded PostgreSQL (pgserver) used when SYSTEM_DATABASE_URL is unset."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


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
    server = pgserver.get_server(  # type: ignore[attr-defined]
        data_dir.resolve() / "pgdata", cleanup_mode="stop"
    )
    return str(server.get_uri()), server
