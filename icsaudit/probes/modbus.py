"""Modbus/TCP identity: FC 43/14 Read Device Identification, basic objects (0-2) and regular objects
(3-6) as two separate streams, to the unit ids the site declares (unit 1 for a bare --target).
No unit-id sweep, no FC 17 unless asked, one connection per device."""

from __future__ import annotations

import struct

from icsaudit.passive.protocols.modbus import DEVICE_ID_FIELDS
from icsaudit.probes.base import Malformed, Planned, ProbeResult, ProbeTarget, clean, need
from icsaudit.probes.guard import GuardedConnection

NAME = "modbus"
PROTOCOL = "modbus"
TRANSPORT = "tcp"
PORTS = (502,)
STREAMS = ((1, 0, "basic"), (2, 3, "regular"))  # (read device id code, first object, name)
MAX_CONTINUATIONS = 3  # "more follows" pages read per stream, object ids strictly increasing


def request(transaction: int, unit: int, read_code: int, object_id: int) -> bytes:
    return struct.pack(">HHHBBBBB", transaction, 0, 5, unit, 43, 14, read_code, object_id)


def frame_length(buf: bytes) -> int | None:
    if len(buf) < 6:
        return None
    _tid, proto, length = struct.unpack(">HHH", buf[:6])
    if proto != 0 or not 2 <= length <= 254:
        raise Malformed("not an MBAP reply")
    return 6 + length


def parse_reply(data: bytes, transaction: int, unit: int) -> tuple[dict[int, str], int | None] | str:
    """({object id: value}, next object id when more follow) or an exception description."""
    need(data, 9, "modbus reply")
    tid, _proto, _length, reply_unit, fc = struct.unpack(">HHHBB", data[:8])
    if tid != transaction or reply_unit != unit:
        raise Malformed("reply does not match the request (transaction or unit id)")
    if fc == 43 | 0x80:
        return f"exception {data[8]}"
    if fc != 43:
        raise Malformed(f"unexpected function {fc}")
    need(data, 14, "device identification reply")
    mei, _code, _conformity, more, next_id, count = data[8:14]
    if mei != 14:
        raise Malformed("not MEI 14")
    objects: dict[int, str] = {}
    pos = 14
    for _ in range(count):
        need(data, pos + 2, "object header")
        obj, size = data[pos], data[pos + 1]
        need(data, pos + 2 + size, "object value")
        objects[obj] = data[pos + 2 : pos + 2 + size].decode("latin-1").strip()
        pos += 2 + size
    return objects, (next_id if more == 0xFF else None)


def plan(target: ProbeTarget) -> list[Planned]:
    out = []
    for unit in target.unit_ids:
        for index, (code, first, name) in enumerate(STREAMS):
            out.append(
                Planned(
                    request(index + 1, unit, code, first),
                    f"unit {unit}: device identification, {name} objects",
                )
            )
    return out


def run(conn: GuardedConnection, target: ProbeTarget, found: list[ProbeResult]) -> None:
    """Append one result per answering unit to ``found`` as soon as it identifies itself."""
    transaction = 0
    for unit in target.unit_ids:
        result = ProbeResult(
            NAME, PROTOCOL, target.ip, target.port, TRANSPORT, raw={"unit": unit, "basic": {}, "regular": {}}
        )
        for code, first, name in STREAMS:
            object_id = first
            for _page in range(1 + MAX_CONTINUATIONS):
                transaction += 1
                reply = conn.request(
                    PROTOCOL,
                    request(transaction, unit, code, object_id),
                    frame_length,
                    f"unit {unit}: device identification, {name} objects from {object_id}",
                )
                parsed = parse_reply(reply.data, transaction, unit)
                if isinstance(parsed, str):
                    # a device without regular objects says so once: that ends the stream, not the run
                    conn.negative(f"unit {unit} {name} objects: {parsed}", fallback=name == "regular")
                    break
                page, next_id = parsed
                result.raw[name].update(
                    {DEVICE_ID_FIELDS.get(k, f"object_{k}"): v for k, v in sorted(page.items())}
                )
                if not result.line:
                    result.line, result.ts = reply.line, reply.ts
                    found.append(result)
                _normalize(result, unit)
                if next_id is None or next_id <= object_id:
                    break
                object_id = next_id


def _normalize(result: ProbeResult, unit: int) -> None:
    basic, regular = result.raw["basic"], result.raw["regular"]
    result.fields = clean(
        {
            "vendor": basic.get("vendor"),
            "product_code": basic.get("product_code"),
            "firmware": basic.get("firmware"),
            "vendor_url": regular.get("vendor_url"),
            "product_name": regular.get("product_name"),
            "model": regular.get("model") or regular.get("product_name") or basic.get("product_code"),
            "name": regular.get("name"),
            "unit_id": unit,
        }
    )
