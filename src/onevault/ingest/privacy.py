"""Client addresses. The full address reaches the database only to make the cookieless visitor key;
`raw.truncate_ip` cuts it to /24 (IPv4) or /48 (IPv6) before it is stored."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=8192)  # parsing an address was 3% of an ingest request; clients repeat
def client_address(address: str | None) -> str | None:
    """`address` as a canonical IP string (IPv4-mapped IPv6 as plain IPv4), or None if it is not an IP."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # '::ffff:203.0.113.7' is an IPv4 client behind a dual-stack socket
    return str(ip)
