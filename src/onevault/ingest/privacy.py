"""Client address minimisation: only the network prefix is ever stored."""

from __future__ import annotations

import ipaddress

IPV4_PREFIX = 24
IPV6_PREFIX = 48


def truncate_ip(address: str | None) -> str | None:
    """`address` cut to its /24 (IPv4) or /48 (IPv6) network, e.g. '203.0.113.0/24'; None if unparseable."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # '::ffff:203.0.113.7' is an IPv4 client behind a dual-stack socket
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
