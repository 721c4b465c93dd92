"""PROFINET DCP dissector: service keys, identities from answers and Hello, Set events, non-DCP frames."""

from __future__ import annotations

import struct

from icsaudit.passive.protocols.profinet_dcp import ProfinetDcp
from icsaudit.passive.session import Recorder, Session

TOOL_MAC, DEVICE_MAC = "00:0c:29:ba:09:ea", "08:00:06:93:cf:32"


def make(src: str = DEVICE_MAC, dst: str = TOOL_MAC):
    rec = Recorder()
    agg = rec.flow(src, dst, "eth", 0x8892, "profinet_dcp")
    session = Session(rec, "profinet_dcp", agg, "eth", src, dst, 0, 0x8892, frozenset())
    session.client_mac, session.server_mac = src, dst
    return rec, session, ProfinetDcp(session)


def block(option: int, suboption: int, value: bytes, prefix: bytes = b"") -> bytes:
    body = prefix + value
    return (
        bytes((option, suboption)) + struct.pack("!H", len(body)) + body + (b"\x00" if len(body) & 1 else b"")
    )


def dcp(frame_id: int, service_id: int, service_type: int, blocks: bytes) -> bytes:
    return struct.pack("!HBBIHH", frame_id, service_id, service_type, 1, 0, len(blocks)) + blocks


IDENTIFY_RESPONSE = dcp(
    0xFEFF,
    5,
    1,
    block(2, 1, b"INC", b"\x00\x00")
    + block(2, 2, b"X208-BORD", b"\x00\x00")
    + block(2, 3, b"\x00\x2a\x0a\x01", b"\x00\x00")
    + block(2, 4, b"\x01\x00", b"\x00\x00")
    + block(1, 2, bytes((192, 168, 0, 6, 255, 255, 255, 0, 192, 168, 0, 1)), b"\x00\x01"),
)


def run(dissector: ProfinetDcp, session: Session, data: bytes) -> None:
    session.recorder.frame += 1
    dissector.on_frame(data)


def test_identify_response_identity_and_key() -> None:
    rec, session, dissector = make()
    run(dissector, session, IDENTIFY_RESPONSE)
    acc = rec.protocols["profinet_dcp"]
    assert dict(acc.functions) == {"5/1": 1}
    assert acc.conversations == {(DEVICE_MAC, TOOL_MAC, 0x8892, "eth")}
    assert list(acc.identities.values()) == [
        {
            "src": DEVICE_MAC,
            "type_of_station": "INC",
            "name_of_station": "X208-BORD",
            "vendor_id": 42,
            "device_id": 2561,
            "ip": "192.168.0.6",
        }
    ]
    (identity,) = rec.identities.values()
    assert (identity.asset_id, identity.ip, identity.mac) == ("192.168.0.6", "192.168.0.6", DEVICE_MAC)
    assert identity.fields == {
        "device_type": "io-device",
        "ip": "192.168.0.6",
        "model": "INC",
        "name": "X208-BORD",
        "profinet_device_id": "0x0a01",
        "profinet_vendor_id": "0x002a",
        "vendor": "Siemens",
    }
    assert session.agg.ops == {}  # a response is not an operation


def test_hello_without_ip_is_attributed_to_the_mac() -> None:
    rec, session, dissector = make()
    run(
        dissector,
        session,
        dcp(0xFEFC, 6, 0, block(2, 2, b"plc-1", b"\x00\x00") + block(1, 2, bytes(12), b"\x00\x00")),
    )
    (identity,) = rec.identities.values()
    assert (identity.asset_id, identity.ip) == (DEVICE_MAC, "")
    assert session.agg.ops == {"identify": 1}


def test_set_ip_and_name_is_a_write_event() -> None:
    rec, session, dissector = make(TOOL_MAC, DEVICE_MAC)
    blocks = (
        block(1, 2, bytes((192, 168, 0, 10, 255, 255, 255, 0, 192, 168, 0, 1)), b"\x00\x01")
        + block(2, 2, b"new-name", b"\x00\x01")
        + block(5, 2, b"", b"\x00\x00")
    )
    run(dissector, session, dcp(0xFEFD, 4, 0, blocks))
    (event,) = rec.events
    assert (event.kind, event.category, event.function) == ("write", "write", "4/0")
    assert event.detail == {
        "ip": {"ip": "192.168.0.10", "netmask": "255.255.255.0", "gateway": "192.168.0.1"},
        "name_of_station": "new-name",
        "target_mac": DEVICE_MAC,
    }
    assert rec.identities == {}  # a request says nothing about the device


def test_factory_reset_is_a_mode_event_and_failed_set_an_exception() -> None:
    rec, session, dissector = make(TOOL_MAC, DEVICE_MAC)
    run(dissector, session, dcp(0xFEFD, 4, 0, block(5, 6, b"\x00\x02", b"\x00\x00")))
    assert [(e.kind, e.category) for e in rec.events] == [("mode", "mode")]
    assert session.agg.ops == {"mode": 1}
    run(dissector, session, dcp(0xFEFD, 4, 1, block(5, 4, b"\x05\x06\x03")))
    assert session.agg.exceptions == 1


def test_get_request_and_identify_request() -> None:
    rec, session, dissector = make(TOOL_MAC, DEVICE_MAC)
    run(dissector, session, dcp(0xFEFD, 3, 0, b"\x02\x02\x01\x02"))
    run(dissector, session, dcp(0xFEFE, 5, 0, block(0xFF, 0xFF, b"")))
    assert dict(rec.protocols["profinet_dcp"].functions) == {"3/0": 1, "5/0": 1}
    assert session.agg.ops == {"read": 1, "identify": 1}


def test_other_profinet_frames_are_ignored_and_malformed_reported() -> None:
    rec, session, dissector = make()
    run(dissector, session, b"\x80\x00" + bytes(40))  # cyclic RT data
    run(dissector, session, b"\xff\x40" + bytes(40))  # PTCP
    assert "profinet_dcp" not in rec.protocols and rec.decode_errors == 0
    run(dissector, session, b"\xfe\xff\x05\x01")  # truncated header
    run(dissector, session, IDENTIFY_RESPONSE[:-6])  # length field beyond the frame, last block cut
    assert rec.decode_errors == 3
    assert dict(rec.protocols["profinet_dcp"].functions) == {"5/1": 1}
