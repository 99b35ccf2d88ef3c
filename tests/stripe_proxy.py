"""A small HTTP proxy in front of localstripe, on loopback, for what localstripe cannot do.

localstripe never answers 429 and ignores the Idempotency-Key header. Stripe does both: it
answers 429 when an account goes over its rate, and it answers a request repeated with the same
idempotency key with the first request's saved result, without doing it again (a 429 is not
saved: the request was not executed). The proxy adds exactly these two behaviours, records
every request it is sent (when, what, which key, what it answered) and can hold each answer for
a while (a real Stripe charge takes a few hundred milliseconds; localstripe answers at once).
With `down` set, Stripe is unreachable: every connection is closed without an answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.processes import free_port


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    key: str | None
    status: int
    replayed: bool  # answered from the idempotency store, not forwarded


@dataclass
class StripeProxy:
    upstream: str
    base: str = ""
    # (method, path, key) -> True to answer this request 429 instead of forwarding it.
    limit: Callable[[str, str, str | None], bool] = lambda method, path, key: False
    latency_s: float = 0.0  # added to every forwarded answer
    down: bool = False  # every connection closed without an answer, nothing forwarded
    seen: list[Seen] = field(default_factory=list)
    _saved: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: int = 0
    max_in_flight: int = 0

    def charges(self) -> list[Seen]:
        """The PaymentIntents asked for (POST /v1/payment_intents), in order of arrival."""
        return [s for s in self.seen if s.method == "POST" and s.path == "/v1/payment_intents"]

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        at = time.monotonic()
        if self.down:
            request.close_connection = True
            return
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        key = request.headers.get("Idempotency-Key")
        method, path = request.command, request.path.split("?", 1)[0]
        if self.limit(method, path, key):
            self._answer(request, 429, _error("rate_limit", "Too many requests: slow down."))
            self._record(Seen(at, method, path, key, 429, False))
            return
        with self._lock:
            saved = self._saved.get(key) if key and method == "POST" else None
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if saved is not None:
                status, content = saved
                replayed = True
            else:
                headers = {
                    k: v
                    for k, v in request.headers.items()
                    if k.lower() in ("authorization", "content-type", "stripe-version")
                }
                answer = httpx.request(
                    method, self.upstream + request.path, content=body, headers=headers, timeout=30
                )
                status, content, replayed = answer.status_code, answer.content, False
                if key and method == "POST":
                    with self._lock:
                        self._saved.setdefault(key, (status, content))
                time.sleep(self.latency_s)
        finally:
            with self._lock:
                self._in_flight -= 1
        self._answer(request, status, content)
        self._record(Seen(at, method, path, key, status, replayed))

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, content: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)


def _error(kind: str, message: str) -> bytes:
    return json.dumps(
        {"error": {"type": "invalid_request_error", "code": kind, "message": message}}
    ).encode()


@contextmanager
def stripe_proxy(upstream: str, **options: object) -> Iterator[StripeProxy]:
    """A proxy to `upstream` (localstripe) on a free loopback port, stopped on the way out."""
    proxy = StripeProxy(upstream, **options)  # type: ignore[arg-type]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            proxy.handle(self)

        do_POST = do_DELETE = do_GET

        def log_message(self, *_: object) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.base = f"http://127.0.0.1:{port}"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
