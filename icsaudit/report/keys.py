"""Ed25519 signing keys for bundles: PEM files, private key 0600, public key next to it (.pub)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from icsaudit.errors import InputError
from icsaudit.jsonio import write_bytes_atomic
from icsaudit.report.io import write_file


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """Short fingerprint people can compare on the phone: first 16 hex of SHA-256 of the raw key."""
    return hashlib.sha256(public_raw(key)).hexdigest()[:16]


def new_keypair(path: Path, force: bool = False) -> tuple[Path, Path, str]:
    pub_path = path.with_name(path.name + ".pub")
    for target in (path, pub_path):
        if target.exists() and not force:
            raise InputError(f"{target}: already exists; refusing to overwrite a key (use --force)")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_bytes_atomic(path, pem)  # mkstemp: created 0600, never readable by others even for a moment
    os.chmod(path, 0o600)
    public = private.public_key()
    write_file(
        pub_path,
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    )
    return path, pub_path, key_id(public)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read key: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise InputError(
            f"{path}: not an unencrypted PEM private key",
            hint="create one with `icsaudit keys new -o KEYFILE`",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A .pub PEM file; a private key file is accepted too (its public half is used)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read key: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            raise InputError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{path}: not an Ed25519 public key")
    return key


def public_from_b64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
