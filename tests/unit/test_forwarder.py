"""Local mode's Elastic IP: the forwarder behind the app URL, and which instance it goes to."""

from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pipekit.local import forwarder as fwd
from pipekit.local.elasticip import associated_instance


@contextmanager
def app(name: str) -> Iterator[int]:
    """A loopback HTTP server answering its `name`; yields its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as resp:
        return resp.read().decode()


def test_each_connection_goes_where_the_target_is_then() -> None:
    port = free_port()
    where: dict[str, tuple[str, int] | None] = {"now": None}
    forwarder = fwd.Forwarder("127.0.0.1", port, lambda: where["now"])
    forwarder.start()
    try:
        with app("first") as first, app("second") as second:
            # associated with nothing: the connection ends with no answer
            with pytest.raises((urllib.error.URLError, ConnectionError)):
                fetch(port)
            where["now"] = ("127.0.0.1", first)
            assert fetch(port) == "first"
            where["now"] = ("127.0.0.1", second)  # the address moved
            assert fetch(port) == "second"
            # a target that does not listen: the client's connection ends, nothing hangs
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                where["now"] = s.getsockname()
            with pytest.raises((urllib.error.URLError, ConnectionError)):
                fetch(port)
    finally:
        forwarder.close()
    # closed: the port no longer listens
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_connections_above_the_bound_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fwd, "MAX_CONNECTIONS", 1)
    port = free_port()
    with app("only") as target:
        forwarder = fwd.Forwarder("127.0.0.1", port, lambda: ("127.0.0.1", target))
        forwarder.start()
        try:
            # a connection that sends nothing yet holds the one slot
            held = socket.create_connection(("127.0.0.1", port), timeout=2)
            try:
                time.sleep(0.3)  # accepted and forwarded
                with pytest.raises((urllib.error.URLError, ConnectionError)):
                    fetch(port)
            finally:
                held.close()
            time.sleep(0.3)  # its slot is free again
            assert fetch(port) == "only"
        finally:
            forwarder.close()


def test_associated_instance_reads_describe_addresses() -> None:
    addresses = [
        {"AllocationId": "eipalloc-1", "PublicIp": "198.51.100.1", "InstanceId": "i-1"},
        {"AllocationId": "eipalloc-2", "PublicIp": "198.51.100.2"},
    ]
    assert associated_instance(addresses, "eipalloc-1") == "i-1"
    assert associated_instance(addresses, "eipalloc-2") is None  # not associated
    assert associated_instance(addresses, "eipalloc-3") is None
