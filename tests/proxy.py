"""A TCP proxy in front of PostgreSQL that a test can cut and restore: an outage on demand.

``cut()`` closes every proxied connection and the listening socket (new connections are
refused, as when the server is down); ``restore()`` listens again on the same port. The real
server, which every other test shares, is never touched.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to ``target`` until cut; threads, no asyncio."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._conns.update((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        with selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_READ)
            sel.register(b, selectors.EVENT_READ)
            try:
                while True:
                    for key, _ in sel.select(timeout=1.0):
                        sock: socket.socket = key.fileobj  # type: ignore[assignment]
                        data = sock.recv(65536)
                        if not data:
                            return
                        peer[sock].sendall(data)
            except (OSError, ValueError):
                return
            finally:
                for sock in (a, b):
                    with contextlib.suppress(OSError):
                        sock.close()
                with self._lock:
                    self._conns.discard(a)
                    self._conns.discard(b)
