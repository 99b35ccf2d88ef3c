"""Servers that receive what Mandat sends, well or badly: an HTTPS webhook receiver with a
self-signed certificate made for the test, receivers that drip or flood their answer, and a name
resolver the test controls (DNS rebinding without a DNS server)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

NAMES = ("hooks.example.test", "rebind.example.test", "localhost")


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for NAMES and 127.0.0.1, made with openssl; trusted by nothing until
    a test names the certificate in SSL_CERT_FILE."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    names = ",".join([*(f"DNS:{n}" for n in NAMES), "IP:127.0.0.1"])
    command = (
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        f" -subj /CN={NAMES[0]} -addext subjectAltName={names}"
    ).split()
    subprocess.run(
        [*command, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_context(cert: Path, key: Path, names_seen: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if names_seen is not None:

        def seen(_socket: Any, name: str | None, _context: Any) -> None:
            names_seen.append(name or "")

        context.sni_callback = seen
    return context


class Receiver:
    """A webhook endpoint on loopback (HTTPS with `context`): records each request, waits
    `delay_s`, answers `status`."""

    def __init__(self, context: ssl.SSLContext | None = None, delay_s: float = 0) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                receiver.arrived.set()
                time.sleep(delay_s)
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, host: str = "127.0.0.1") -> str:
        scheme = "https" if isinstance(self.server.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://{host}:{self.port}/hooks/mandat"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RawReceiver:
    """A TCP server that reads the request's first bytes, then runs `answer(connection)` until it
    returns or the client goes away; `sent` counts the bytes it managed to send."""

    def __init__(self, answer: Callable[[socket.socket, RawReceiver], None]) -> None:
        self.sent = 0
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/mandat"

        def serve() -> None:
            while not self.stopped.is_set():
                try:
                    connection, _ = self.listener.accept()
                except OSError:
                    return
                with connection:
                    connection.recv(65536)
                    with suppress(OSError):  # the client hung up: what the tests want
                        answer(connection, self)

        threading.Thread(target=serve, daemon=True).start()

    def send(self, connection: socket.socket, data: bytes) -> None:
        connection.sendall(data)
        self.sent += len(data)

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()


def drip(connection: socket.socket, receiver: RawReceiver) -> None:
    """A valid answer, one byte every 0.2 s: no read ever waits long, the answer never ends."""
    for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10_000:
        if receiver.stopped.is_set():
            return
        receiver.send(connection, bytes([byte]))
        time.sleep(0.2)


def flood(connection: socket.socket, receiver: RawReceiver) -> None:
    """An error answer announcing 10 GB and sending 50 MB of it, then waiting: a client that
    reads it all holds 50 MB and then waits for a read timeout."""
    receiver.send(connection, b"HTTP/1.1 500 Oops\r\nContent-Length: 10000000000\r\n\r\n")
    chunk = b"x" * 65536
    for _ in range(800):
        receiver.send(connection, chunk)
    receiver.stopped.wait(30)


@contextmanager
def resolving(
    monkeypatch: Any, answers: dict[str, Callable[[], list[str]]]
) -> Iterator[dict[str, int]]:
    """socket.getaddrinfo answers `answers[name]()` for the names given (real lookups for the
    rest); yields how many times each name was looked up."""
    real = socket.getaddrinfo
    lookups = dict.fromkeys(answers, 0)

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups[host] += 1
        infos = []
        for address in answers[host]():
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port or 0), 0, 0) if ":" in address else (address, int(port))
            infos.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return infos

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield lookups
