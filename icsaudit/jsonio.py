"""Atomic JSON/text writes shared by every stage: a crash never leaves a half-written contract file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder(order="sorted")


def _default_mode() -> int:
    """Permissions a plain open() would give (mkstemp creates 0600; contract files are shareable)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same directory and an atomic rename.

    ``mode`` defaults to what the umask allows; pass 0o600 for secrets (private keys)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode if mode is not None else _default_mode())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def dumps_json(obj: Any, indent: int = 1) -> bytes:
    """Deterministic JSON (sorted keys) for structs and builtins alike."""
    raw = _encoder.encode(obj)
    return msgspec.json.format(raw, indent=indent) + b"\n" if indent else raw


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int = 1) -> Path:
    return write_bytes_atomic(path, dumps_json(obj, indent))
