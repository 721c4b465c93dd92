"""Read and write evidence files: validated on load, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from icsaudit.errors import InputError
from icsaudit.evidence.model import SCHEMA_VERSION, Evidence
from icsaudit.jsonio import write_json_atomic

_decoder = msgspec.json.Decoder(Evidence)


def load_evidence(path: str | os.PathLike[str]) -> Evidence:
    """Load and validate an evidence file; errors name the file and the JSON path."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"{file}: cannot read evidence: {exc.strerror or exc}") from None
    try:
        evidence = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise InputError(
            f"{file}: not valid evidence: {exc}", hint="produce it with `icsaudit analyze`"
        ) from None
    except msgspec.DecodeError as exc:
        raise InputError(f"{file}: not JSON: {exc}") from None
    major = evidence.schema_version.split(".")[0]
    if major != SCHEMA_VERSION.split(".")[0]:
        raise InputError(
            f"{file}: evidence schema {evidence.schema_version} is not supported (this icsaudit reads {SCHEMA_VERSION})"
        )
    return evidence


def save_evidence(evidence: Evidence, path: str | os.PathLike[str]) -> Path:
    return write_json_atomic(path, evidence)
