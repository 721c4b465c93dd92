"""A minimal BER (X.690) walker shared by the IEC 61850 dissectors (MMS, GOOSE, SV).

Definite lengths only (MMS, GOOSE and SV never use the indefinite form). Everything works on
(buffer, start, end) offsets so a PDU is never copied while it is walked; malformed input raises
``BerError``, which a dissector turns into ``session.error``.
"""

from __future__ import annotations

from collections.abc import Iterator

# Identifier octet class bits.
UNIVERSAL = 0x00
APPLICATION = 0x40
CONTEXT = 0x80
PRIVATE = 0xC0
CONSTRUCTED = 0x20

MAX_LENGTH_OCTETS = 4  # lengths above 4 GiB cannot occur inside a bounded buffer


class BerError(ValueError):
    """The bytes are not well-formed BER."""


def read_tlv(buf: bytes, off: int, end: int) -> tuple[int, int, int, int]:
    """Read one TLV at ``off``: (class|constructed bits, tag number, value start, value end)."""
    if off + 2 > end:
        raise BerError(f"truncated TLV at offset {off}")
    ident = buf[off]
    off += 1
    number = ident & 0x1F
    if number == 0x1F:  # high-tag-number form: base-128 digits, last one without bit 8
        number = 0
        for _ in range(4):
            if off >= end:
                raise BerError("truncated high tag number")
            octet = buf[off]
            off += 1
            number = (number << 7) | (octet & 0x7F)
            if not octet & 0x80:
                break
        else:
            raise BerError("tag number too long")
    if off >= end:
        raise BerError("missing length")
    length = buf[off]
    off += 1
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise BerError("indefinite length not supported")
        if count > MAX_LENGTH_OCTETS or off + count > end:
            raise BerError("bad length")
        length = int.from_bytes(buf[off : off + count], "big")
        off += count
    if off + length > end:
        raise BerError(f"value overruns its container ({length} bytes at offset {off})")
    return ident & 0xE0, number, off, off + length


def children(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """The TLVs contained in [start, end), in order."""
    off = start
    while off < end:
        tlv = read_tlv(buf, off, end)
        yield tlv
        off = tlv[3]


def to_int(buf: bytes, start: int, end: int) -> int:
    """A two's-complement INTEGER (an empty value reads as 0)."""
    return int.from_bytes(buf[start:end], "big", signed=True)


def to_uint(buf: bytes, start: int, end: int) -> int:
    return int.from_bytes(buf[start:end], "big")


def to_text(buf: bytes, start: int, end: int) -> str:
    """A VisibleString/GraphicString as text, blanks and NULs stripped (as the corpus truth)."""
    return buf[start:end].decode("latin-1").strip(" \x00\t\r\n")


def find(buf: bytes, start: int, end: int, cls_bits: int, number: int) -> tuple[int, int] | None:
    """Value span of the first child with this class|constructed bits and tag number, or None."""
    for bits, num, vstart, vend in children(buf, start, end):
        if bits == cls_bits and num == number:
            return vstart, vend
    return None
