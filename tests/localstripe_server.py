"""localstripe (a stateful Stripe fake from PyPI) on loopback, in memory, for the tests.

Upstream listens on every interface and pickles its store to a shared file in the system temp
directory on every write; here it listens on 127.0.0.1 only and keeps nothing on disk.
Run: python tests/localstripe_server.py PORT
"""

from __future__ import annotations

import sys

from aiohttp import web
from localstripe import resources, server

resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]
resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]

if __name__ == "__main__":
    web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
