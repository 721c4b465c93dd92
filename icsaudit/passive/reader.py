"""Streaming pcap / pcapng reader.

Reads the file in large chunks and slices records out of the chunk with struct, so memory stays at
one chunk whatever the capture size. Handles pcap (µs and ns, both byte orders) and pcapng (several
sections and interfaces, EPB, SPB and the obsolete PB, per-interface link type, if_tsresol and
if_tsoffset; unknown blocks are skipped). The file header is checked when the capture is opened, so a
file that is not a capture fails before any packet is analyzed. A record cut short at the end of the
file or a record/block with an impossible length stops reading with a ``problem`` recorded (naming
the byte offset and frame), keeping everything read before it.
"""

from __future__ import annotations

import hashlib
import os
import queue
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from icsaudit.errors import InputError

CHUNK = 4 << 20
# Wireshark refuses records above 262144 bytes for the link types we read (wtap_max_snaplen); a
# larger captured length means the record header is corrupt. Files declaring a bigger snaplen get it.
STANDARD_MAX_RECORD = 262_144
MAX_RECORD = 16 << 20  # never trust more than this, whatever the header says
MAX_PROBLEMS = 20  # problems listed per file; the rest are counted
STATE_SYNC_EVERY = 4096  # records between updates of ReadState (progress) while iterating

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
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
PCAPNG_BOM_LE = b"\x4d\x3c\x2b\x1a"
PCAPNG_BOM_BE = b"\x1a\x2b\x3c\x4d"

# Smallest valid length of the blocks we read (header, fixed fields, trailer), by block type.
_MIN_BLOCK = {0x0A0D0D0A: 28, 1: 20, 2: 32, 3: 16, 6: 32}

Record = tuple[int, float, int, bytes, int]  # (frame, ts, linktype, data, orig_len)


def linktype_name(linktype: int) -> str:
    return LINKTYPE_NAMES.get(LINKTYPE_ALIASES.get(linktype, linktype), f"linktype_{linktype}")


def linktype_supported(linktype: int) -> bool:
    return LINKTYPE_ALIASES.get(linktype, linktype) in LINKTYPE_NAMES


@dataclass
class ReadState:
    """What the reader learned about the file; filled while iterating (complete once exhausted)."""

    path: Path
    format: str = ""
    link_types: set[int] = field(default_factory=set)
    packets: int = 0
    bytes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    problems: list[str] = field(default_factory=list)
    problems_dropped: int = 0
    complete: bool = True
    bytes_read: int = 0  # file offset reached, for progress
    size: int = 0
    sha256: str = ""

    def problem(self, message: str, *, stops: bool = False) -> None:
        if stops:
            self.complete = False
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)
        else:
            self.problems_dropped += 1


class _BackgroundSha256:
    """sha256 of the blocks given to ``update``, in order, computed on a thread of its own: hashlib
    releases the GIL on large blocks, so hashing the capture overlaps with parsing it."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        # Bounded: reading the rest of a file after a stop must not pile it up in memory.
        self._blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._run, name="icsaudit-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        get, update = self._blocks.get, self._sha.update
        while (block := get()) is not None:
            update(block)

    def update(self, block: bytes) -> None:
        self._blocks.put(block)

    def stop(self) -> None:
        """Let the thread end (idempotent); the digest covers what was given before."""
        if self._thread.is_alive():
            self._blocks.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        self.stop()
        return self._sha.hexdigest()


class _Chunked:
    """A sliding window over a file: ``need(n)`` guarantees n bytes at ``pos`` or reports EOF.

    Every byte read is hashed once (in the background), so the file's sha256 costs no second pass.
    """

    __slots__ = ("handle", "hasher", "buf", "pos", "base", "eof")

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.hasher = _BackgroundSha256()
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

    @property
    def left(self) -> int:
        return len(self.buf) - self.pos

    def finish(self, state: ReadState) -> None:
        """Hash the rest of the file (after a stop on a corrupt record) so sha256 is of the whole file."""
        while True:
            more = self.handle.read(CHUNK)
            if not more:
                break
            self.hasher.update(more)
        state.sha256 = self.hasher.hexdigest()
        state.bytes_read = state.size
        self.handle.close()


def open_capture(path: str | os.PathLike[str]) -> tuple[ReadState, Iterator[Record]]:
    """Open a capture; return its state and an iterator of (frame, ts, linktype, data, orig_len).

    Raises InputError (naming the file) when the file is missing, not a regular file, empty, not a
    capture, or its file header is truncated or corrupt.
    """
    file = Path(path)
    if file.is_dir():
        raise InputError(
            f"{file}: is a directory, not a capture file", hint="pass the capture files inside it"
        )
    try:
        handle = file.open("rb")
    except OSError as exc:
        raise InputError(f"{file}: cannot open capture: {exc.strerror or exc}") from None
    state = ReadState(path=file, size=os.fstat(handle.fileno()).st_size)
    window = _Chunked(handle)
    try:
        if not window.need(4):
            raise InputError(f"{file}: empty or too short to be a capture ({state.size} bytes)")
        magic = bytes(window.buf[0:4])
        if magic in PCAP_MAGICS:
            state.format = "pcap"
            records = _iter_pcap(window, state, *_pcap_header(window, state))
        elif magic == PCAPNG_SHB:
            state.format = "pcapng"
            _check_first_shb(window, state)
            records = _iter_pcapng(window, state)
        else:
            raise InputError(
                f"{file}: not a pcap or pcapng file (starts with {magic.hex()})",
                hint="convert it with `editcap -F pcap` if it is another capture format",
            )
    except BaseException:
        window.hasher.stop()
        handle.close()
        raise
    return state, records


def _pcap_header(window: _Chunked, state: ReadState) -> tuple[str, int, int, int]:
    """Validate the 24-byte pcap global header: (endian, ticks per second, linktype, max record)."""
    if not window.need(24):
        raise InputError(f"{state.path}: pcap global header truncated ({state.size} of 24 bytes)")
    endian, ticks = PCAP_MAGICS[bytes(window.buf[0:4])]
    major, _minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(endian + "HHiIII", window.buf, 4)
    if major != 2:
        raise InputError(f"{state.path}: pcap version {major} is not supported (byte 4)")
    linktype &= 0xFFFF  # the upper bits carry FCS length information
    state.link_types.add(linktype)
    window.pos = 24
    state.bytes_read = 24
    return endian, ticks, linktype, min(max(snaplen, STANDARD_MAX_RECORD), MAX_RECORD)


def _iter_pcap(
    window: _Chunked, state: ReadState, endian: str, ticks: int, linktype: int, max_record: int
) -> Iterator[Record]:
    header = struct.Struct(endian + "IIII")
    unpack = header.unpack_from
    frame = 0
    nbytes = 0
    first = last = None
    # The window's buffer and position are kept in locals (window.pos is written back only where the
    # window is asked for more or reports a place): attribute traffic per record is measurable here.
    buf, pos = window.buf, window.pos
    size = len(buf)
    try:
        while True:
            if size - pos < 16:
                window.pos = pos
                if not window.need(16):
                    if window.left:
                        state.problem(
                            f"truncated record header at byte {window.offset} after frame {frame}", stops=True
                        )
                    break
                buf, pos = window.buf, window.pos
                size = len(buf)
            sec, frac, caplen, origlen = unpack(buf, pos)
            if caplen > max_record:
                window.pos = pos
                state.problem(
                    f"corrupt record at byte {window.offset} (frame {frame + 1}): captured length {caplen} "
                    f"exceeds {max_record}; stopped reading there",
                    stops=True,
                )
                break
            end = pos + 16 + caplen
            if end > size:
                window.pos = pos
                if not window.need(16 + caplen):
                    state.problem(
                        f"truncated packet at byte {window.offset} (frame {frame + 1}): "
                        f"{window.left - 16} of {caplen} bytes",
                        stops=True,
                    )
                    break
                buf, pos = window.buf, window.pos
                size = len(buf)
                end = pos + 16 + caplen
            data = buf[pos + 16 : end]
            pos = end
            frame += 1
            nbytes += caplen
            ts = sec + frac / ticks
            if first is None:
                first = last = ts
            elif ts > last:
                last = ts
            elif ts < first:
                first = ts
            if not frame % STATE_SYNC_EVERY:
                window.pos = pos
                state.packets, state.bytes, state.bytes_read = frame, nbytes, window.offset
                state.first_ts, state.last_ts = first, last
            yield frame, ts, linktype, data, origlen
    finally:
        window.pos = pos
        state.packets, state.bytes = frame, nbytes
        state.first_ts, state.last_ts = first, last
        window.finish(state)


def _check_first_shb(window: _Chunked, state: ReadState) -> None:
    if not window.need(12):
        raise InputError(f"{state.path}: pcapng section header truncated ({state.size} bytes)")
    bom = bytes(window.buf[8:12])
    if bom not in (PCAPNG_BOM_LE, PCAPNG_BOM_BE):
        raise InputError(
            f"{state.path}: pcapng section header has a bad byte-order magic {bom.hex()} (byte 8)"
        )


def _if_options(buf: bytes, opt: int, end: int, endian: str) -> tuple[int, int]:
    """(timestamp ticks per second, offset seconds) from an Interface Description Block's options."""
    ticks, offset = 1_000_000, 0
    while opt + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, opt)
        if code == 0:
            break
        if code == 9 and length >= 1:  # if_tsresol: 10^-n, or 2^-n with the high bit set
            value = buf[opt + 4]
            ticks = 2 ** (value & 0x7F) if value & 0x80 else 10 ** (value & 0x7F)
        elif code == 14 and length >= 8:  # if_tsoffset: seconds added to every timestamp
            (offset,) = struct.unpack_from(endian + "q", buf, opt + 4)
        opt += 4 + ((length + 3) & ~3)
    return ticks, offset


def _iter_pcapng(window: _Chunked, state: ReadState) -> Iterator[Record]:
    endian = "<"
    interfaces: list[tuple[int, int, int, int]] = []  # (linktype, ticks per second, offset s, snaplen)
    frame = 0
    nbytes = 0
    first = last = None
    try:
        while True:
            if not window.need(12):
                if window.left:
                    state.problem(
                        f"truncated block header at byte {window.offset} after frame {frame}", stops=True
                    )
                break
            buf, pos = window.buf, window.pos
            if buf[pos : pos + 4] == PCAPNG_SHB:
                bom = bytes(buf[pos + 8 : pos + 12])
                if bom == PCAPNG_BOM_LE:
                    endian = "<"
                elif bom == PCAPNG_BOM_BE:
                    endian = ">"
                else:
                    state.problem(
                        f"corrupt section header at byte {window.offset} (after frame {frame})", stops=True
                    )
                    break
                interfaces = []  # interface ids are per section
            block_type, block_len = struct.unpack_from(endian + "II", buf, pos)
            if block_len < 12 or block_len % 4 or block_len > MAX_RECORD:
                state.problem(
                    f"corrupt block at byte {window.offset} (after frame {frame}): length {block_len}; "
                    "stopped reading there",
                    stops=True,
                )
                break
            if not window.need(block_len):
                state.problem(
                    f"truncated block at byte {window.offset} (after frame {frame}): "
                    f"{window.left} of {block_len} bytes",
                    stops=True,
                )
                break
            buf, pos = window.buf, window.pos
            (trailer,) = struct.unpack_from(endian + "I", buf, pos + block_len - 4)
            if trailer != block_len:
                state.problem(
                    f"corrupt block at byte {window.offset} (after frame {frame}): length {block_len} "
                    f"but trailing length {trailer}; stopped reading there",
                    stops=True,
                )
                break
            block_offset = window.offset
            if block_len < _MIN_BLOCK.get(block_type, 12):
                state.problem(
                    f"corrupt block at byte {block_offset} (after frame {frame}): type {block_type} "
                    f"cannot be {block_len} bytes long; stopped reading there",
                    stops=True,
                )
                break
            body = pos + 8
            end = pos + block_len - 4
            window.pos = pos + block_len
            if block_type == 6:  # Enhanced Packet Block
                iface, ts_high, ts_low, caplen, origlen = struct.unpack_from(endian + "IIIII", buf, body)
                data_start = body + 20
            elif block_type == 1:  # Interface Description Block
                linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", buf, body)
                ticks, offset = _if_options(buf, body + 8, end, endian)
                interfaces.append((linktype, ticks, offset, snaplen))
                state.link_types.add(linktype)
                continue
            elif block_type == 3:  # Simple Packet Block: interface 0, no timestamp
                (origlen,) = struct.unpack_from(endian + "I", buf, body)
                iface, ts_high, ts_low = 0, 0, 0
                snaplen = interfaces[0][3] if interfaces else 0
                caplen = min(origlen, snaplen) if snaplen else origlen
                caplen = min(caplen, end - (body + 4))
                data_start = body + 4
            elif block_type == 2:  # obsolete Packet Block
                iface, _drops, ts_high, ts_low, caplen, origlen = struct.unpack_from(
                    endian + "HHIIII", buf, body
                )
                data_start = body + 20
            else:
                continue  # name resolution, statistics, custom, decryption secrets ...: not needed
            if iface >= len(interfaces) or data_start + caplen > end:
                state.problem(
                    f"packet block at byte {block_offset} (after frame {frame}) names unknown interface "
                    f"{iface} or overruns its block; skipped"
                )
                continue
            linktype, ticks, offset, _snap = interfaces[iface]
            frame += 1
            nbytes += caplen
            data = buf[data_start : data_start + caplen]
            # Integer ticks over an integer rate: correctly rounded, unlike ticks * 1e-9.
            ts = offset + ((ts_high << 32) | ts_low) / ticks
            if block_type != 3:
                if first is None:
                    first = last = ts
                elif ts > last:
                    last = ts
                elif ts < first:
                    first = ts
            if not frame % STATE_SYNC_EVERY:
                state.packets, state.bytes, state.bytes_read = frame, nbytes, window.offset
                state.first_ts, state.last_ts = first, last
            yield frame, ts, linktype, data, origlen
    finally:
        state.packets, state.bytes = frame, nbytes
        state.first_ts, state.last_ts = first, last
        window.finish(state)
