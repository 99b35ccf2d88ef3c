"""Posting a webhook to the address that was checked, within a deadline, reading little.

An agency chooses its webhook URL, so the URL is attacker-controlled input to a server that makes
requests. Four defences, each against one attack:

- **Server-side request forgery.** The name is resolved once; every address it gives must be
  public (`is_public_address`: not private, loopback, link-local or cloud metadata, not
  multicast, and no NAT64, 6to4, IPv4-mapped or IPv4-compatible form of such an address).
- **DNS rebinding.** The connection goes to those very addresses (`_PinnedBackend`), never to a
  second lookup of the name; TLS still checks the certificate against the name (SNI), and the
  `Host` header still names it. No proxy from the environment is used: a proxy would resolve the
  name again.
- **A receiver that drips bytes** (one every 9 s defeats any per-read timeout): one deadline
  bounds the whole exchange, connection, TLS, request and answer (`_DeadlineStream`).
- **A receiver that answers gigabytes.** A 2xx answer is closed unread; the body of another
  answer is read up to `MAX_RESPONSE_BYTES`, for the error message. Headers are capped at
  100 KB by the HTTP parser.

MANDAT_ALLOW_LOCAL_WEBHOOKS=1 (a developer's machine, the tests) lets loopback and private
addresses through; the connection is pinned all the same.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv6Address
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
DEADLINE_S = 15.0
MAX_RESPONSE_BYTES = 64 * 1024

IPAddress = IPv4Address | IPv6Address

# IPv6 forms that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052 well-known
# prefix) and the deprecated IPv4-compatible form. Python calls the first one global whatever
# it embeds.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# NAT64 for local use (RFC 8215): translates to addresses of one's own network, never public.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class WebhookRefused(RuntimeError):
    """The URL leads somewhere Mandat never posts to."""


def tls_context() -> ssl.SSLContext:
    """Certificates verified against the public CAs (or SSL_CERT_FILE / SSL_CERT_DIR)."""
    return httpx.create_ssl_context()


def is_public_address(address: IPAddress) -> bool:
    """Whether Mandat may connect to `address` on an agency's behalf."""
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, IPv6Address):
        if address in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
    return True


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def local_allowed() -> bool:
    return os.environ.get("MANDAT_ALLOW_LOCAL_WEBHOOKS") == "1"


def checked_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses of `host`, resolved once; WebhookRefused if any of them is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise WebhookRefused(f"{host} does not resolve") from error
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not local_allowed() and not all(is_public_address(a) for a in addresses):
        raise WebhookRefused(f"{host} resolves to an internal address")
    return addresses


def post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
    """POST `body` to `url`: (status, at most MAX_RESPONSE_BYTES of a non-2xx answer's body)."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (local_allowed() and parts.scheme == "http"):
        raise WebhookRefused("a webhook URL is an https:// address")
    if not parts.hostname:
        raise WebhookRefused("the webhook URL names no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + DEADLINE_S
    backend = _PinnedBackend(checked_addresses(parts.hostname, port), deadline)
    timeouts = {"connect": CONNECT_TIMEOUT_S, "read": READ_TIMEOUT_S, "write": READ_TIMEOUT_S}
    pool = httpcore.ConnectionPool(
        ssl_context=tls_context(), network_backend=backend, max_connections=1, retries=0
    )
    fields: list[tuple[bytes | str, bytes | str]] = list(headers.items())
    extensions = {"timeout": timeouts}
    with (
        pool,
        pool.stream("POST", url, headers=fields, content=body, extensions=extensions) as response,
    ):
        if 200 <= response.status < 300:
            return response.status, b""
        return response.status, _read_capped(response.iter_stream())


def _read_capped(chunks: Iterable[bytes]) -> bytes:
    kept = b""
    for chunk in chunks:
        kept += chunk
        if len(kept) >= MAX_RESPONSE_BYTES:
            break
    return kept[:MAX_RESPONSE_BYTES]


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the checked addresses, whatever name the request carries."""

    def __init__(self, addresses: list[IPAddress], deadline: float) -> None:
        self._addresses = addresses
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception = httpcore.ConnectError(f"{host}: no address")
        for address in self._addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=_within(timeout, self._deadline),
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks never use a Unix socket")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """Every read and write waits at most until the exchange's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _within(timeout, self._deadline, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _within(timeout, self._deadline, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(
            ssl_context, server_hostname, _within(timeout, self._deadline, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _within(
    timeout: float | None,
    deadline: float,
    expired: type[Exception] = httpcore.ConnectTimeout,
) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired(f"no answer within {DEADLINE_S:g} s")
    return left if timeout is None else min(timeout, left)
