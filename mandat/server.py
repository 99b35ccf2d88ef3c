"""`mandat serve`'s start-up: uvicorn serving api.app, its JSON logs, request metrics shared by
the worker processes, and TCP_NODELAY on the sockets the workers accept."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import uvicorn
from uvicorn.config import Config

from api.logging import log_config


def serve(host: str, port: int, workers: int) -> None:
    """Serve the API until stopped (SIGTERM: the requests in flight finish first)."""
    _tcp_nodelay_for_workers()
    _shared_metrics_directory()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # httptools parses HTTP/1.1 in C (h11 costs ~0.1 ms of CPU a request); uvloop runs the
        # event loop in C. Both are in requirements.in.
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
        server_header=False,
        log_config=log_config(),
        access_log=False,  # one JSON access line per request, with its id, from the app
        timeout_graceful_shutdown=20,  # SIGTERM: finish the requests in flight, then stop
        # A worker still importing on a loaded host must not be killed for missing a 5 s
        # health check (it would be restarted, and killed again, in a loop).
        timeout_worker_healthcheck=30,
        log_level="info",
    )


def _shared_metrics_directory() -> None:
    """Request metrics of every server process in one place (prometheus_client's multiprocess
    mode), emptied at each start."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    directory = Path(tempfile.gettempdir()) / f"mandat-metrics-{os.getpid()}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _tcp_nodelay_for_workers() -> None:
    """With several workers, uvicorn binds the listening socket itself without naming its
    protocol, so asyncio never sets TCP_NODELAY on accepted connections and each keep-alive
    answer written in two parts waits ~40 ms for the client's delayed ACK (uvicorn issue 3149).
    The socket is re-labelled as TCP, which its accepted connections inherit."""
    bind = Config.bind_socket
    if getattr(bind, "labelled_tcp", False):
        return

    def bind_socket(self: Config) -> socket.socket:
        sock = bind(self)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        return sock

    bind_socket.labelled_tcp = True  # type: ignore[attr-defined]
    Config.bind_socket = bind_socket  # type: ignore[method-assign]
