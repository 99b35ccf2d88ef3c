"""Structured logs: one JSON object per line, each request with its id.

Every request gets an id (a valid incoming `X-Request-ID` is kept, else a new one), returned in
the `X-Request-ID` header and attached to every log line written while it is served, and one
access line records method, route, status and duration. No body, query string or personal data
is logged. With MANDAT_ACCESS_LOG_DIR set, the access lines also go to files there, one per
process and UTC day (`access-<date>-<pid>.jsonl`), which the retention job deletes after
`retention_access_log_days`.
"""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import os
import re
import time
import uuid
from pathlib import Path
from typing import IO, Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from engine.config import access_log_dir

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
access = logging.getLogger("mandat.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        for key in ("method", "route", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        "httpx": {"level": "WARNING"},  # it logs whole URLs, and a URL may embed a secret
    },
}


class DailyAccessFiles(logging.Handler):
    """Appends each line to `<folder>/access-<UTC date>-<pid>.jsonl`: a new file each day, and
    never two processes writing one file (no interleaving, no rotation race)."""

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.day = ""
        self.stream: IO[str] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            day = time.strftime("%Y-%m-%d", time.gmtime(record.created))
            if day != self.day or self.stream is None:
                if self.stream:
                    self.stream.close()
                name = f"access-{day}-{os.getpid()}.jsonl"
                self.stream = (self.folder / name).open("a", encoding="utf-8")
                self.day = day
            self.stream.write(self.format(record) + "\n")
            self.stream.flush()
        except OSError:  # a full or read-only disk: said once on stderr, serving goes on
            self.handleError(record)

    def close(self) -> None:
        if self.stream:
            self.stream.close()
            self.stream = None
        super().close()


def lean_log_records() -> None:
    """Log records without what no line of ours prints: the caller's file and line (a stack
    walk per record), thread and process names. The access line is one record per request."""
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None


def log_config() -> dict[str, Any]:
    """LOG_CONFIG, plus the access files when MANDAT_ACCESS_LOG_DIR is set."""
    folder = access_log_dir()
    if folder is None:
        return LOG_CONFIG
    config = copy.deepcopy(LOG_CONFIG)
    config["handlers"]["access_files"] = {
        "()": DailyAccessFiles,
        "folder": str(folder),
        "formatter": "json",
    }
    config["loggers"]["mandat.access"] = {"handlers": ["access_files"], "level": "INFO"}
    return config


def request_ids(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: the request id and the access line."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope["type"]) != "http":
            await app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            route = scope.get("path_template") or scope.get("path", "")
            access.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "route": route,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id.reset(token)

    return middleware
