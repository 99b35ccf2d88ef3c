"""The client address that rate limits and bot checks count.

`X-Forwarded-For` is believed only on connections from `MANDAT_TRUSTED_PROXIES` (addresses or
CIDRs): the client is then the right-most address that is not itself a trusted proxy. From anyone
else the header is ignored, so a bot cannot pick its own address.
"""

from __future__ import annotations

import ipaddress
import os
from functools import cache
from typing import Any

from litestar.connection import ASGIConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def trusted_proxies(setting: str) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(item.strip(), strict=False)
        for item in setting.split(",")
        if item.strip()
    )


def _is_trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_ip(request: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    peer = request.client.host if request.client else None
    proxies = trusted_proxies(os.environ.get("MANDAT_TRUSTED_PROXIES", ""))
    if peer is None or not _is_trusted(peer, proxies):
        return _valid(peer)
    hops = [h.strip() for h in ",".join(request.headers.getall("x-forwarded-for", [])).split(",")]
    for hop in reversed([h for h in hops if h]):
        valid = _valid(hop)
        if valid is None:
            break  # a garbled chain: trust nothing beyond the proxy itself
        if not _is_trusted(valid, proxies):
            return valid
    return _valid(peer)


def _valid(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None
