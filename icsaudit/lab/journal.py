"""The request journal: one JSON line per request a lab device received, never dropped.

Each device process appends to its own file (``journal/<device>.jsonl`` in the runtime dir) with
one ``write`` per line on an O_APPEND descriptor, so lines never interleave and a reader can tail
the files while the lab runs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from icsaudit.evidence.model import OPERATION_CATEGORIES

RESULTS = ("accepted", "refused")


def normalize_category(category: str | None) -> str:
    """Map anything that is not a known operation category to "other" (never drop a request)."""
    return category if category in OPERATION_CATEGORIES else "other"


class Journal:
    """Appends request records of one device to a JSONL file; safe to call from several threads."""

    def __init__(self, path: Path, device: str, protocol: str, address: str, port: int) -> None:
        self.path = Path(path)
        self.device = device
        self.protocol = protocol
        self.address = address
        self.port = port
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()

    def record(
        self,
        peer: tuple[str, int] | str | None,
        function: str,
        category: str | None,
        result: str = "accepted",
        protocol: str | None = None,
        **detail: Any,
    ) -> dict[str, Any]:
        """Write one request record and return it."""
        if isinstance(peer, tuple):
            peer_ip, peer_port = str(peer[0]), int(peer[1])
        else:
            peer_ip, peer_port = str(peer or ""), 0
        entry = {
            "ts": round(time.time(), 6),
            "device": self.device,
            "address": self.address,
            "port": self.port,
            "protocol": protocol or self.protocol,
            "peer": peer_ip,
            "peer_port": peer_port,
            "function": function,
            "category": normalize_category(category),
            "result": result if result in RESULTS else "refused",
        }
        if detail:
            entry["detail"] = detail
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)
        return entry

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_journal(paths: Iterable[Path], device: str | None = None) -> list[dict[str, Any]]:
    """All records of the given journal files (optionally one device), sorted by time."""
    records: list[dict[str, Any]] = []
    for path in paths:
        for record in _lines(path):
            if device is None or record.get("device") == device:
                records.append(record)
    records.sort(key=lambda r: (r.get("ts", 0.0), r.get("device", "")))
    return records


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return
    for line in text.splitlines():
        if line.endswith("}"):  # a line still being written is skipped, not misparsed
            yield json.loads(line)
