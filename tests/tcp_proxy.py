"""A loopback TCP proxy that a test can cut and restore: PostgreSQL "going away" under a running gateway."""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttableProxy:
    """``lose_reply_with``: the first reply from the target that holds these bytes is not passed on, and that one
    connection is cut instead (a server that did the work, then could not say so)."""

    def __init__(self, target_host: str, target_port: int, *, lose_reply_with: bytes | None = None) -> None:
        self.target = (target_host, target_port)
        self.lose_reply_with = lose_reply_with
        self.lost = threading.Event()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()

    def start(self) -> CuttableProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b, reply in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pipe, args=(a, b, reply), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, reply: bool) -> None:
        try:
            while data := src.recv(65536):
                if reply and self.lose_reply_with and self.lose_reply_with in data and not self.lost.is_set():
                    self.lost.set()
                    break  # the finally cuts both ends without passing the reply on
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """New connections are refused and open ones drop, as when the database server stops."""
        if self._listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone would let it accept one more.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def restore(self) -> None:
        self.start()
