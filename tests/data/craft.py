"""Craft small captures byte by byte (struct, no scapy) for reader and pipeline tests.

Packet builders return bytes; ``pcap`` / ``Pcapng`` write files in any byte order and resolution.
Addresses are strings ("10.0.0.1", "fe80::1", "00:11:22:33:44:55"); all test traffic is synthetic
and only ever written to files.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

MAC_A = "00:1b:1b:00:00:01"  # Siemens OUI
MAC_B = "00:80:f4:00:00:02"  # Schneider (Telemecanique) OUI


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ether(
    payload: bytes,
    ethertype: int = ETH_IPV4,
    *,
    src: str = MAC_A,
    dst: str = MAC_B,
    vlans: Iterable[tuple[int, int]] = (),
) -> bytes:
    """Ethernet II frame; ``vlans`` is a list of (TPID, VLAN id), outermost first (802.1Q, QinQ)."""
    tags = b"".join(struct.pack("!HH", tpid, vid) for tpid, vid in vlans)  # TPID + TCI each
    return mac(dst) + mac(src) + tags + struct.pack("!H", ethertype) + payload


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    *,
    ident: int = 1,
    flags: int = 0,
    frag_offset: int = 0,
    ttl: int = 64,
    options: bytes = b"",
    total: int | None = None,
) -> bytes:
    """IPv4 packet; ``flags`` 0x2000 = MF, 0x4000 = DF; ``frag_offset`` in bytes (multiple of 8)."""
    ihl = (20 + len(options)) // 4
    length = 20 + len(options) + len(payload) if total is None else total
    header = (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x40 | ihl,
            0,
            length,
            ident,
            flags | (frag_offset // 8),
            ttl,
            proto,
            0,
            ip(src),
            ip(dst),
        )
        + options
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def ipv6(
    src: str, dst: str, nxt: int, payload: bytes, *, extensions: Iterable[tuple[int, bytes]] = ()
) -> bytes:
    """IPv6 packet; ``extensions`` is [(header type, header bytes without the next-header byte)...]
    in order; each header's next-header byte is filled in."""
    chain = list(extensions)
    body = b""
    types = [t for t, _ in chain] + [nxt]
    for (_type, raw), following in zip(chain, types[1:], strict=True):
        body += bytes([following]) + raw
    first = types[0]
    body += payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(body), first, 64, ip(src), ip(dst)) + body


def ipv6_options(kind_len_8: int = 0) -> bytes:
    """A hop-by-hop / destination-options header body (without next header): padding only."""
    return bytes([kind_len_8]) + b"\x01\x04\x00\x00\x00\x00" + b"\x00" * (8 * kind_len_8)


def ipv6_fragment(offset: int, more: bool, ident: int) -> bytes:
    """A fragment header body (without next header)."""
    return b"\x00" + struct.pack("!HI", offset | int(more), ident)


def tcp(
    sport: int,
    dport: int,
    seq: int,
    payload: bytes = b"",
    *,
    ack: int = 0,
    flags: int = ACK | PSH,
    options: bytes = b"",
) -> bytes:
    offset = (20 + len(options)) // 4
    return (
        struct.pack(
            "!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags, 65535, 0, 0
        )
        + options
        + payload
    )


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def sll(payload: bytes, protocol: int = ETH_IPV4, *, src: str = MAC_A) -> bytes:
    """Linux cooked capture v1 header (link type 113)."""
    return struct.pack("!HHH", 0, 1, 6) + mac(src) + b"\x00\x00" + struct.pack("!H", protocol) + payload


def sll2(payload: bytes, protocol: int = ETH_IPV4, *, src: str = MAC_A) -> bytes:
    """Linux cooked capture v2 header (link type 276)."""
    return struct.pack("!HHIHBB", protocol, 0, 2, 1, 0, 6) + mac(src) + b"\x00\x00" + payload


def null_loopback(payload: bytes, family: int = 2, endian: str = "<") -> bytes:
    return struct.pack(endian + "I", family) + payload


# -- files ------------------------------------------------------------------------------------
Record = tuple[float, bytes]  # (timestamp seconds, frame bytes)


def pcap(
    records: Iterable[Record],
    linktype: int = 1,
    *,
    endian: str = "<",
    nanos: bool = False,
    snaplen: int = 262144,
) -> bytes:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    ticks = 1_000_000_000 if nanos else 1_000_000
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts, data in records:
        whole = round(ts * ticks)
        out.append(struct.pack(endian + "IIII", whole // ticks, whole % ticks, len(data), len(data)) + data)
    return b"".join(out)


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


class Pcapng:
    """Builds a pcapng file block by block (several sections, interfaces, packet block kinds)."""

    def __init__(self) -> None:
        self.blocks: list[bytes] = []
        self.endian = "<"

    def _block(self, block_type: int, body: bytes) -> Pcapng:
        body = _pad4(body)
        length = 12 + len(body)
        e = self.endian
        self.blocks.append(struct.pack(e + "II", block_type, length) + body + struct.pack(e + "I", length))
        return self

    def section(self, endian: str = "<") -> Pcapng:
        self.endian = endian
        return self._block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1))

    def interface(
        self, linktype: int, *, tsresol: int | None = None, tsoffset: int | None = None, snaplen: int = 0
    ) -> Pcapng:
        e = self.endian
        options = b""
        if tsresol is not None:
            options += struct.pack(e + "HH", 9, 1) + _pad4(bytes([tsresol]))
        if tsoffset is not None:
            options += struct.pack(e + "HHq", 14, 8, tsoffset)
        if options:
            options += struct.pack(e + "HH", 0, 0)
        return self._block(1, struct.pack(e + "HHI", linktype, 0, snaplen) + options)

    def epb(self, iface: int, ticks: int, data: bytes) -> Pcapng:
        e = self.endian
        return self._block(
            6, struct.pack(e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data
        )

    def spb(self, data: bytes) -> Pcapng:
        return self._block(3, struct.pack(self.endian + "I", len(data)) + data)

    def obsolete_pb(self, iface: int, ticks: int, data: bytes) -> Pcapng:
        e = self.endian
        return self._block(
            2,
            struct.pack(e + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data,
        )

    def unknown(self, block_type: int = 0x0BAD, body: bytes = b"ignore me") -> Pcapng:
        return self._block(block_type, body)

    def bytes(self) -> bytes:
        return b"".join(self.blocks)
