"""Named SQL queries, loaded once from the `.sql` files beside this module.

A file holds blocks that each start with a line `-- name: some_name`; the block's text up to the next
such line is the query. No SQL is written as Python strings elsewhere in the package.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse_named_queries(text: str) -> dict[str, str]:
    """Split `text` into {name: sql} at every `-- name:` line."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


@lru_cache(maxsize=1)
def _all_queries() -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in sorted(SQL_DIR.glob("*.sql")):
        for name, sql in parse_named_queries(path.read_text()).items():
            if name in queries:
                raise ValueError(f"query {name!r} is defined in more than one file")
            queries[name] = sql
    return queries


def query(name: str) -> str:
    """The SQL text of the named query; KeyError names an unknown query."""
    return _all_queries()[name]
