"""IEC 60870-5-104 dissector: APCI formats, ASDU header, command events, identities."""

from __future__ import annotations

import struct

from icsaudit.passive.protocols.iec104 import Iec104Dissector, apdu_length, command_value
from icsaudit.passive.session import Recorder, Session

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"


def make() -> tuple[Recorder, Iec104Dissector]:
    recorder = Recorder()
    recorder.frame = 1
    agg = recorder.flow(CLIENT, SERVER, "tcp", 2404, "iec104")
    session = Session(recorder, "iec104", agg, "tcp", CLIENT, SERVER, 40000, 2404, frozenset({2404}))
    return recorder, Iec104Dissector(session)


def feed(dissector: Iec104Dissector, data: bytes, from_client: bool = True) -> None:
    dissector.session.recorder.frame += 1
    dissector.session.from_client = from_client
    dissector.on_tcp(data, from_client)


def i_frame(
    type_id: int, cause: int, ioa: int, element: bytes, common_address: int = 3, vsq: int = 1
) -> bytes:
    asdu = bytes([type_id, vsq, cause, 0]) + common_address.to_bytes(2, "little") + ioa.to_bytes(3, "little")
    asdu += element
    return bytes([0x68, 4 + len(asdu), 0x02, 0x00, 0x04, 0x00]) + asdu


U_STARTDT_ACT = bytes.fromhex("680407000000")
U_STARTDT_CON = bytes.fromhex("68040b000000")
U_TESTFR_ACT = bytes.fromhex("680443000000")
S_FRAME = bytes.fromhex("680401000a00")


def test_apdu_length() -> None:
    assert apdu_length(U_STARTDT_ACT) == 6
    assert apdu_length(b"\x68") is None
    assert apdu_length(b"\x00\x04") == 0
    assert apdu_length(b"\x68\x02") == 0  # below the 4 control octets


def test_u_s_and_i_formats_are_keyed_like_tshark() -> None:
    recorder, dissector = make()
    feed(dissector, U_STARTDT_ACT)
    feed(dissector, U_STARTDT_CON, from_client=False)
    feed(dissector, U_TESTFR_ACT + S_FRAME)
    feed(dissector, i_frame(13, 3, 1300, struct.pack("<f", 1.5) + b"\x00"), from_client=False)
    feed(dissector, i_frame(100, 6, 0, b"\x14"))
    stats = recorder.protocol_stats()["iec104"]
    assert stats.functions == {
        "I/100": 1,
        "I/13": 1,
        "S": 1,
        "U/STARTDT_ACT": 1,
        "U/STARTDT_CON": 1,
        "U/TESTFR_ACT": 1,
    }
    assert stats.identities == [{"server": SERVER, "common_address": 3}]
    # monitoring data is not a request; the interrogation activation is
    assert dissector.session.agg.ops == {"diagnostic": 1, "other": 1, "read": 1}


def test_single_command_select_then_execute_events() -> None:
    recorder, dissector = make()
    feed(dissector, i_frame(45, 6, 4500, b"\x81"))  # select, ON
    feed(dissector, i_frame(45, 7, 4500, b"\x81"), from_client=False)  # activation confirmation
    feed(dissector, i_frame(45, 6, 4500, b"\x01"))  # execute, ON
    events = recorder.events
    assert [e.kind for e in events] == ["control", "control"]
    assert events[0].detail["ioa"] == 4500 and events[0].detail["select"] is True
    assert events[1].detail["select"] is False and events[1].detail["value"] == 1
    assert dissector.session.agg.ops == {"control": 2}


def test_setpoint_and_time_tagged_commands() -> None:
    float_cmd = struct.pack("<f", 42.5) + b"\x00"
    assert command_value(50, float_cmd) == {"value": 42.5, "select": False}
    assert command_value(63, float_cmd + bytes(7)) == {"value": 42.5, "select": False}
    assert command_value(49, struct.pack("<h", -7) + b"\x80") == {"value": -7, "select": True}
    assert command_value(46, b"\x02") == {"value": "on", "select": False}
    assert command_value(47, b"\x81") == {"value": "lower", "select": True}
    assert command_value(48, b"") == {}


def test_negative_and_test_bits_and_reset_process() -> None:
    recorder, dissector = make()
    feed(dissector, i_frame(105, 0x80 | 6, 0, b"\x01"))  # reset process, test bit set
    (event,) = recorder.events
    assert event.kind == "mode" and event.detail["test"] is True and event.detail["qualifier"] == 1
    feed(dissector, i_frame(105, 0x40 | 7, 0, b"\x01"), from_client=False)  # negative confirmation
    assert len(recorder.events) == 1


def test_split_apdus_and_garbage() -> None:
    recorder, dissector = make()
    data = i_frame(45, 6, 1, b"\x01") + U_TESTFR_ACT
    for index in range(len(data)):
        feed(dissector, data[index : index + 1])
    assert recorder.protocol_stats()["iec104"].functions == {"I/45": 1, "U/TESTFR_ACT": 1}
    feed(dissector, b"\x00\x01\x02")
    assert recorder.decode_errors == 1
    dissector.on_gap(True)
    feed(dissector, S_FRAME)
    assert recorder.protocol_stats()["iec104"].functions["S"] == 1


def test_truncated_asdu_and_unknown_u_function() -> None:
    recorder, dissector = make()
    feed(dissector, bytes([0x68, 6, 0, 0, 0, 0, 45, 1]))  # ASDU of 2 bytes
    feed(dissector, bytes.fromhex("680403000000"))  # U-format with no function bit
    stats = recorder.protocol_stats()["iec104"]
    assert stats.functions == {"I/45": 1, "U": 1}
    assert recorder.decode_errors == 2


def test_sniff_recognises_connection_start() -> None:
    assert Iec104Dissector.sniff(U_STARTDT_ACT, True)
    assert not Iec104Dissector.sniff(b"\x68\x04\x01\x00", True)
