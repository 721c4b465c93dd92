"""BACnet/IP identity: a unicast Who-Is (the I-Am gives the device instance and vendor id), then one
ReadPropertyMultiple of the device object's identity properties; if the device rejects it, single
ReadProperty requests for the core properties instead. Sent from an ephemeral port: the probe never
binds 47808 or acts as a BACnet node, and never broadcasts."""

from __future__ import annotations

import struct

from icsaudit.passive.protocols.bacnet import Malformed as TagError
from icsaudit.passive.protocols.bacnet import object_id, parse_property_value, read_tag, skip_value
from icsaudit.probes.base import Malformed, Planned, ProbeResult, ProbeTarget, answered, clean, need
from icsaudit.probes.guard import GuardedConnection

NAME = "bacnet"
PROTOCOL = "bacnet"
TRANSPORT = "udp"
PORTS = (47808,)
WILDCARD = 4194303
DEVICE = 8
# property id -> identity key; read in one ReadPropertyMultiple
PROPERTIES = {
    77: "object_name",
    121: "vendor_name",
    120: "vendor_id",
    70: "model_name",
    44: "firmware_revision",
    12: "application_software_version",
    28: "description",
    58: "location",
}
FALLBACK_PROPERTIES = (77, 121, 70, 44, 12)  # one ReadProperty each when RPM is not supported
INVOKE_ID = 1


def _bvlc(npdu_apdu: bytes) -> bytes:
    return struct.pack(">BBH", 0x81, 0x0A, 4 + len(npdu_apdu)) + npdu_apdu


def who_is() -> bytes:
    return _bvlc(b"\x01\x00" + b"\x10\x08")


def _object(instance: int) -> bytes:
    return b"\x0c" + struct.pack(">I", (DEVICE << 22) | instance)


def _prop(tag: int, prop: int) -> bytes:
    return (
        bytes((tag << 4 | 0x08 | 1, prop))
        if prop < 256
        else bytes((tag << 4 | 0x08 | 2,)) + struct.pack(">H", prop)
    )


def read_property_multiple(instance: int, invoke: int = INVOKE_ID) -> bytes:
    refs = b"".join(_prop(0, p) for p in PROPERTIES)
    return _bvlc(b"\x01\x04" + bytes((0x00, 0x05, invoke, 14)) + _object(instance) + b"\x1e" + refs + b"\x1f")


def read_property(instance: int, prop: int, invoke: int) -> bytes:
    return _bvlc(b"\x01\x04" + bytes((0x00, 0x05, invoke, 12)) + _object(instance) + _prop(1, prop))


def _apdu(data: bytes) -> bytes:
    need(data, 6, "BVLC")
    if data[0] != 0x81 or struct.unpack(">H", data[2:4])[0] != len(data):
        raise Malformed("not a BVLC reply of the announced length")
    npdu = data[4:]
    if data[1] == 0x04:  # forwarded-NPDU carries the original source address
        npdu = data[10:]
    need(npdu, 3, "NPDU")
    control, pos = npdu[1], 2
    if control & 0x80:
        raise Malformed("network-layer message")
    if control & 0x08:  # SNET present: SNET(2) SLEN(1) SADR
        need(npdu, pos + 3, "NPDU source")
        pos += 3 + npdu[pos + 2]
    return npdu[pos:]


def parse_i_am(data: bytes) -> dict:
    apdu = _apdu(data)
    need(apdu, 2, "APDU")
    if apdu[0] >> 4 != 1 or apdu[1] != 0:
        raise Malformed("not an I-Am")
    try:
        _n, _c, length, pos, _k = read_tag(apdu, 2)
        obj_type, instance = object_id(int.from_bytes(apdu[pos : pos + length], "big"))
        values = []
        pos += length
        for _ in range(3):
            value, pos = parse_property_value(apdu, pos)
            values.append(value)
    except TagError:
        raise Malformed("truncated I-Am") from None
    if obj_type != DEVICE:
        raise Malformed("I-Am for a non-device object")
    return {"instance": instance, "max_apdu": values[0], "segmentation": values[1], "vendor_id": values[2]}


def parse_ack(data: bytes, invoke: int) -> dict | str:
    """Property values of a ReadProperty(Multiple)-ACK, or the error/reject/abort it is."""
    apdu = _apdu(data)
    need(apdu, 3, "APDU")
    kind = apdu[0] >> 4
    if kind in (5, 6, 7):
        return {5: "error", 6: "reject", 7: "abort"}[kind]
    if kind != 3 or apdu[1] != invoke or apdu[2] not in (12, 14):
        raise Malformed("not the ACK of this request")
    values: dict = {}
    try:
        pos = 3
        _n, _c, length, pos, _k = read_tag(apdu, pos)  # object identifier
        pos += length
        if apdu[2] == 12:
            _n, _c, length, pos, _k = read_tag(apdu, pos)
            prop = int.from_bytes(apdu[pos : pos + length], "big")
            pos += length
            _n, _c, _l, pos, kind_ = read_tag(apdu, pos)  # opening tag 3
            values[prop], _ = parse_property_value(apdu, pos)
            return values
        _n, _c, _l, pos, _k = read_tag(apdu, pos)  # opening tag 1
        while pos < len(apdu):
            number, _c, length, pos, kind_ = read_tag(apdu, pos)
            if kind_ == "close":
                break
            prop = int.from_bytes(apdu[pos : pos + length], "big")
            pos += length
            number, _c, length, after, kind_ = read_tag(apdu, pos)
            if number == 3 and kind_ == "data":  # array index: skip
                pos = after + length
                number, _c, length, after, kind_ = read_tag(apdu, pos)
            if kind_ == "open" and number == 4:
                values[prop], _ = parse_property_value(apdu, after)
                pos = skip_value(apdu, after, 4)
            elif kind_ == "open" and number == 5:  # property access error
                pos = skip_value(apdu, after, 5)
            else:
                raise Malformed("unexpected tag in ReadPropertyMultiple-ACK")
    except (TagError, IndexError):
        raise Malformed("truncated ReadPropertyMultiple-ACK") from None
    return values


def plan(target: ProbeTarget) -> list[Planned]:
    return [
        Planned(who_is(), "unicast Who-Is"),
        Planned(
            read_property_multiple(WILDCARD),
            "ReadPropertyMultiple of the device identity properties (instance from the I-Am)",
        ),
    ]


def run(conn: GuardedConnection, target: ProbeTarget, found: list[ProbeResult]) -> None:
    reply = conn.request(PROTOCOL, who_is(), None, "unicast Who-Is")
    i_am = parse_i_am(reply.data)
    result = answered(found, (NAME, PROTOCOL, TRANSPORT), target, reply, dict(i_am))
    _normalize(result)
    instance = i_am["instance"]
    reply = conn.request(
        PROTOCOL, read_property_multiple(instance), None, "ReadPropertyMultiple of the device identity"
    )
    values = parse_ack(reply.data, INVOKE_ID)
    if isinstance(values, str):
        conn.negative(f"ReadPropertyMultiple: {values}", fallback=True)
        values = {}
        for invoke, prop in enumerate(FALLBACK_PROPERTIES, start=INVOKE_ID + 1):
            reply = conn.request(
                PROTOCOL, read_property(instance, prop, invoke), None, f"ReadProperty {PROPERTIES[prop]}"
            )
            answer = parse_ack(reply.data, invoke)
            if isinstance(answer, str):
                conn.negative(f"ReadProperty {PROPERTIES[prop]}: {answer}")
            values.update(answer)
    result.raw.update({PROPERTIES[p]: v for p, v in values.items() if p in PROPERTIES and v is not None})
    result.line, result.ts = reply.line, reply.ts
    _normalize(result)


def _normalize(result: ProbeResult) -> None:
    raw = result.raw
    result.fields = clean(
        {
            "vendor": raw.get("vendor_name"),
            "vendor_id": raw.get("vendor_id"),
            "model": raw.get("model_name"),
            "firmware": raw.get("firmware_revision"),
            "application_software": raw.get("application_software_version"),
            "name": raw.get("object_name"),
            "description": raw.get("description"),
            "location": raw.get("location"),
            "device_instance": raw.get("instance"),
            "max_apdu": raw.get("max_apdu"),
            "segmentation": raw.get("segmentation"),
        }
    )
