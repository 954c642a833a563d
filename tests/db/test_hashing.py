"""The ratified hashing profile (data-vault.md §1.7): the database functions reproduce its vectors.

`oracle_hash` is the small Python implementation of the same rules that the profile calls the test
oracle; it must agree with the database byte for byte on the vectors and on tricky strings.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import Database


def _part(value: str | None, case_insensitive: bool) -> str:
    if value is None:
        return "^^"
    value = value.strip(" ")
    if case_insensitive:
        value = "".join(ch.upper() if "a" <= ch <= "z" else ch for ch in value)  # ASCII-only upper
    return value or "^^"


def oracle_hash(*parts: tuple[str | None, bool]) -> str:
    return hashlib.sha256("||".join(_part(v, ci) for v, ci in parts).encode("utf-8")).hexdigest()


VECTORS = [  # (sql, params, expected hex) straight from §1.7
    (
        "SELECT util.hub_hk(%s, %s)",
        ("acme", "evt_123"),
        "5f1cbc605f46fa921c44a9d0ecb830dac3f866f78c89fbe41318087bdf3b1222",
    ),
    ("SELECT util.hub_hk(%s, %s)", ("acme", None), "2b97c789cc6f6e26927989230813244f6224cac92f689b26bd333cd01d759b4d"),
    ("SELECT util.tenant_hk(%s)", ("acme",), "a8308e8e2e4b73307d860de2effdc675fa122f64c2095e7974d8ef804b9d3b70"),
    (
        "SELECT util.hashdiff(%s, %s, %s)",
        ("page_view", "https://example.com/Home", None),
        "1321e354a3099850a2afe933a2f19318088133456845f572769935556c77f738",
    ),
]


@pytest.mark.parametrize(("sql", "params", "expected"), VECTORS)
def test_database_reproduces_the_profile_vectors(database: Database, sql: str, params: tuple, expected: str) -> None:
    with database.admin() as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    assert bytes(row[0]).hex() == expected


TRICKY = [
    "acme",
    " ACME ",
    "AcMe",
    "",
    "  ",
    "évt_ß",
    "ÄÖÜ",
    "tab\tkey",
    "new\nline",
    "emoji 🎉",
    "a||b",
    "^^",
    "İstanbul",
    "ﬁ",
    "x" * 300,
    "trailing\u00a0nbsp",
    "'; DROP TABLE x; --",
]


@pytest.mark.parametrize("value", TRICKY)
def test_python_oracle_agrees_with_the_database(database: Database, value: str) -> None:
    with database.admin() as conn:
        row = conn.execute(
            "SELECT util.tenant_hk(%s), util.hub_hk(%s, %s), util.hashdiff(%s, NULL, %s)",
            (value, value, value, value, value),
        ).fetchone()
    assert row is not None
    assert bytes(row[0]).hex() == oracle_hash((value, True))
    assert bytes(row[1]).hex() == oracle_hash((value, True), (value, False))
    assert bytes(row[2]).hex() == oracle_hash((value, False), (None, False), (value, False))


def test_tenant_key_is_case_insensitive_and_event_key_is_not(database: Database) -> None:
    with database.admin() as conn:
        row = conn.execute(
            "SELECT util.hub_hk('acme', 'evt_1') = util.hub_hk(' ACME', 'evt_1'), "
            "util.hub_hk('acme', 'evt_1') = util.hub_hk('acme', 'EVT_1')"
        ).fetchone()
    assert row == (True, False)
