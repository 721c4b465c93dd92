"""Streaming pcap / pcapng reader.

Reads the file in large chunks and slices records out of a memoryview with struct, so memory stays
at one chunk whatever the capture size. Handles pcap (µs and ns, both byte orders) and pcapng
(several sections and interfaces, EPB, SPB and the obsolete PB, per-interface link type and
timestamp resolution). A record cut short at the end of the file or a block with an impossible
length stops reading with a ``problem`` recorded, keeping everything read before it.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from icsaudit.errors import InputError

CHUNK = 4 << 20
MAX_RECORD = 16 << 20  # larger than any snaplen in use (262144); beyond it a record is corrupt

# Link types we decode, with the capinfos -E names the corpus truth uses (lower case, "_" separators).
LINKTYPE_NAMES = {
    0: "null_loopback",
    1: "ethernet",
    101: "raw_ip",
    108: "openbsd_loopback",
    113: "linux_cooked_mode_capture_v1",
    228: "raw_ipv4",
    229: "raw_ipv6",
    276: "linux_cooked_mode_capture_v2",
}
# DLT_RAW has two numbers depending on the platform that wrote the file.
LINKTYPE_ALIASES = {12: 101, 14: 101}

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"


def linktype_name(linktype: int) -> str:
    return LINKTYPE_NAMES.get(LINKTYPE_ALIASES.get(linktype, linktype), f"linktype_{linktype}")


@dataclass
class ReadState:
    """What the reader learned about the file; filled while iterating."""

    path: Path
    format: str = ""
    link_types: set[int] = field(default_factory=set)
    packets: int = 0
    bytes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    problems: list[str] = field(default_factory=list)
    complete: bool = True
    bytes_read: int = 0  # file offset reached, for progress
    size: int = 0
    sha256: str = ""


class _Chunked:
    """A sliding window over a file: ``need(n)`` guarantees n bytes at ``pos`` or reports EOF."""

    def __init__(self, handle, hasher) -> None:
        self.handle = handle
        self.hasher = hasher
        self.buf = b""
        self.pos = 0
        self.base = 0  # file offset of buf[0]
        self.eof = False

    def need(self, n: int) -> bool:
        if len(self.buf) - self.pos >= n:
            return True
        while not self.eof and len(self.buf) - self.pos < n:
            more = self.handle.read(max(CHUNK, n))
            if not more:
                self.eof = True
                break
            self.hasher.update(more)
            self.base += self.pos
            self.buf = self.buf[self.pos :] + more
            self.pos = 0
        return len(self.buf) - self.pos >= n

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def drain_hash(self) -> None:
        """Hash the rest of the file (after a stop on a corrupt record) so sha256 is of the whole file."""
        while True:
            more = self.handle.read(CHUNK)
            if not more:
                break
            self.hasher.update(more)


def open_capture(path: str | os.PathLike[str]) -> tuple[ReadState, Iterator[tuple[int, float, int, bytes, int]]]:
    """Open a capture; return its state and an iterator of (frame, ts, linktype, data, orig_len).

    Raises InputError (naming the file) when the file is missing, empty or not a capture.
    """
    file = Path(path)
    try:
        handle = file.open("rb")
    except OSError as exc:
        raise InputError(f"{file}: cannot open capture: {exc.strerror or exc}") from None
    state = ReadState(path=file, size=os.fstat(handle.fileno()).st_size)
    magic = handle.read(4)
    if len(magic) < 4:
        handle.close()
        raise InputError(f"{file}: empty or too short to be a capture ({state.size} bytes)")
    handle.seek(0)
    if magic in PCAP_MAGICS:
        state.format = "pcap"
        return state, _iter_pcap(handle, state)
    if magic == PCAPNG_SHB:
        state.format = "pcapng"
        return state, _iter_pcapng(handle, state)
    handle.close()
    raise InputError(
        f"{file}: not a pcap or pcapng file (starts with {magic.hex()})",
        hint="convert it with `editcap -F pcap` if it is another capture format",
    )


def _finish(state: ReadState, window: _Chunked, hasher) -> None:
    window.drain_hash()
    state.sha256 = hasher.hexdigest()
    state.bytes_read = state.size


def _iter_pcap(handle, state: ReadState) -> Iterator[tuple[int, float, int, bytes, int]]:
    hasher = hashlib.sha256()
    window = _Chunked(handle, hasher)
    try:
        if not window.need(24):
            state.complete = False
            raise InputError(f"{state.path}: pcap global header truncated ({state.size} bytes)")
        endian, resolution = PCAP_MAGICS[bytes(window.buf[0:4])]
        (linktype,) = struct.unpack_from(endian + "I", window.buf, 20)
        linktype &= 0x0FFFFFFF  # upper bits carry FCS info
        state.link_types.add(linktype)
        window.pos = 24
        header = struct.Struct(endian + "IIII")
        frame = 0
        while True:
            if not window.need(16):
                if len(window.buf) - window.pos:
                    state.complete = False
                    state.problems.append(
                        f"truncated record header at byte {window.offset} after frame {frame}"
                    )
                break
            sec, frac, caplen, origlen = header.unpack_from(window.buf, window.pos)
            if caplen > MAX_RECORD:
                state.complete = False
                state.problems.append(
                    f"corrupt record at byte {window.offset} (frame {frame + 1}): captured length {caplen}"
                )
                break
            if not window.need(16 + caplen):
                state.complete = False
                state.problems.append(
                    f"truncated packet at byte {window.offset} (frame {frame + 1}): "
                    f"{len(window.buf) - window.pos - 16} of {caplen} bytes"
                )
                break
            start = window.pos + 16
            data = window.buf[start : start + caplen]
            window.pos = start + caplen
            frame += 1
            ts = sec + frac * resolution
            state.packets = frame
            state.bytes += caplen
            if state.first_ts is None or ts < state.first_ts:
                state.first_ts = ts
            if state.last_ts is None or ts > state.last_ts:
                state.last_ts = ts
            state.bytes_read = window.offset
            yield frame, ts, linktype, data, origlen
    finally:
        _finish(state, window, hasher)
        handle.close()


def _tsresol(value: int) -> float:
    if value & 0x80:
        return 2.0 ** -(value & 0x7F)
    return 10.0 ** -(value & 0x7F)


def _iter_pcapng(handle, state: ReadState) -> Iterator[tuple[int, float, int, bytes, int]]:
    hasher = hashlib.sha256()
    window = _Chunked(handle, hasher)
    endian = "<"
    interfaces: list[tuple[int, float, int]] = []  # (linktype, ts unit seconds, snaplen)
    frame = 0
    try:
        while True:
            if not window.need(12):
                if len(window.buf) - window.pos:
                    state.complete = False
                    state.problems.append(f"truncated block header at byte {window.offset} after frame {frame}")
                break
            buf, pos = window.buf, window.pos
            block_type_raw = bytes(buf[pos : pos + 4])
            if block_type_raw == PCAPNG_SHB:
                bom = bytes(buf[pos + 8 : pos + 12])
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    state.complete = False
                    state.problems.append(f"corrupt section header at byte {window.offset}")
                    break
                interfaces = []  # interface ids are per section
            block_type, block_len = struct.unpack_from(endian + "II", buf, pos)
            if block_len < 12 or block_len % 4 or block_len > MAX_RECORD:
                state.complete = False
                state.problems.append(
                    f"corrupt block at byte {window.offset} (after frame {frame}): length {block_len}"
                )
                break
            if not window.need(block_len):
                state.complete = False
                state.problems.append(
                    f"truncated block at byte {window.offset} (after frame {frame}): "
                    f"{len(window.buf) - window.pos} of {block_len} bytes"
                )
                break
            buf, pos = window.buf, window.pos
            body = pos + 8
            end = pos + block_len - 4
            window.pos = pos + block_len
            state.bytes_read = window.offset
            if block_type == 1:  # Interface Description Block
                linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", buf, body)
                unit = 1e-6
                opt = body + 8
                while opt + 4 <= end:
                    code, length = struct.unpack_from(endian + "HH", buf, opt)
                    if code == 0:
                        break
                    if code == 9 and length >= 1:
                        unit = _tsresol(buf[opt + 4])
                    opt += 4 + ((length + 3) & ~3)
                interfaces.append((linktype, unit, snaplen))
                state.link_types.add(linktype)
                continue
            if block_type == 6:  # Enhanced Packet Block
                iface, ts_high, ts_low, caplen, origlen = struct.unpack_from(endian + "IIIII", buf, body)
                data_start = body + 20
            elif block_type == 3:  # Simple Packet Block: interface 0, no timestamp
                (origlen,) = struct.unpack_from(endian + "I", buf, body)
                iface, ts_high, ts_low = 0, 0, 0
                snaplen = interfaces[0][2] if interfaces else 0
                caplen = min(origlen, snaplen) if snaplen else origlen
                caplen = min(caplen, end - (body + 4))
                data_start = body + 4
            elif block_type == 2:  # obsolete Packet Block
                iface, _drops, ts_high, ts_low, caplen, origlen = struct.unpack_from(endian + "HHIIII", buf, body)
                data_start = body + 20
            else:
                continue  # name resolution, statistics, custom, DSB ...: not needed
            if iface >= len(interfaces) or data_start + caplen > end:
                state.problems.append(f"packet block at byte {window.offset - block_len} names unknown interface {iface} or overruns its block; skipped")
                continue
            linktype, unit, _snap = interfaces[iface]
            frame += 1
            ts = ((ts_high << 32) | ts_low) * unit
            data = buf[data_start : data_start + caplen]
            state.packets = frame
            state.bytes += caplen
            if block_type != 3:
                if state.first_ts is None or ts < state.first_ts:
                    state.first_ts = ts
                if state.last_ts is None or ts > state.last_ts:
                    state.last_ts = ts
            yield frame, ts, linktype, data, origlen
    finally:
        _finish(state, window, hasher)
        handle.close()
