"""Load assessments for the renderers and write report files atomically (readable, not 0600)."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from icsaudit.engine.model import ASSESSMENT_SCHEMA_VERSION, Assessment
from icsaudit.errors import InputError
from icsaudit.jsonio import write_bytes_atomic

_decoder = msgspec.json.Decoder(Assessment)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_file(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Atomic write; mkstemp creates 0600 files, but reports are meant to be shared, so honour the umask."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    target = write_bytes_atomic(path, raw)
    target.chmod(0o666 & ~_umask())
    return target


def decode_assessment(data: bytes, name: str) -> Assessment:
    """Decode and check an assessment; every problem is one line naming ``name``."""
    try:
        assessment = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise InputError(
            f"{name}: not an icsaudit assessment: {exc}",
            hint="produce it with `icsaudit assess` or `icsaudit audit`",
        ) from None
    except msgspec.DecodeError as exc:
        raise InputError(f"{name}: not JSON: {exc}") from None
    major = assessment.schema_version.split(".")[0]
    if major != ASSESSMENT_SCHEMA_VERSION.split(".")[0]:
        raise InputError(
            f"{name}: assessment schema {assessment.schema_version} is not supported "
            f"(this icsaudit reads {ASSESSMENT_SCHEMA_VERSION})"
        )
    return assessment


def load_assessment(path: str | os.PathLike[str]) -> Assessment:
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"{file}: cannot read assessment: {exc.strerror or exc}") from None
    return decode_assessment(data, str(file))
