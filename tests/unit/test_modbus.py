"""Modbus/TCP + UMAS dissector: PDUs built here as bytes, fed through a real Recorder/Session."""

from __future__ import annotations

import struct

import pytest

from icsaudit.passive.protocols.modbus import (
    FUNCTION_CATEGORIES,
    UMAS_FUNCTIONS,
    ModbusDissector,
)
from icsaudit.passive.session import Recorder, Session
from tests.unit.dissector_session import CLIENT, SERVER, feed, open_session


def mbap(unit: int, pdu: bytes, transaction: int = 1) -> bytes:
    return struct.pack("!HHHB", transaction, 0, len(pdu) + 1, unit) + pdu


def make() -> tuple[ModbusDissector, Recorder, Session]:
    return open_session(ModbusDissector, "modbus", 502)


def stats(recorder: Recorder, protocol: str = "modbus"):
    return recorder.protocol_stats()[protocol]


def test_read_request_and_response_counted_with_categories():
    dissector, recorder, session = make()
    feed(dissector, recorder, mbap(1, bytes([3, 0, 10, 0, 2])), True, 1)
    feed(dissector, recorder, mbap(1, bytes([3, 4, 0, 1, 0, 2])), False, 2)
    s = stats(recorder)
    assert s.pdus == 2 and s.frames == 2
    assert s.functions == {"fc3": 2}
    assert s.conversations == [(CLIENT, SERVER, 502, "tcp")]
    assert dict(session.agg.ops) == {"read": 1}  # responses do not count as operations
    assert any(svc.protocol == "modbus" and svc.port == 502 for svc in recorder.services.values())


def test_several_pdus_in_one_segment_and_split_across_segments():
    dissector, recorder, _ = make()
    two = mbap(1, bytes([1, 0, 0, 0, 8]), 1) + mbap(1, bytes([2, 0, 0, 0, 8]), 2)
    feed(dissector, recorder, two, True, 1)
    third = mbap(1, bytes([4, 0, 0, 0, 1]), 3)
    feed(dissector, recorder, third[:5], True, 2)  # header split in the middle
    assert stats(recorder).pdus == 2
    feed(dissector, recorder, third[5:], True, 3)
    s = stats(recorder)
    assert s.functions == {"fc1": 1, "fc2": 1, "fc4": 1}
    assert s.frames == 2  # frame 1 (two PDUs) and frame 3 (completes the third)


def test_exception_counted_under_masked_code():
    dissector, recorder, session = make()
    feed(dissector, recorder, mbap(1, bytes([0x86, 0x02])), False, 1)
    feed(dissector, recorder, mbap(1, bytes([0xAB, 0x01])), False, 2)  # fc 43 exception: no MEI
    assert stats(recorder).functions == {"fc6": 1, "fc43": 1}
    assert session.agg.exceptions == 2


def test_write_events_carry_unit_address_quantity():
    dissector, recorder, session = make()
    feed(dissector, recorder, mbap(7, bytes([16, 0, 100, 0, 2, 4, 0, 1, 0, 2])), True, 1)
    feed(dissector, recorder, mbap(7, bytes([6, 0, 5, 0x12, 0x34])), True, 2)
    feed(dissector, recorder, mbap(7, bytes([23, 0, 1, 0, 2, 0, 9, 0, 1, 2, 0, 5])), True, 3)
    events = recorder.events
    assert [e.kind for e in events] == ["write", "write", "write"]
    assert events[0].detail == {
        "unit_id": 7,
        "operation": "write_multiple_registers",
        "address": 100,
        "quantity": 2,
    }
    assert events[1].detail["value"] == 0x1234 and events[1].detail["quantity"] == 1
    assert events[2].detail["address"] == 9 and events[2].detail["read_address"] == 1
    assert session.agg.ops["write"] == 3
    assert FUNCTION_CATEGORIES[23] == "write"


def test_diagnostics_restart_and_listen_only_are_mode_events():
    dissector, recorder, session = make()
    feed(dissector, recorder, mbap(1, bytes([8, 0, 1, 0, 0])), True, 1)  # restart communications
    feed(dissector, recorder, mbap(1, bytes([8, 0, 4, 0, 0])), True, 2)  # force listen only
    feed(dissector, recorder, mbap(1, bytes([8, 0, 0, 0xAB, 0xCD])), True, 3)  # return query data
    assert [e.kind for e in recorder.events] == ["mode", "mode"]
    assert recorder.events[1].detail["operation"] == "force_listen_only"
    assert dict(session.agg.ops) == {"mode": 2, "diagnostic": 1}


def test_device_identification_merged_per_unit_and_emitted_once():
    dissector, recorder, _ = make()
    feed(dissector, recorder, mbap(1, bytes([43, 14, 1, 0])), True, 1)
    first = bytes([43, 14, 1, 1, 0xFF, 2, 2]) + bytes([0, 4]) + b"ACME" + bytes([1, 3]) + b"X10"
    second = bytes([43, 14, 1, 1, 0, 0, 1]) + bytes([2, 6]) + b"V1.2\x00 "
    feed(dissector, recorder, mbap(1, first), False, 2)
    feed(dissector, recorder, mbap(1, second), False, 3)
    assert stats(recorder).functions == {"fc43/14": 3}
    assert stats(recorder).identities == []  # the merged object is written when the flow closes
    dissector.on_close()
    assert stats(recorder).identities == [
        {"src": SERVER, "unit_id": 1, "objects": {"0": "ACME", "1": "X10", "2": "V1.2"}}
    ]
    fields = [i.fields for i in recorder.identities.values()]
    assert {
        "vendor": "ACME",
        "model": "X10",
        "product_code": "X10",
        "firmware": "V1.2",
        "unit_id": "1",
    } in fields


def test_device_identification_truncated_reports_error():
    dissector, recorder, _ = make()
    feed(dissector, recorder, mbap(1, bytes([43, 14, 1, 1, 0, 0, 2, 0, 10]) + b"ab"), False, 1)
    assert recorder.decode_errors == 1
    dissector.on_close()
    assert stats(recorder).identities == []


def test_report_server_id_gives_identity_without_raw():
    dissector, recorder, _ = make()
    feed(dissector, recorder, mbap(1, bytes([17, 8]) + b"PLC-42\xff\x00"), False, 1)
    identity = next(iter(recorder.identities.values()))
    assert identity.fields["server_id"].startswith("PLC-42")
    assert identity.raw == {}
    assert stats(recorder).identities == []


def test_umas_keys_categories_and_program_events():
    dissector, recorder, session = make()
    feed(dissector, recorder, mbap(0, bytes([90, 0x00, 0x33, 0x01])), True, 1)  # init download (PLC -> PC)
    feed(dissector, recorder, mbap(0, bytes([90, 0x00, 0xFE, 0x00])), False, 2)
    feed(dissector, recorder, mbap(0, bytes([90, 0x07, 0x41, 0xFF, 0x00])), True, 3)  # stop PLC
    feed(dissector, recorder, mbap(0, bytes([90, 0x07])), True, 4)  # too short: no UMAS code
    feed(dissector, recorder, mbap(0, bytes([0xDA, 0x01])), False, 5)  # exception to fc 90
    assert stats(recorder).functions == {"fc90": 5}
    assert stats(recorder, "umas").functions == {"0x33": 1, "0xfe": 1, "0x41": 1, "unknown": 2}
    assert [(e.kind, e.function, e.protocol) for e in recorder.events] == [
        ("program", "0x33", "umas"),
        ("mode", "0x41", "umas"),
    ]
    assert session.agg.ops["program"] == 1 and session.agg.ops["mode"] == 1
    assert UMAS_FUNCTIONS[0x10][1] == "auth"


def test_garbage_is_reported_and_stream_resyncs():
    dissector, recorder, _ = make()
    feed(dissector, recorder, b"SSH-2.0-OpenSSH_9.0\r\n", True, 1)
    assert recorder.decode_errors == 1
    feed(dissector, recorder, mbap(1, bytes([1, 0, 0, 0, 1])), True, 2)
    assert stats(recorder).functions == {"fc1": 1}


@pytest.mark.parametrize(
    "frame",
    [
        struct.pack("!HHHB", 1, 0, 1, 1),  # length 1: no function code
        struct.pack("!HHH", 1, 0, 0),
        mbap(1, bytes([43])),  # MEI missing
        mbap(1, bytes([8, 0])),  # sub-function truncated
        mbap(1, bytes([16, 0])),  # write truncated
        mbap(1, bytes([43, 14])),  # device id response truncated
        mbap(1, bytes([17])),  # server id truncated
        mbap(1, bytes([17, 9, 1])),  # server id shorter than its byte count
    ],
)
def test_malformed_pdus_never_raise(frame):
    dissector, recorder, _ = make()
    for from_client in (True, False):
        feed(dissector, recorder, frame, from_client, 1)
    dissector.on_close()


def test_gap_drops_partial_pdu():
    dissector, recorder, _ = make()
    feed(dissector, recorder, mbap(1, bytes([3, 0, 0, 0, 1]))[:6], True, 1)
    dissector.on_gap(True)
    feed(dissector, recorder, mbap(1, bytes([4, 0, 0, 0, 1])), True, 2)
    assert stats(recorder).functions == {"fc4": 1}


def test_sniff_accepts_mbap_and_rejects_other_payloads():
    assert ModbusDissector.sniff(mbap(1, bytes([3, 0, 0, 0, 1])), True)
    assert not ModbusDissector.sniff(mbap(1, bytes([99, 0, 0, 0, 1])), True)  # unknown function
    assert not ModbusDissector.sniff(b"GET / HTTP/1.1\r\n\r\n", True)
    assert not ModbusDissector.sniff(b"\x00\x01\x00\x00\x00", True)
