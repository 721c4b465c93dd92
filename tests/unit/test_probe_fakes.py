"""Journaling fake devices on 127.x for the probe tests (no tests here: imported by test_probe_*).

Each fake counts the connections it accepted and the requests it received, and answers per a
behaviour: a fixed reply, garbage, a truncated or oversized reply, silence, or closing at once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

Behaviour = Callable[[bytes], bytes | None]  # request -> reply (None: say nothing)


class _Served:
    """A bound socket served by a daemon thread (``_serve``, polling every 0.1 s) until close()."""

    _sock: socket.socket

    def _start(self) -> None:
        self.address, self.port = self._sock.getsockname()
        self._sock.settimeout(0.1)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop = True
        self._sock.close()
        self._thread.join(2)


class FakeTcpDevice(_Served):
    def __init__(
        self, address: str, behaviour: Behaviour, banner: bytes = b"", close_after: bool = False
    ) -> None:
        self.behaviour, self.banner, self.close_after = behaviour, banner, close_after
        self.connections = 0
        self.requests: list[tuple[float, bytes]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((address, 0))
        self._sock.listen(16)
        self._start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with conn:
            try:
                if self.banner:
                    conn.sendall(self.banner)
                while not self._stop:
                    data = conn.recv(65536)
                    if not data:
                        return
                    self.requests.append((time.time(), data))
                    if self.close_after:
                        return
                    reply = self.behaviour(data)
                    if reply:
                        conn.sendall(reply)
            except OSError:
                return

    def settled_connections(self, timeout: float = 2.0) -> int:
        """Connections accepted, once the accept loop has caught up (it polls every 0.1 s)."""
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline and seen != self.connections:
            seen = self.connections
            time.sleep(0.25)
        return self.connections


class FakeUdpDevice(_Served):
    def __init__(self, address: str, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[tuple[float, bytes]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((address, 0))
        self._start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                data, peer = self._sock.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            self.requests.append((time.time(), data))
            reply = self.behaviour(data)
            if reply:
                self._sock.sendto(reply, peer)


def modbus_identity_reply(request: bytes, objects: dict[int, bytes] | None = None) -> bytes:
    """A well-formed FC 43/14 reply to ``request`` (basic or regular stream)."""
    objects = objects or {
        0: b"Acme",
        1: b"PLC-9",
        2: b"v1.2",
        3: b"http://acme",
        4: b"Acme PLC",
        5: b"PLC-9X",
        6: b"APP",
    }
    code, first = request[9], request[10]
    wanted = range(0, 3) if code == 1 else range(3, 7)
    chosen = [(k, v) for k, v in objects.items() if k in wanted and k >= first]
    body = bytes((43, 14, code, 0x81, 0, 0, len(chosen))) + b"".join(
        bytes((k, len(v))) + v for k, v in chosen
    )
    pdu = bytes((request[6],)) + body
    return request[:4] + len(pdu).to_bytes(2, "big") + pdu


def busiest_second(times: list[float], window: float = 1.0) -> int:
    """Most timestamps in any half-open window of ``window`` seconds (each starting at a timestamp):
    what a packets-per-second cap promises."""
    times = sorted(times)
    return max((sum(1 for t in times if start <= t < start + window) for start in times), default=0)


class HandshakeBlackhole:
    """A port whose SYNs go unanswered, like a filtered port: a listener with a zero backlog that
    never accepts, its queue filled by connections of its own (later SYNs are dropped)."""

    def __init__(self, address: str) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((address, 0))
        self._sock.listen(0)
        self.address, self.port = self._sock.getsockname()
        self._fill = []
        for _ in range(3):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex((address, self.port))
            self._fill.append(filler)
        time.sleep(0.1)  # let the fillers' handshakes take the queue

    def close(self) -> None:
        for sock in [*self._fill, self._sock]:
            sock.close()
