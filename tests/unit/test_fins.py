"""Omron FINS dissector: UDP and FINS/TCP framing, command categories, events, controller identity."""

from __future__ import annotations

import struct

from icsaudit.passive.protocols.fins import Fins
from icsaudit.passive.session import Recorder, Session

CLIENT, PLC = "10.0.0.1", "10.0.0.9"


def make(transport: str = "udp"):
    rec = Recorder()
    agg = rec.flow(CLIENT, PLC, transport, 9600, "fins")
    session = Session(rec, "fins", agg, transport, CLIENT, PLC, 50000, 9600, frozenset({9600}))
    return rec, session, Fins(session)


def fins(command: int, params: bytes = b"", response: bool = False, end_code: int = 0) -> bytes:
    header = bytes((0xC0 if response else 0x80, 0, 2, 0, 9, 0, 0, 1, 0, 0x42))
    return header + struct.pack("!H", command) + (struct.pack("!H", end_code) if response else b"") + params


def fins_tcp(command: int, payload: bytes = b"", error: int = 0) -> bytes:
    return b"FINS" + struct.pack("!III", len(payload) + 8, command, error) + payload


def udp(session: Session, dissector: Fins, data: bytes, from_client: bool = True) -> None:
    session.from_client = from_client
    session.recorder.frame += 1
    dissector.on_udp(data, from_client)


def tcp(session: Session, dissector: Fins, data: bytes, from_client: bool = True) -> None:
    session.from_client = from_client
    session.recorder.frame += 1
    dissector.on_tcp(data, from_client)


def test_memory_read_and_write() -> None:
    rec, session, dissector = make()
    udp(session, dissector, fins(0x0101, b"\x82\x00\x64\x00\x00\x0a"))
    udp(session, dissector, fins(0x0101, b"\x00" * 20, response=True), from_client=False)
    udp(session, dissector, fins(0x0102, b"\x82\x00\x10\x00\x00\x01\x12\x34"))
    assert dict(rec.protocols["fins"].functions) == {"cmd/0x0101": 2, "cmd/0x0102": 1}
    assert rec.protocols["fins"].conversations == {(CLIENT, PLC, 9600, "udp")}
    assert session.agg.ops == {"read": 1, "write": 1}
    (event,) = rec.events
    assert (event.kind, event.category, event.function) == ("write", "write", "cmd/0x0102")
    assert event.detail == {
        "command": "memory_area_write",
        "destination": "0.9.0",
        "source": "0.1.0",
        "area": "0x82",
        "address": 16,
        "bit": 0,
        "count": 1,
    }


def test_run_stop_force_and_program_events() -> None:
    rec, session, dissector = make()
    udp(session, dissector, fins(0x0401, b"\xff\xff\x04"))
    udp(session, dissector, fins(0x0402, b"\xff\xff"))
    udp(session, dissector, fins(0x2301, b"\x00\x01\x00\x01\x31\x00\x00\x00"))
    udp(session, dissector, fins(0x0307, b"\xff\xff" + bytes(8)))
    udp(session, dissector, fins(0x2201, b"\x00\x00"))  # file name read: counted, not an event
    kinds = [(e.kind, e.category, e.function) for e in rec.events]
    assert kinds == [
        ("mode", "mode", "cmd/0x0401"),
        ("mode", "mode", "cmd/0x0402"),
        ("force", "control", "cmd/0x2301"),
        ("program", "program", "cmd/0x0307"),
    ]
    assert rec.events[0].detail["mode"] == "run"
    assert session.agg.ops == {"mode": 2, "control": 1, "program": 2}


def test_error_end_code_is_an_exception() -> None:
    rec, session, dissector = make()
    udp(session, dissector, fins(0x0102, response=True, end_code=0x2108), from_client=False)
    udp(
        session, dissector, fins(0x0101, response=True, end_code=0x0040), from_client=False
    )  # non-fatal flag only
    assert session.agg.exceptions == 1


def test_controller_data_read_gives_identity() -> None:
    rec, session, dissector = make()
    data = (
        b"CP1L-EL20DR-D".ljust(20, b"\x00")
        + b"01.00".ljust(10, b"\x00")
        + b"01.06".ljust(10, b"\x00")
        + bytes(40)
    )
    udp(session, dissector, fins(0x0501, data, response=True), from_client=False)
    (identity,) = rec.identities.values()
    assert identity.asset_id == PLC
    assert identity.fields == {
        "device_type": "plc",
        "firmware": "01.00",
        "model": "CP1L-EL20DR-D",
        "vendor": "Omron",
    }
    assert next(iter(rec.services.values())).banner == "Omron CP1L-EL20DR-D 01.00"


def test_fins_tcp_handshake_and_split_frames() -> None:
    rec, session, dissector = make("tcp")
    tcp(session, dissector, fins_tcp(0, b"\x00\x00\x00\x00"))
    tcp(session, dissector, fins_tcp(1, b"\x00\x00\x00\xfb\x00\x00\x00\xc8"), from_client=False)
    message = fins_tcp(2, fins(0x0501, b"\x00"))
    tcp(session, dissector, message[:5])
    tcp(session, dissector, message[5:])
    assert dict(rec.protocols["fins"].functions) == {"tcp/0": 1, "tcp/1": 1, "cmd/0x0501": 1}
    assert rec.protocols["fins"].frames == 3  # the split message counts in the frame that completes it
    assert Fins.sniff(message, True) and not Fins.sniff(b"GET / HTTP/1.1\r\n\r\n", True)


def test_malformed_input_is_reported() -> None:
    rec, session, dissector = make("tcp")
    tcp(session, dissector, b"XXXX" + bytes(20))  # no FINS magic
    tcp(session, dissector, fins_tcp(2, b"\x80\x00"))  # frame send with a truncated FINS frame
    assert rec.decode_errors == 2
    assert dict(rec.protocols["fins"].functions) == {"tcp/2": 1}
    rec2, session2, dissector2 = make()
    udp(session2, dissector2, b"")  # empty datagram: nothing to say
    udp(session2, dissector2, b"\x80\x00\x02")
    assert rec2.decode_errors == 1 and "fins" not in rec2.protocols
