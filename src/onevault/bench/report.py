"""Figures, their ceilings and the goals of issue 5: one row each, as a rich table and as JSON."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rich import box
from rich.table import Table

from onevault.bench.wrk import LoadResult

if TYPE_CHECKING:  # the report needs no database module at run time (the CLI imports it on every start)
    from onevault.bench.measure import DrainResult

Op = Literal["<=", ">=", "=="]
_OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}


@dataclass(frozen=True)
class Goal:
    """`value op target` (or `ratio op target` with `of_ratio`), shown as `text`."""

    op: Op
    target: float
    text: str
    of_ratio: bool = False

    def met(self, value: float, ratio: float | None) -> bool:
        measured = ratio if self.of_ratio else value
        return measured is not None and bool(_OPS[self.op](measured, self.target))


@dataclass(frozen=True)
class Row:
    work: str
    figure: str
    value: float
    unit: str
    ratio: float | None = None
    ceiling: str | None = None
    goal: Goal | None = None
    integrity: bool = False  # a count that must hold for the other figures to mean anything

    @property
    def passed(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.value, self.ratio)

    def to_dict(self) -> dict[str, Any]:
        return {
            "work": self.work,
            "figure": self.figure,
            "value": round(self.value, 3),
            "unit": self.unit,
            "ratio": None if self.ratio is None else round(self.ratio, 4),
            "ratio_to": self.ceiling,
            "goal": None if self.goal is None else self.goal.text,
            "integrity": self.integrity,
            "result": {True: "PASS", False: "FAIL", None: None}[self.passed],
        }


@dataclass
class Measured:
    """Everything one run measured (sizes in `sizes`)."""

    sizes: dict[str, Any]
    loads: dict[str, LoadResult] = field(default_factory=dict)
    raw_rows: dict[str, int] = field(default_factory=dict)
    copy_rows_per_s: float = 0.0
    backlog_rows_per_s: float = 0.0
    drains: dict[int, DrainResult] = field(default_factory=dict)
    api_rss_mb: float = 0.0


def _ratio(value: float, ceiling: float) -> float | None:
    return value / ceiling if ceiling > 0 else None


def ceiling_rows(m: Measured) -> list[Row]:
    trivial = m.loads["trivial"]
    return [
        Row("ceiling: trivial endpoint", "requests/s", trivial.rate, "req/s"),
        Row("ceiling: trivial endpoint", "p99", trivial.latency_ms["p99"], "ms"),
        Row("ceiling: COPY, jsonb table", "rows/s", m.copy_rows_per_s, "rows/s"),
    ]


def _latency(work: str, load: LoadResult, pct: str, goal_ms: float | None = None) -> Row:
    goal = None if goal_ms is None else Goal("<=", goal_ms, f"<= {goal_ms:.0f} ms")
    return Row(work, pct, load.latency_ms[pct], "ms", goal=goal)


def _errors(work: str, load: LoadResult) -> Row:
    return Row(work, "errors", load.errors, "count", goal=Goal("==", 0, "0"))


def _stored(work: str, rows: int, expected: int, text: str) -> Row:
    """Raw rows against what the 2xx answers promised: a mismatch means the figures are not true."""
    return Row(work, "raw rows", rows, "rows", goal=Goal("==", expected, f"= {text}"), integrity=True)


def ingest_rows(m: Measured) -> list[Row]:
    trivial, one, batch, sync = (m.loads[k] for k in ("trivial", "async", "batch", "sync"))
    per = int(m.sizes["batch_events_per_request"])
    batch_rate = batch.ok * per / batch.active_seconds
    work = f"async ingest, {m.sizes['ingest_connections']} conn"
    share = Goal(">=", 0.60, ">= 60% of trivial", of_ratio=True)
    rows = [
        Row(work, "requests/s", one.rate, "req/s", _ratio(one.rate, trivial.rate), "trivial", share),
        _latency(work, one, "p50"),
        _latency(work, one, "p99", 50),
        _errors(work, one),
        _stored(work, m.raw_rows["async"], one.ok, f"{one.ok:,} 2xx answers"),
    ]
    work = f"batch ingest, {per}/request"
    floor = Goal(">=", 50_000, ">= 50,000 events/s")
    rows += [
        Row(work, "events/s", batch_rate, "events/s", _ratio(batch_rate, m.copy_rows_per_s), "COPY", floor),
        _latency(work, batch, "p99"),
        _errors(work, batch),
        _stored(work, m.raw_rows["batch"], batch.ok * per, f"{batch.ok * per:,} (2xx x {per})"),
    ]
    work = f"sync /track, {m.sizes['sync_connections']} conn"
    rows += [
        Row(work, "requests/s", sync.rate, "req/s", _ratio(sync.rate, trivial.rate), "trivial"),
        _latency(work, sync, "p50", 10),
        _latency(work, sync, "p99", 40),
        _errors(work, sync),
        _stored(work, m.raw_rows["sync"], sync.ok, f"{sync.ok:,} 2xx answers"),
    ]
    return rows


def pipeline_rows(m: Measured) -> list[Row]:
    backlog = m.backlog_rows_per_s
    rows = [Row("backlog via writer SQL", "rows/s", backlog, "rows/s", _ratio(backlog, m.copy_rows_per_s), "COPY")]
    for workers, result in sorted(m.drains.items()):
        goal = Goal(">=", 15_000, ">= 15,000 events/s") if workers == 2 else None
        work = f"drain, {workers} worker{'s' if workers > 1 else ''}"
        rows.append(
            Row(work, "events/s", result.rate, "events/s", _ratio(result.rate, m.copy_rows_per_s), "COPY", goal)
        )
    return rows


def read_rows(m: Measured) -> list[Row]:
    rows = []
    for name in ("status", "dashboard"):
        load, work = m.loads[name], f"{name}, {m.sizes['read_connections']} conn"
        rows += [_latency(work, load, "p50"), _latency(work, load, "p95", 100), _errors(work, load)]
    return rows


def memory_rows(m: Measured) -> list[Row]:
    worker = max((d.peak_rss_mb for d in m.drains.values()), default=0.0)
    return [
        Row("memory", "API peak RSS", m.api_rss_mb, "MB", goal=Goal("<=", 250, "<= 250 MB")),
        Row("memory", "worker peak RSS", worker, "MB", goal=Goal("<=", 300, "<= 300 MB")),
    ]


def build_rows(m: Measured) -> list[Row]:
    return ceiling_rows(m) + ingest_rows(m) + pipeline_rows(m) + read_rows(m) + memory_rows(m)


def _value(row: Row) -> str:
    if row.unit == "ms":
        return f"{row.value:,.1f} ms"
    if row.unit == "MB":
        return f"{row.value:,.0f} MB"
    if row.unit in ("count", "rows"):
        return f"{row.value:,.0f}"
    return f"{row.value:,.0f} {row.unit}"


def table(rows: list[Row], title: str) -> Table:
    out = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("Work", "Figure", "Value", "Ratio to ceiling", "Goal", "Result"):
        out.add_column(column, justify="right" if column in ("Value", "Ratio to ceiling") else "left")
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.0%} of {row.ceiling}"
        result = {True: "[green]PASS[/]", False: "[bold red]FAIL[/]", None: ""}[row.passed]
        out.add_row(row.work, row.figure, _value(row), ratio, row.goal.text if row.goal else "", result)
    return out


def integrity_failures(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.integrity and r.passed is False]


def goal_failures(rows: list[Row]) -> list[Row]:
    return [r for r in rows if not r.integrity and r.passed is False]
