"""Stable identifiers derived from content, so reruns and merges reproduce the same ids."""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.UUID("6f1d2c5e-3b1a-5c1e-9a57-1c5a0d17ad17")


def digest_id(*parts: object, length: int = 16) -> str:
    """A short hex digest of the parts (joined with a separator that cannot occur in them)."""
    joined = "\x1f".join(str(part) for part in parts)
    return hashlib.blake2b(joined.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()[:length]


def stable_uuid(*parts: object) -> str:
    """A UUIDv5 from the parts (OSCAL needs RFC 4122 UUIDs that rerun identically)."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(str(part) for part in parts)))
