"""S7comm identity: COTP connection request, setup communication, then SZL 0x0011 (order number,
hardware, firmware), 0x001C (CPU type, station/module names, plant id, serial, copyright), 0x0232
(protection level) and 0x0424 (CPU mode) last, each read once on one connection."""

from __future__ import annotations

import struct

from icsaudit.passive.protocols.s7comm import CPU_MODES, _szl_records
from icsaudit.probes.base import Malformed, Planned, ProbeResult, ProbeTarget, clean, need, tpkt_length
from icsaudit.probes.guard import GuardedConnection

NAME = "s7"
PROTOCOL = "s7comm"
TRANSPORT = "tcp"
PORTS = (102,)
SRC_TSAP, DST_TSAP = 0x0100, 0x0102  # PG connection to rack 0 slot 2 (S7-300/400; 1200/1500 accept it)
SZL_READS = (
    (0x0011, 0, "module identification"),
    (0x001C, 0, "component identification"),
    (0x0232, 4, "protection level"),
    (0x0424, 0, "CPU mode"),
)
# SZL 0x001C record index -> identity field
COMPONENT_FIELDS = {
    1: "station_name",
    2: "module_name",
    3: "plant_id",
    4: "copyright",
    5: "serial",
    7: "cpu_type",
    8: "memory_card_serial",
    11: "location",
}


def cotp_connect() -> bytes:
    params = struct.pack(">BBH", 0xC1, 2, SRC_TSAP) + struct.pack(">BBH", 0xC2, 2, DST_TSAP) + b"\xc0\x01\x0a"
    cotp = struct.pack(">BBHHB", 6 + len(params), 0xE0, 0, 1, 0) + params
    return struct.pack(">BBH", 3, 0, 4 + len(cotp)) + cotp


def _s7(header: bytes, params: bytes, data: bytes) -> bytes:
    body = b"\x02\xf0\x80" + header + params + data
    return struct.pack(">BBH", 3, 0, 4 + len(body)) + body


def setup_communication(pdu_ref: int) -> bytes:
    header = struct.pack(">BBHHHH", 0x32, 1, 0, pdu_ref, 8, 0)
    return _s7(header, struct.pack(">BBHHH", 0xF0, 0, 1, 1, 480), b"")


def read_szl(pdu_ref: int, szl_id: int, index: int) -> bytes:
    header = struct.pack(">BBHHHH", 0x32, 7, 0, pdu_ref, 8, 8)
    params = bytes((0x00, 0x01, 0x12, 0x04, 0x11, 0x44, 0x01, 0x00))
    return _s7(header, params, struct.pack(">BBHHH", 0xFF, 0x09, 4, szl_id, index))


def s7_payload(data: bytes) -> bytes:
    """The S7 PDU of a TPKT/COTP DT reply."""
    need(data, 7, "TPKT/COTP")
    if data[5] & 0xF0 != 0xF0:
        raise Malformed(f"COTP PDU type 0x{data[5]:02x} where data was expected")
    pdu = data[7:]
    need(pdu, 10, "S7 header")
    if pdu[0] != 0x32:
        raise Malformed("not S7comm")
    return pdu


def szl_answer(pdu: bytes) -> bytes | str:
    """The SZL body (from LENTHDR) of a userdata reply, or the error it carries."""
    param_len, data_len = struct.unpack(">HH", pdu[6:10])
    params = pdu[10 : 10 + param_len]
    data = pdu[10 + param_len : 10 + param_len + data_len]
    need(params, 12, "userdata reply parameters")
    error = struct.unpack(">H", params[10:12])[0]
    if error:
        return f"error 0x{error:04x}"
    need(data, 4, "userdata reply data")
    if data[0] != 0xFF:
        return f"return code 0x{data[0]:02x}"
    need(data, 8, "SZL header")
    return data[8:]


def plan(target: ProbeTarget) -> list[Planned]:
    out = [
        Planned(cotp_connect(), "COTP connection request"),
        Planned(setup_communication(1), "setup communication"),
    ]
    out += [
        Planned(read_szl(2 + i, szl, idx), f"read SZL 0x{szl:04x} ({what})")
        for i, (szl, idx, what) in enumerate(SZL_READS)
    ]
    return out


def run(conn: GuardedConnection, target: ProbeTarget, found: list[ProbeResult]) -> None:
    reply = conn.request(PROTOCOL, cotp_connect(), tpkt_length, "COTP connection request")
    need(reply.data, 6, "COTP reply")
    if reply.data[5] & 0xF0 != 0xD0:
        conn.negative("COTP connection refused")
    reply = conn.request(PROTOCOL, setup_communication(1), tpkt_length, "setup communication")
    pdu = s7_payload(reply.data)
    if pdu[1] != 3 or pdu[10:12] != b"\x00\x00":
        conn.negative("setup communication refused")
    result = ProbeResult(NAME, PROTOCOL, target.ip, target.port, TRANSPORT)
    if len(pdu) >= 20:
        result.details["pdu_size"] = struct.unpack(">H", pdu[18:20])[0]
    for i, (szl_id, index, what) in enumerate(SZL_READS):
        reply = conn.request(
            PROTOCOL, read_szl(2 + i, szl_id, index), tpkt_length, f"read SZL 0x{szl_id:04x} ({what})"
        )
        pdu = s7_payload(reply.data)
        if pdu[1] != 7:
            raise Malformed(f"ROSCTR {pdu[1]} where userdata was expected")
        body = szl_answer(pdu)
        if isinstance(body, str):
            conn.negative(f"SZL 0x{szl_id:04x}: {body}", fallback=szl_id in (0x0232, 0x0424))
            continue
        _absorb(result, szl_id, body)
        _normalize(result)
        if not result.line:
            result.line, result.ts = reply.line, reply.ts
            found.append(result)


def _absorb(result: ProbeResult, szl_id: int, body: bytes) -> None:
    if szl_id == 0x0424:
        # record: ereig(2) ae(1) bzu-id(1: requested mode high nibble, current mode low nibble) ...
        if len(body) >= 8 and struct.unpack(">HH", body[:4])[0] >= 4:
            mode = body[7] & 0x0F
            result.raw["cpu_mode"] = CPU_MODES.get(mode, f"0x{mode:02x}")
        return
    if szl_id == 0x0232:
        # record: index(2) sch_schal(2) sch_par(2) sch_rel(2) ...: sch_schal is the protection level
        if len(body) >= 10 and struct.unpack(">HH", body[:4]) >= (8, 1):
            result.raw["protection_level"] = struct.unpack(">H", body[8:10])[0]
        return
    records, _count = _szl_records(szl_id, body)
    if szl_id == 0x0011:
        for index, record in records.items():
            key = {"0x0001": "order_number", "0x0006": "hardware"}.get(index)
            if key and record.get("anz"):
                result.raw[key] = record["anz"]
            if index == "0x0007" and record.get("ausbg", 0) >> 8 == ord("V"):
                ausbg, ausbe = record["ausbg"], record["ausbe"]
                result.raw["firmware"] = f"V{ausbg & 0xFF}.{ausbe >> 8}.{ausbe & 0xFF}"
    else:
        for index, record in records.items():
            key = COMPONENT_FIELDS.get(int(index, 16))
            value = next((v for v in record.values() if isinstance(v, str)), "")
            if key and value:
                result.raw[key] = value


def _normalize(result: ProbeResult) -> None:
    raw = result.raw
    result.fields = clean(
        {
            "vendor": "Siemens"
            if "siemens" in raw.get("copyright", "").lower() or raw.get("order_number", "").startswith("6ES7")
            else "",
            "model": raw.get("cpu_type") or raw.get("order_number"),
            "order_number": raw.get("order_number"),
            "cpu_type": raw.get("cpu_type"),
            "hardware": raw.get("hardware"),
            "firmware": raw.get("firmware"),
            "serial": raw.get("serial"),
            "name": raw.get("station_name") or raw.get("module_name"),
            "module_name": raw.get("module_name"),
            "plant_id": raw.get("plant_id"),
            "location": raw.get("location"),
            "copyright": raw.get("copyright"),
            "cpu_mode": raw.get("cpu_mode"),
            "protection_level": raw.get("protection_level"),
            "device_type": "plc",
        }
    )
