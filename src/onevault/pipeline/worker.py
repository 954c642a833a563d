"""`onevault worker`: drains the queue continuously, waking on NOTIFY from ingestion and polling too.

Any number of workers may run at once, in one process or many: tenants are taken under an advisory
lock and rows are claimed FOR UPDATE SKIP LOCKED, so no event is processed twice. A stop request lets
the current batch finish (its transaction commits) before the worker returns.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg

from onevault.db.queries import query
from onevault.db.statistics import analyze_grown_tables
from onevault.pipeline.runner import BatchResult, drain_once

log = logging.getLogger(__name__)
SALT_ROTATION_SECONDS = 3600.0


class Worker:
    def __init__(
        self,
        conninfo: str,
        *,
        batch_size: int = 2000,
        poll_seconds: float = 1.0,
        statistics_seconds: float = 2.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.stop = stop or threading.Event()
        self.processed = BatchResult()
        self._next_rotation = 0.0
        self.statistics_seconds = statistics_seconds
        self._next_statistics = 0.0

    def run(self) -> None:
        """Work until `stop` is set; reconnects after database errors."""
        while not self.stop.is_set():
            try:
                self._serve()
            except psycopg.OperationalError as exc:
                log.warning("worker lost the database (%s); retrying", exc)
                self.stop.wait(min(self.poll_seconds * 2, 5.0))

    def _serve(self) -> None:
        with (
            psycopg.connect(self.conninfo, application_name="onevault-worker") as work,
            psycopg.connect(self.conninfo, autocommit=True, application_name="onevault-listen") as listen,
        ):
            listen.execute(query("listen_raw_events"))
            while not self.stop.is_set():
                self._rotate_salts(work)
                self._refresh_statistics(work)
                done = drain_once(work, self.batch_size)
                self.processed.add(done)
                if done.total == 0:
                    self._wait(listen)

    def _wait(self, listen: psycopg.Connection) -> None:
        """Sleep until ingestion notifies, the poll interval passes, or a stop is requested."""
        deadline = time.monotonic() + self.poll_seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            for _ in listen.notifies(timeout=min(0.25, self.poll_seconds), stop_after=1):
                return

    def _rotate_salts(self, conn: psycopg.Connection) -> None:
        if time.monotonic() < self._next_rotation:
            return
        with conn.transaction():
            conn.execute(query("rotate_visitor_salts"))
        self._next_rotation = time.monotonic() + SALT_ROTATION_SECONDS

    def _refresh_statistics(self, conn: psycopg.Connection) -> None:
        """Tables this worker filled may have doubled: analyze them, so that no session keeps plans made
        while they were small (onevault.db.statistics)."""
        if self.statistics_seconds <= 0 or time.monotonic() < self._next_statistics:
            return
        self._next_statistics = time.monotonic() + self.statistics_seconds
        try:
            analyzed = analyze_grown_tables(conn)
        except psycopg.OperationalError:
            raise  # the connection is gone: run() reconnects
        except psycopg.Error as exc:  # statistics only speed plans up: never stop draining for them
            log.warning("could not refresh table statistics: %s", exc)
            return
        if analyzed:
            log.info("analyzed grown tables: %s", ", ".join(analyzed))


def start_in_thread(conninfo: str, **options: float | int) -> tuple[Worker, threading.Thread]:
    """A worker running in a daemon thread (how `onevault serve` runs one beside the API)."""
    worker = Worker(conninfo, **options)  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.run, name="onevault-worker", daemon=True)
    thread.start()
    return worker, thread
