"""EtherNet/IP + CIP device (own asyncio server; no maintained Python adapter library fits).

Answers ListIdentity / ListServices over TCP and UDP, RegisterSession / UnRegisterSession, and over
SendRRData: Get_Attribute_All on the identity object (class 1 instance 1) and Read Tag (0x4C) on
symbolic tags. Other CIP services get status 0x08 (service not supported) and are journaled as refused.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from icsaudit.lab.devices.base import IDLE_TIMEOUT, peer_of, serve_tcp
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec
from icsaudit.lab.safety import require_loopback

HEADER = struct.Struct("<HHII8sI")  # command, length, session, status, sender context, options
COMMANDS: dict[int, tuple[str, str]] = {
    0x0004: ("list_services", "identify"),
    0x0063: ("list_identity", "identify"),
    0x0064: ("list_interfaces", "identify"),
    0x0065: ("register_session", "other"),
    0x0066: ("unregister_session", "other"),
    0x006F: ("send_rr_data", "other"),  # the CIP service inside decides
    0x0070: ("send_unit_data", "other"),
}
CIP_SERVICES: dict[int, str] = {
    0x01: "identify",  # Get_Attributes_All (read of the identity object)
    0x0E: "read",  # Get_Attribute_Single
    0x03: "read",  # Get_Attribute_List
    0x4C: "read",  # Read Tag
    0x52: "read",  # Read Tag Fragmented
    0x4D: "write",  # Write Tag
    0x53: "write",  # Write Tag Fragmented
    0x4E: "write",  # Read-Modify-Write Tag
    0x10: "write",  # Set_Attribute_Single
    0x02: "write",  # Set_Attributes_All
    0x04: "write",  # Set_Attribute_List
    0x05: "mode",  # Reset
    0x06: "mode",  # Start
    0x07: "mode",  # Stop
    0x08: "program",  # Create
    0x09: "program",  # Delete
    0x0A: "read",  # Multiple_Service_Packet (its members decide; counted as a read wrapper)
    0x54: "other",  # Forward_Open (connection setup)
}
MAX_REQUESTS_PER_CONNECTION = 256


def _identity_item(spec: DeviceSpec, port: int) -> bytes:
    ident = spec.identity
    major, _, minor = (ident.firmware or "1.1").partition(".")
    name = (ident.order_number or ident.model).encode()[:32]
    serial = int(ident.serial, 16) if ident.serial.lower().startswith("0x") else int(ident.serial or 0)
    body = (
        struct.pack("<H", 1)
        + struct.pack(">hH4s8x", 2, port, socket.inet_aton(spec.address))
        + struct.pack(
            "<HHHBBHI",
            ident.vendor_id or 1,
            ident.device_type or 14,
            ident.product_code or 1,
            int(major or 1),
            int(minor or 1),
            0x3160,
            serial,
        )
        + bytes([len(name)])
        + name
        + b"\x03"  # state: operational
    )
    return struct.pack("<HH", 0x0C, len(body)) + body


def _list_reply(command: int, spec: DeviceSpec, port: int, context: bytes) -> bytes:
    if command == 0x0063:
        items = _identity_item(spec, port)
    elif command == 0x0004:  # one service: communications, CIP over TCP and UDP
        service = struct.pack("<HHH", 1, 0x0120, 0x0100 | 0x20) + b"Communications\x00\x00"
        items = struct.pack("<HH", 0x100, len(service)) + service
    else:  # list interfaces: none
        return HEADER.pack(command, 2, 0, 0, context, 0) + struct.pack("<H", 0)
    payload = struct.pack("<H", 1) + items
    return HEADER.pack(command, len(payload), 0, 0, context, 0) + payload


class EnipDevice:
    def __init__(self, spec: DeviceSpec, port: int, journal: Journal) -> None:
        self.spec, self.port, self.journal = spec, port, journal
        self.tags: dict[str, int] = {
            str(k): int(v) for k, v in spec.options.get("tags", {"Pump1_Speed": 1450}).items()
        }
        self.next_session = 0x1000

    def _cip(self, request: bytes) -> tuple[bytes, str, str, bool]:
        """Answer one unconnected CIP request: (reply, function, category, accepted)."""
        service, path_words = request[0], request[1]
        path = request[2 : 2 + 2 * path_words]
        function = f"svc/0x{service:02x}"
        category = CIP_SERVICES.get(service, "other")
        if service == 0x01 and path[:4] == b"\x20\x01\x24\x01":
            item = _identity_item(self.spec, self.port)[4 + 2 + 16 :]  # the identity attributes
            return bytes([service | 0x80, 0, 0, 0]) + item[:-1], function, category, True
        if service == 0x4C and path[:1] == b"\x91":
            tag = path[2 : 2 + path[1]].decode(errors="replace")
            if tag in self.tags:
                return (
                    bytes([0xCC, 0, 0, 0]) + struct.pack("<Hh", 0xC3, self.tags[tag]),
                    function,
                    category,
                    True,
                )
            return bytes([0xCC, 0, 0x04, 0]), function, category, False  # path segment error
        return bytes([service | 0x80, 0, 0x08, 0]), function, category, False  # service not supported

    def handle(self, data: bytes, peer: tuple[str, int], udp: bool) -> bytes | None:
        """One encapsulation packet in, its reply out (None: no reply)."""
        if len(data) < HEADER.size:
            self.journal.record(peer, "short", "other", "refused", transport="udp" if udp else "tcp")
            return None
        command, length, session, _status, context, _options = HEADER.unpack_from(data)
        body = data[HEADER.size : HEADER.size + length]
        name, category = COMMANDS.get(command, (f"0x{command:04x}", "other"))
        function = f"cmd/0x{command:04x}"
        transport = "udp" if udp else "tcp"
        if command in (0x0004, 0x0063, 0x0064):
            self.journal.record(peer, function, category, "accepted", transport=transport)
            return _list_reply(command, self.spec, self.port, context)
        if udp:  # only the List* commands are valid over UDP
            self.journal.record(peer, function, category, "refused", transport=transport)
            return None
        if command == 0x0065:
            self.next_session += 1
            self.journal.record(peer, function, "other", "accepted", transport=transport)
            return HEADER.pack(0x65, 4, self.next_session, 0, context, 0) + struct.pack("<HH", 1, 0)
        if command == 0x0066:
            self.journal.record(peer, function, "other", "accepted", transport=transport)
            return None
        if command == 0x006F and len(body) >= 16:
            # interface handle, timeout, item count, null address item, unconnected data item
            data_len = struct.unpack_from("<H", body, 14)[0]
            cip = body[16 : 16 + data_len]
            reply, cip_function, cip_category, accepted = self._cip(cip)
            self.journal.record(
                peer,
                cip_function,
                cip_category,
                "accepted" if accepted else "refused",
                transport=transport,
                encapsulation=name,
            )
            items = (
                struct.pack("<IHH", 0, 0, 2) + struct.pack("<HH", 0, 0) + struct.pack("<HH", 0xB2, len(reply))
            )
            payload = items + reply
            return HEADER.pack(0x6F, len(payload), session, 0, context, 0) + payload
        self.journal.record(peer, function, category, "refused", transport=transport)
        return HEADER.pack(command, 0, session, 0x0001, context, 0)  # invalid or unsupported command

    async def tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = peer_of(writer)
        for _ in range(MAX_REQUESTS_PER_CONNECTION):
            header = await asyncio.wait_for(reader.readexactly(HEADER.size), IDLE_TIMEOUT)
            length = struct.unpack_from("<H", header, 2)[0]
            body = await asyncio.wait_for(reader.readexactly(length), IDLE_TIMEOUT)
            reply = self.handle(header + body, peer, udp=False)
            if reply:
                writer.write(reply)
                await writer.drain()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, device: EnipDevice) -> None:
        self.device = device

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.device.handle(data, addr, udp=True)
        if reply:
            self.transport.sendto(reply, (require_loopback(addr[0], "reply address"), addr[1]))  # type: ignore[attr-defined]


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    device = EnipDevice(spec, port, journal)
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(
        lambda: _Udp(device), local_addr=(require_loopback(spec.address, "bind address"), port)
    )
    try:
        await serve_tcp(spec.address, port, device.tcp_client)
    finally:
        udp.close()
