"""Shared fixtures: a tiny synthetic MNIST mirror, and a real HTTP server on loopback."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO_ROOT, make_mirror

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as the stages do (stages/_bootstrap.py)


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, dict[str, dict[str, str]]]:
    """A folder holding a tiny synthetic MNIST, and its data.files entries."""
    folder = tmp_path / "mirror"
    return folder, make_mirror(folder)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_servers() -> Iterator:
    """Yield start(folder, handler) -> base URL of a real HTTP server on 127.0.0.1
    serving `folder`; every server stops when the block ends."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(folder: Path, handler: type = QuietHandler) -> str:
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    try:
        yield start
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def serve() -> Iterator:
    """serve(folder) -> base URL of a real HTTP server on 127.0.0.1 serving `folder`."""
    with http_servers() as start:
        yield start


@pytest.fixture(scope="module")
def serve_for_module() -> Iterator:
    """Like `serve`, for fixtures shared by a whole test module."""
    with http_servers() as start:
        yield start


@pytest.fixture
def raw() -> dict:
    """The repo's params.yaml, parsed, for tests to edit."""
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
