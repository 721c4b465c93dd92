"""Deterministic generator of a large mixed ICS capture for `make bench`.

Modbus/TCP reads and writes, S7comm (COTP connect, setup, read/write var, SZL reads), EtherNet/IP +
CIP (RegisterSession, SendRRData Get_Attribute_Single, UDP ListIdentity), DNP3 (class polls, direct
operate), IEC 60870-5-104 (STARTDT, interrogation, measurements, commands, S-frames), BACnet/IP
(ReadProperty, Who-Is), OPC UA (HEL/ACK, OpenSecureChannel, Read), plus HTTP, DNS and SNMP; many hosts,
interleaved flows, TCP handshakes and closes. PDUs are built once per shape and varied with struct;
records are written raw (no scapy per packet), so a million packets take seconds.

    python -m tests.bench.gen_pcap OUT.pcap [PACKETS] [SEED]
"""

from __future__ import annotations

import random
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from icsaudit.passive.protocols.dnp3 import crc16

VERSION = 3  # bump when the traffic changes, so cached bench files are regenerated
CONCURRENT = 400  # conversations interleaved at any time
PACKET_INTERVAL_US = 100  # 10k packets/s of capture time

_REC = struct.Struct("<IIII")
_IP = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01

Talk = Iterator[tuple[bool, bytes]]  # (from client, payload)
# Conversations take (rng, exchanges, device): ``device`` seeds what a device says about itself, so
# identity answers are stable per device as on a real network.


# -- hosts ------------------------------------------------------------------------------------
class Host:
    __slots__ = ("ip", "mac")

    def __init__(self, ip: bytes, mac: bytes) -> None:
        self.ip = ip
        self.mac = mac


def _host(a: int, b: int, c: int, d: int, oui: bytes) -> Host:
    return Host(bytes((a, b, c, d)), oui + bytes((b, c, d)))


SIEMENS, ROCKWELL, SCHNEIDER, DELL = b"\x00\x1b\x1b", b"\x00\x00\xbc", b"\x00\x80\xf4", b"\x00\x14\x22"
CLIENTS = [_host(10, 20, 0, 10 + i, DELL) for i in range(40)]  # HMIs, engineering stations, historians
SERVERS = {
    "modbus": [_host(10, 30, 1, 10 + i, SCHNEIDER) for i in range(80)],
    "s7comm": [_host(10, 30, 2, 10 + i, SIEMENS) for i in range(60)],
    "enip": [_host(10, 30, 3, 10 + i, ROCKWELL) for i in range(50)],
    "dnp3": [_host(10, 30, 4, 10 + i, SCHNEIDER) for i in range(40)],
    "iec104": [_host(10, 30, 5, 10 + i, SIEMENS) for i in range(30)],
    "bacnet": [_host(10, 30, 6, 10 + i, SCHNEIDER) for i in range(40)],
    "opcua": [_host(10, 30, 7, 10 + i, DELL) for i in range(10)],
    "http": [_host(10, 40, 0, 10 + i, DELL) for i in range(10)],
    "dns": [_host(10, 40, 1, 53, DELL)],
    "snmp": [_host(10, 30, 1 + i % 7, 10 + i, SIEMENS) for i in range(60)],
}


# -- protocol conversations (payloads only; the driver adds TCP/UDP/IP/Ethernet) ------------------
def modbus(rng: random.Random, exchanges: int, device: int) -> Talk:
    unit = rng.randrange(1, 248)
    for tid in range(1, exchanges + 1):
        fc = rng.choice((3, 3, 3, 4, 1, 2, 16, 6, 5))
        addr = rng.randrange(0, 4000)
        if fc in (3, 4):
            qty = rng.randrange(1, 60)
            yield True, struct.pack(">HHHBBHH", tid, 0, 6, unit, fc, addr, qty)
            yield False, struct.pack(">HHHBBB", tid, 0, 3 + 2 * qty, unit, fc, 2 * qty) + bytes(2 * qty)
        elif fc in (1, 2):
            qty = rng.randrange(1, 200)
            count = (qty + 7) // 8
            yield True, struct.pack(">HHHBBHH", tid, 0, 6, unit, fc, addr, qty)
            yield False, struct.pack(">HHHBBB", tid, 0, 3 + count, unit, fc, count) + bytes(count)
        elif fc == 16:
            qty = rng.randrange(1, 20)
            yield (
                True,
                struct.pack(">HHHBBHHB", tid, 0, 7 + 2 * qty, unit, 16, addr, qty, 2 * qty) + bytes(2 * qty),
            )
            yield False, struct.pack(">HHHBBHH", tid, 0, 6, unit, 16, addr, qty)
        else:
            value = 0xFF00 if fc == 5 else rng.randrange(65536)
            request = struct.pack(">HHHBBHH", tid, 0, 6, unit, fc, addr, value)
            yield True, request
            yield False, request


def _tpkt_cotp_dt(s7: bytes) -> bytes:
    return struct.pack(">BBH", 3, 0, 7 + len(s7)) + b"\x02\xf0\x80" + s7


def _s7(rosctr: int, ref: int, params: bytes, data: bytes = b"") -> bytes:
    if rosctr in (2, 3):
        return struct.pack(">BBHHHHH", 0x32, rosctr, 0, ref, len(params), len(data), 0) + params + data
    return struct.pack(">BBHHHH", 0x32, rosctr, 0, ref, len(params), len(data)) + params + data


_COTP_CR = b"\x03\x00\x00\x16\x11\xe0\x00\x00\x00\x01\x00\xc0\x01\x0a\xc1\x02\x01\x00\xc2\x02\x01\x02"
_COTP_CC = b"\x03\x00\x00\x16\x11\xd0\x00\x01\x00\x01\x00\xc0\x01\x0a\xc1\x02\x01\x00\xc2\x02\x01\x02"
# (SZL id, index, record length, record count) as a real CPU answers them
_SZL_IDS = (
    (0x0011, 0x0000, 28, 1),
    (0x001C, 0x0000, 34, 1),
    (0x0424, 0x0000, 20, 1),
    (0x0000, 0x0000, 2, 14),
)


def s7comm(rng: random.Random, exchanges: int, device: int) -> Talk:
    yield True, _COTP_CR
    yield False, _COTP_CC
    yield True, _tpkt_cotp_dt(_s7(1, 1, b"\xf0\x00\x00\x01\x00\x01\x03\xc0"))
    yield False, _tpkt_cotp_dt(_s7(3, 1, b"\xf0\x00\x00\x01\x00\x01\x00\xf0"))
    for ref in range(2, exchanges + 2):
        kind = rng.random()
        item = struct.pack(">BBBBHHB", 0x12, 0x0A, 0x10, 0x02, 2, rng.randrange(1, 100), 0x84)
        item += (rng.randrange(0, 1000) * 8).to_bytes(3, "big")
        if kind < 0.6:  # read var
            yield True, _tpkt_cotp_dt(_s7(1, ref, b"\x04\x01" + item))
            yield False, _tpkt_cotp_dt(_s7(3, ref, b"\x04\x01", b"\xff\x04\x00\x10" + rng.randbytes(2)))
        elif kind < 0.75:  # write var
            yield True, _tpkt_cotp_dt(_s7(1, ref, b"\x05\x01" + item, b"\x00\x04\x00\x10" + rng.randbytes(2)))
            yield False, _tpkt_cotp_dt(_s7(3, ref, b"\x05\x01", b"\xff"))
        else:  # SZL read (userdata)
            szl_id, index, length, count = rng.choice(_SZL_IDS)
            params = b"\x00\x01\x12\x04\x11\x44\x01\x00"
            yield (
                True,
                _tpkt_cotp_dt(_s7(7, ref, params, struct.pack(">BBHHH", 0xFF, 0x09, 4, szl_id, index))),
            )
            records = random.Random(device * 65536 + szl_id).randbytes(length * count)
            data = (
                struct.pack(">BBHHHHH", 0xFF, 0x09, 8 + len(records), szl_id, index, length, count) + records
            )
            yield False, _tpkt_cotp_dt(_s7(7, ref, b"\x00\x01\x12\x08\x12\x84\x01\x01\x00\x00\x00\x00", data))


def _enip(command: int, session: int, data: bytes, context: int = 0) -> bytes:
    return struct.pack("<HHIIQI", command, len(data), session, 0, context, 0) + data


def _cpf_unconnected(cip: bytes) -> bytes:
    return struct.pack("<IHHHHHH", 0, 10, 2, 0, 0, 0xB2, len(cip)) + cip


def enip(rng: random.Random, exchanges: int, device: int) -> Talk:
    yield True, _enip(0x65, 0, b"\x01\x00\x00\x00")
    session = rng.randrange(1, 1 << 32)
    yield False, _enip(0x65, session, b"\x01\x00\x00\x00")
    for n in range(exchanges):
        attribute = rng.choice((1, 2, 3, 4, 5, 6, 7))
        cip = bytes((0x0E, 3, 0x20, 0x01, 0x24, 0x01, 0x30, attribute))
        yield True, _enip(0x6F, session, _cpf_unconnected(cip), n)
        reply = bytes((0x8E, 0, 0, 0)) + random.Random(device * 8 + attribute).randbytes(4)
        yield False, _enip(0x6F, session, _cpf_unconnected(reply), n)


def enip_udp(rng: random.Random, exchanges: int, device: int) -> Talk:
    for n in range(exchanges):
        yield True, _enip(0x63, 0, b"", n)
        yield False, _enip(0x63, 0, b"\x00\x00", n)


def _dnp3_crc(data: bytes) -> bytes:
    return struct.pack("<H", crc16(data))  # the dissector's CRC, so both agree by construction


def dnp3_frame(control: int, dst: int, src: int, user: bytes) -> bytes:
    header = struct.pack("<BBBBHH", 0x05, 0x64, 5 + len(user), control, dst, src)
    out = [header, _dnp3_crc(header)]
    for i in range(0, len(user), 16):
        block = user[i : i + 16]
        out += [block, _dnp3_crc(block)]
    return b"".join(out)


_CLASS_POLL = b"\x01" + b"\x3c\x02\x06\x3c\x03\x06\x3c\x04\x06\x3c\x01\x06"


def dnp3(rng: random.Random, exchanges: int, device: int) -> Talk:
    master, outstation = rng.randrange(1, 10), rng.randrange(10, 1000)
    cache: dict[tuple, bytes] = {}
    for n in range(exchanges):
        seq = n & 0x0F
        tseq = n & 0x3F
        if rng.random() < 0.9:
            key = ("poll", seq)
            if key not in cache:
                cache[key] = bytes((0xC0 | tseq, 0xC0 | seq)) + _CLASS_POLL
            request = cache[key]
            points = b"".join(struct.pack("<Bi", 0x01, v) for v in (seq, seq * 2, seq * 3, -seq))
            response = bytes((0xC0 | tseq, 0xC0 | seq, 0x81, 0x00, 0x00)) + b"\x1e\x01\x00\x00\x03" + points
        else:
            index = rng.randrange(0, 16)
            crob = struct.pack("<BBBHHBBIIB", 0x0C, 0x01, 0x28, 1, index, 0x03, 1, 1000, 0, 0)
            request = bytes((0xC0 | tseq, 0xC0 | seq, 0x05)) + crob
            response = bytes((0xC0 | tseq, 0xC0 | seq, 0x81, 0x00, 0x00)) + crob
        yield True, dnp3_frame(0xC4, outstation, master, request)
        yield False, dnp3_frame(0x44, master, outstation, response)


def _apci_i(send: int, recv: int, asdu: bytes) -> bytes:
    return struct.pack("<BBHH", 0x68, 4 + len(asdu), send << 1, recv << 1) + asdu


def iec104(rng: random.Random, exchanges: int, device: int) -> Talk:
    yield True, b"\x68\x04\x07\x00\x00\x00"
    yield False, b"\x68\x04\x0b\x00\x00\x00"
    ca = rng.randrange(1, 100)
    c_send = s_send = 0
    yield True, _apci_i(c_send, s_send, struct.pack("<BBBBH", 100, 1, 6, 0, ca) + b"\x00\x00\x00\x14")
    c_send += 1
    yield False, _apci_i(s_send, c_send, struct.pack("<BBBBH", 100, 1, 7, 0, ca) + b"\x00\x00\x00\x14")
    s_send += 1
    for _ in range(exchanges):
        if rng.random() < 0.85:  # spontaneous measurement from the outstation
            ioa = rng.randrange(1, 5000).to_bytes(3, "little")
            asdu = struct.pack("<BBBBH", 13, 1, 3, 0, ca) + ioa + struct.pack("<fB", rng.random() * 100, 0)
            yield False, _apci_i(s_send & 0x7FFF, c_send & 0x7FFF, asdu)
            s_send += 1
            yield True, struct.pack("<BBHH", 0x68, 4, 1, (s_send & 0x7FFF) << 1)  # S-frame ack
        else:  # single command, confirmed
            ioa = rng.randrange(1, 500).to_bytes(3, "little")
            yield (
                True,
                _apci_i(
                    c_send & 0x7FFF, s_send & 0x7FFF, struct.pack("<BBBBH", 45, 1, 6, 0, ca) + ioa + b"\x01"
                ),
            )
            c_send += 1
            yield (
                False,
                _apci_i(
                    s_send & 0x7FFF, c_send & 0x7FFF, struct.pack("<BBBBH", 45, 1, 7, 0, ca) + ioa + b"\x01"
                ),
            )
            s_send += 1


def bacnet(rng: random.Random, exchanges: int, device: int) -> Talk:
    for n in range(exchanges):
        invoke = n & 0xFF
        if rng.random() < 0.05:
            yield True, b"\x81\x0b\x00\x0c\x01\x20\xff\xff\x00\xff\x10\x08"  # Who-Is
            continue
        obj = struct.pack(">I", (rng.choice((0, 1, 2, 3)) << 22) | rng.randrange(0, 200))
        apdu = bytes((0x00, 0x05, invoke, 0x0C)) + b"\x0c" + obj + b"\x19\x55"
        yield True, struct.pack(">BBH", 0x81, 0x0A, 6 + len(apdu)) + b"\x01\x04" + apdu
        ack = (
            bytes((0x30, invoke, 0x0C))
            + b"\x0c"
            + obj
            + b"\x19\x55\x3e\x44"
            + struct.pack(">f", rng.random())
            + b"\x3f"
        )
        yield False, struct.pack(">BBH", 0x81, 0x0A, 6 + len(ack)) + b"\x01\x00" + ack


def _ua_string(text: str | None) -> bytes:
    if text is None:
        return b"\xff\xff\xff\xff"
    raw = text.encode()
    return struct.pack("<i", len(raw)) + raw


def _ua_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + b"F" + struct.pack("<I", 8 + len(body)) + body


_UA_REQ_HEADER = (
    b"\x00\x00"
    + bytes(8)
    + b"\x01\x00\x00\x00"
    + bytes(4)
    + b"\xff\xff\xff\xff"
    + b"\x10\x27\x00\x00"
    + b"\x00\x00\x00"
)
_UA_RESP_HEADER = bytes(8) + b"\x01\x00\x00\x00" + bytes(4) + b"\x00" + b"\xff\xff\xff\xff" + b"\x00\x00\x00"
_UA_POLICY = "http://opcfoundation.org/UA/SecurityPolicy#None"


def opcua(rng: random.Random, exchanges: int, device: int) -> Talk:
    url = "opc.tcp://10.30.7.10:4840/"
    yield True, _ua_chunk(b"HEL", struct.pack("<IIIII", 0, 65536, 65536, 0, 0) + _ua_string(url))
    yield False, _ua_chunk(b"ACK", struct.pack("<IIIII", 0, 65536, 65536, 0, 0))
    asym = struct.pack("<I", 0) + _ua_string(_UA_POLICY) + b"\xff\xff\xff\xff" * 2
    opn = b"\x01\x00\xbe\x01" + _UA_REQ_HEADER + struct.pack("<IIIiI", 0, 0, 1, -1, 3_600_000)
    yield True, _ua_chunk(b"OPN", asym + struct.pack("<II", 1, 1) + opn)
    channel = rng.randrange(1, 1 << 31)
    token = struct.pack("<IIqI", channel, 1, 0, 3_600_000)
    opn_reply = b"\x01\x00\xc1\x01" + _UA_RESP_HEADER + struct.pack("<I", 0) + token + b"\xff\xff\xff\xff"
    asym = struct.pack("<I", channel) + _ua_string(_UA_POLICY) + b"\xff\xff\xff\xff" * 2
    yield False, _ua_chunk(b"OPN", asym + struct.pack("<II", 1, 1) + opn_reply)
    for n in range(2, exchanges + 2):
        node = struct.pack("<BBH", 0x01, 2, rng.randrange(1, 5000))
        read_value = node + struct.pack("<I", 13) + b"\xff\xff\xff\xff" + b"\x00\x00\xff\xff\xff\xff"
        request = b"\x01\x00\x77\x02" + _UA_REQ_HEADER + struct.pack("<dIi", 0.0, 0, 1) + read_value
        yield True, _ua_chunk(b"MSG", struct.pack("<IIII", channel, 1, n, n) + request)
        value = b"\x01\x0b" + struct.pack("<d", rng.random())
        response = b"\x01\x00\x7a\x02" + _UA_RESP_HEADER + struct.pack("<i", 1) + value + b"\xff\xff\xff\xff"
        yield False, _ua_chunk(b"MSG", struct.pack("<IIII", channel, 1, n, n) + response)


def http(rng: random.Random, exchanges: int, device: int) -> Talk:
    for _ in range(exchanges):
        page = rng.choice(("/", "/status.html", "/api/values", "/login"))
        yield True, f"GET {page} HTTP/1.1\r\nHost: hmi.plant.local\r\nUser-Agent: bench/1.0\r\n\r\n".encode()
        body = rng.randbytes(rng.randrange(20, 600)).hex().encode()
        head = f"HTTP/1.1 200 OK\r\nServer: lighttpd/1.4\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        yield False, head + body


def dns(rng: random.Random, exchanges: int, device: int) -> Talk:
    for _ in range(exchanges):
        qid = rng.randrange(65536)
        name = rng.choice((b"\x03hmi\x05plant\x05local\x00", b"\x09historian\x05plant\x05local\x00"))
        question = name + b"\x00\x01\x00\x01"
        yield True, struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question
        answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04" + bytes(
            (10, 40, 0, rng.randrange(10, 20))
        )
        yield False, struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag, len(content))) + content


_SYS_DESCR = _tlv(0x06, b"\x2b\x06\x01\x02\x01\x01\x01\x00")


def snmp(rng: random.Random, exchanges: int, device: int) -> Talk:
    for _ in range(exchanges):
        request_id = _tlv(0x02, struct.pack(">I", rng.randrange(1 << 31)))
        zero = _tlv(0x02, b"\x00")
        head = _tlv(0x02, b"\x01") + _tlv(0x04, b"public")
        get = _tlv(0xA0, request_id + zero + zero + _tlv(0x30, _tlv(0x30, _SYS_DESCR + b"\x05\x00")))
        yield True, _tlv(0x30, head + get)
        value = _tlv(0x04, b"Siemens SIMATIC S7, CPU-315")
        reply = _tlv(0xA2, request_id + zero + zero + _tlv(0x30, _tlv(0x30, _SYS_DESCR + value)))
        yield False, _tlv(0x30, head + reply)


# (name, weight, transport, server port, conversation, exchanges range)
MIX: list[tuple[str, int, str, int, Callable[[random.Random, int, int], Talk], tuple[int, int]]] = [
    ("modbus", 30, "tcp", 502, modbus, (20, 200)),
    ("s7comm", 15, "tcp", 102, s7comm, (20, 150)),
    ("enip", 8, "tcp", 44818, enip, (20, 150)),
    ("enip", 2, "udp", 44818, enip_udp, (1, 3)),
    ("dnp3", 10, "tcp", 20000, dnp3, (20, 150)),
    ("iec104", 10, "tcp", 2404, iec104, (20, 200)),
    ("bacnet", 8, "udp", 47808, bacnet, (5, 60)),
    ("opcua", 7, "tcp", 4840, opcua, (20, 150)),
    ("http", 4, "tcp", 80, http, (1, 10)),
    ("dns", 3, "udp", 53, dns, (1, 4)),
    ("snmp", 3, "udp", 161, snmp, (1, 10)),
]


# -- framing --------------------------------------------------------------------------------------
def peers_of(server: Host, name: str) -> list[Host]:
    """The clients that talk to a server. OT traffic is stable: a field device answers its one or two
    masters (SCADA server, historian, engineering station), so conversations repeat instead of
    spreading over every host pair; IT services (DNS, HTTP) serve everyone."""
    if name in ("dns", "http"):
        return CLIENTS
    number = int.from_bytes(server.ip, "big")
    return [CLIENTS[number * 7 % len(CLIENTS)], CLIENTS[(number * 13 + 5) % len(CLIENTS)]]


def _conversation(rng: random.Random, ephemeral: list[int]) -> Iterator[bytes]:
    """One TCP connection or UDP exchange, as finished Ethernet frames."""
    name, _weight, transport, port, talk, (low, high) = rng.choices(MIX, weights=[m[1] for m in MIX])[0]
    server = rng.choice(SERVERS[name])
    client = rng.choice(peers_of(server, name))
    ephemeral[0] = ephemeral[0] + 1 if ephemeral[0] < 65000 else 20000
    sport = ephemeral[0]
    eth_cs = server.mac + client.mac + b"\x08\x00"
    eth_sc = client.mac + server.mac + b"\x08\x00"
    cip, sip = client.ip, server.ip
    ident = rng.randrange(65536)
    exchanges = rng.randrange(low, high)
    if transport == "udp":
        for from_client, payload in talk(rng, exchanges, int.from_bytes(server.ip, "big")):
            ident = (ident + 1) & 0xFFFF
            udp = (
                _UDP.pack(sport, port, 8 + len(payload), 0)
                if from_client
                else _UDP.pack(port, sport, 8 + len(payload), 0)
            )
            if from_client:
                ip = _IP.pack(0x45, 0, 28 + len(payload), ident, 0, 64, 17, 0, cip, sip)
                yield eth_cs + ip + udp + payload
            else:
                ip = _IP.pack(0x45, 0, 28 + len(payload), ident, 0, 64, 17, 0, sip, cip)
                yield eth_sc + ip + udp + payload
        return
    c_seq, s_seq = rng.randrange(1 << 32), rng.randrange(1 << 32)

    def segment(from_client: bool, flags: int, payload: bytes = b"") -> bytes:
        nonlocal ident
        ident = (ident + 1) & 0xFFFF
        if from_client:
            ip = _IP.pack(0x45, 0, 40 + len(payload), ident, 0x4000, 64, 6, 0, cip, sip)
            return eth_cs + ip + _TCP.pack(sport, port, c_seq, s_seq, 0x50, flags, 64240, 0, 0) + payload
        ip = _IP.pack(0x45, 0, 40 + len(payload), ident, 0x4000, 64, 6, 0, sip, cip)
        return eth_sc + ip + _TCP.pack(port, sport, s_seq, c_seq, 0x50, flags, 64240, 0, 0) + payload

    yield segment(True, SYN)
    c_seq = (c_seq + 1) & 0xFFFFFFFF
    yield segment(False, SYN | ACK)
    s_seq = (s_seq + 1) & 0xFFFFFFFF
    yield segment(True, ACK)
    for from_client, payload in talk(rng, exchanges, int.from_bytes(server.ip, "big")):
        yield segment(from_client, ACK | PSH, payload)
        if from_client:
            c_seq = (c_seq + len(payload)) & 0xFFFFFFFF
        else:
            s_seq = (s_seq + len(payload)) & 0xFFFFFFFF
    yield segment(True, FIN | ACK)
    c_seq = (c_seq + 1) & 0xFFFFFFFF
    yield segment(False, FIN | ACK)
    s_seq = (s_seq + 1) & 0xFFFFFFFF
    yield segment(True, ACK)


def generate(path: str | Path, packets: int, seed: int = 1) -> Path:
    """Write exactly ``packets`` frames to ``path`` (pcap, µs, Ethernet); the same seed gives the same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    ephemeral = [20000]
    active: list[Iterator[bytes]] = [_conversation(rng, ephemeral) for _ in range(CONCURRENT)]
    start_us = 1_700_000_000 * 1_000_000
    pack = _REC.pack
    tmp = path.with_suffix(path.suffix + ".part")
    with tmp.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        batch: list[bytes] = []
        written = 0
        while written < packets:
            index = rng.randrange(CONCURRENT)
            frame = next(active[index], None)
            if frame is None:
                active[index] = _conversation(rng, ephemeral)
                continue
            ts = start_us + written * PACKET_INTERVAL_US
            size = len(frame)
            batch.append(pack(ts // 1_000_000, ts % 1_000_000, size, size))
            batch.append(frame)
            written += 1
            if len(batch) >= 20000:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
    tmp.replace(path)
    return path


if __name__ == "__main__":
    target = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    generate(target, count, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    print(f"{count} packets -> {target}")
