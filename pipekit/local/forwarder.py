"""A small TCP forwarder: connections to a loopback port go to whatever address `target()` names
at the moment each connection arrives (local mode's Elastic IP: `pipekit.local.elasticip`).

Bounded: at most MAX_CONNECTIONS at once (more are closed at once), each ended after IDLE_S
without traffic; `close()` stops accepting and ends every connection within POLL_S.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger("pipekit.local.forwarder")

MAX_CONNECTIONS = 64
IDLE_S = 120.0
CONNECT_TIMEOUT_S = 2.0
POLL_S = 0.5
CHUNK = 65536

Target = Callable[[], "tuple[str, int] | None"]


class Forwarder:
    def __init__(self, host: str, port: int, target: Target) -> None:
        self.target = target
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # as the other local servers: a port in TIME-WAIT from the last run is free to take
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(MAX_CONNECTIONS)
        self._listener.settimeout(POLL_S)
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._accepting = threading.Thread(target=self._accept, name="pipekit-forward", daemon=True)

    def start(self) -> None:
        self._accepting.start()

    def close(self) -> None:
        self._stop.set()
        if self._accepting.is_alive():
            self._accepting.join(timeout=5)
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                client.close()
                continue
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            with self._lock:
                self._threads.add(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        try:
            where = self.target()
            if where is None:
                return  # nothing behind the address now: the client sees the connection end
            try:
                upstream = socket.create_connection(where, timeout=CONNECT_TIMEOUT_S)
            except OSError as exc:
                log.debug("forward to %s:%s failed: %s", *where, exc)
                return
            with upstream:
                self._pump(client, upstream)
        finally:
            client.close()
            self._slots.release()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as sel:
            for sock in peers:
                sock.setblocking(False)
                sel.register(sock, selectors.EVENT_READ)
            last = time.monotonic()
            while sel.get_map() and not self._stop.is_set():
                if time.monotonic() - last > IDLE_S:
                    return
                for key, _ in sel.select(POLL_S):
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = sock.recv(CHUNK)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        return
                    last = time.monotonic()
                    if not data:
                        # half-close: pass the end on, keep the other direction open
                        sel.unregister(sock)
                        with contextlib.suppress(OSError):
                            peers[sock].shutdown(socket.SHUT_WR)
                        continue
                    try:
                        peers[sock].setblocking(True)
                        peers[sock].settimeout(IDLE_S)
                        peers[sock].sendall(data)
                        peers[sock].setblocking(False)
                    except OSError:
                        return
