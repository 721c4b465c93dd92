"""S7comm / S7comm-plus dissector: TPKT/COTP/S7 PDUs built here as bytes, fed through a real Session."""

from __future__ import annotations

import struct

import pytest

from icsaudit.passive.protocols.s7comm import (
    JOB_FUNCTIONS,
    USERDATA_FUNCTIONS,
    S7commDissector,
)
from icsaudit.passive.session import Recorder, Session
from tests.unit.dissector_session import CLIENT, SERVER, feed, open_session


def tpkt_dt(payload: bytes, eot: bool = True) -> bytes:
    cotp = bytes([2, 0xF0, 0x80 if eot else 0x00])
    return struct.pack("!BBH", 3, 0, 4 + len(cotp) + len(payload)) + cotp + payload


def s7(rosctr: int, param: bytes, data: bytes = b"", error: int = 0, pduref: int = 1) -> bytes:
    header = struct.pack("!BBHHHH", 0x32, rosctr, 0, pduref, len(param), len(data))
    if rosctr in (2, 3):
        header += struct.pack("!H", error)
    return header + param + data


def ud_param(
    method_type: int, group: int, subfunc: int, seq: int = 0, ref: int | None = None, more: int = 0
) -> bytes:
    if ref is None:
        return bytes([0, 1, 0x12, 4, 0x11, (method_type << 4) | group, subfunc, seq])
    return bytes([0, 1, 0x12, 8, 0x12, (method_type << 4) | group, subfunc, seq, ref, more, 0, 0])


def ud_data(body: bytes, return_code: int = 0xFF) -> bytes:
    return bytes([return_code, 0x09]) + struct.pack("!H", len(body)) + body


def make() -> tuple[S7commDissector, Recorder, Session]:
    return open_session(S7commDissector, "s7comm", 102)


def stats(recorder: Recorder, protocol: str = "s7comm"):
    return recorder.protocol_stats()[protocol]


def s7any(area: int, db: int, byte: int, length: int, bit: int = 0) -> bytes:
    return (
        bytes([0x12, 0x0A, 0x10, 0x02])
        + struct.pack("!HHB", length, db, area)
        + ((byte << 3) | bit).to_bytes(3, "big")
    )


def test_setup_read_write_keys_and_write_event():
    dissector, recorder, session = make()
    feed(dissector, recorder, tpkt_dt(s7(1, bytes([0xF0, 0, 0, 1, 0, 1, 0x01, 0xE0]))), True, 1)
    feed(dissector, recorder, tpkt_dt(s7(3, bytes([0xF0, 0, 0, 1, 0, 1, 0x00, 0xF0]))), False, 2)
    feed(dissector, recorder, tpkt_dt(s7(1, bytes([0x04, 1]) + s7any(0x84, 5, 10, 4))), True, 3)
    write = s7(1, bytes([0x05, 1]) + s7any(0x84, 7, 20, 2), bytes([0, 4, 0, 16, 0xAB, 0xCD]))
    feed(dissector, recorder, tpkt_dt(write), True, 4)
    feed(dissector, recorder, tpkt_dt(s7(3, bytes([0x05, 1]), bytes([0xFF]))), False, 5)
    feed(dissector, recorder, tpkt_dt(s7(2, b"")), False, 6)
    s = stats(recorder)
    assert s.functions == {
        "job/0xf0": 1,
        "ack_data/0xf0": 1,
        "job/0x04": 1,
        "job/0x05": 1,
        "ack_data/0x05": 1,
        "ack": 1,
    }
    assert s.pdus == 6 and s.frames == 6
    assert s.conversations == [(CLIENT, SERVER, 102, "tcp")]
    assert dict(session.agg.ops) == {"other": 1, "read": 1, "write": 1}
    (event,) = recorder.events
    assert event.kind == "write" and event.function == "job/0x05"
    assert event.detail["items"] == [
        {"area": "data_block", "db": 7, "start": 20, "bit": 0, "length": 2, "transport_size": 2}
    ]


def test_ack_data_error_counts_as_exception():
    dissector, recorder, session = make()
    feed(dissector, recorder, tpkt_dt(s7(3, bytes([0x04, 0]), error=0x8104)), False, 1)
    assert stats(recorder).functions == {"ack_data/0x04": 1}
    assert session.agg.exceptions == 1


def test_cotp_fragments_reassembled_until_eot_and_tpkt_split_across_segments():
    dissector, recorder, _ = make()
    pdu = s7(1, bytes([0x04, 1]) + s7any(0x83, 0, 0, 1))
    first, second = tpkt_dt(pdu[:7], eot=False), tpkt_dt(pdu[7:])
    feed(dissector, recorder, first + second[:3], True, 1)
    assert "s7comm" not in recorder.protocols
    feed(dissector, recorder, second[3:], True, 2)
    assert stats(recorder).functions == {"job/0x04": 1}


def test_two_tpkts_in_one_segment():
    dissector, recorder, _ = make()
    data = tpkt_dt(s7(7, ud_param(4, 7, 1), ud_data(b""))) + tpkt_dt(
        s7(7, ud_param(8, 7, 1), ud_data(b"\x00" * 10))
    )
    feed(dissector, recorder, data, True, 1)
    s = stats(recorder)
    assert s.functions == {"userdata/7/1": 2} and s.frames == 1


def test_plc_stop_and_pi_services_are_mode_and_program_events():
    dissector, recorder, session = make()
    stop = bytes([0x29, 0, 0, 0, 0, 0, 9]) + b"P_PROGRAM"
    feed(dissector, recorder, tpkt_dt(s7(1, stop)), True, 1)
    start = bytes([0x28, 0, 0, 0, 0, 0, 0, 0xFD, 0, 2]) + b"C " + bytes([9]) + b"P_PROGRAM"
    feed(dissector, recorder, tpkt_dt(s7(1, start)), True, 2)
    insert = (
        bytes([0x28, 0, 0, 0, 0, 0, 0, 0xFD, 0, 10])
        + b"\x01\x30\x38\x30\x30\x30\x30\x31\x50\x00"
        + bytes([5])
    )
    feed(dissector, recorder, tpkt_dt(s7(1, insert + b"_INSE")), True, 3)
    kinds = [(e.kind, e.category, e.detail.get("pi_service")) for e in recorder.events]
    assert kinds == [
        ("mode", "mode", "P_PROGRAM"),
        ("mode", "mode", "P_PROGRAM"),
        ("program", "program", "_INSE"),
    ]
    assert recorder.events[1].detail["argument"] == "C "
    operations = [e.detail["operation"] for e in recorder.events]
    assert operations == ["plc_stop", "start_program", "insert_block"]
    assert dict(session.agg.ops) == {"mode": 2, "program": 1}


def test_download_request_names_the_block():
    dissector, recorder, _ = make()
    param = bytes([0x1A, 0, 1, 0, 0, 0, 0, 0, 9]) + b"_0800001P" + bytes([13]) + b"1000268000100"
    feed(dissector, recorder, tpkt_dt(s7(1, param)), True, 1)
    (event,) = recorder.events
    assert (
        event.kind == "program" and event.detail["block_type"] == "OB" and event.detail["block_number"] == 1
    )
    assert JOB_FUNCTIONS[0x1E][1] == "program"  # upload is a program transfer too


def test_userdata_categories_events_and_mode_transition_key():
    dissector, recorder, session = make()
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(4, 7, 2), ud_data(b"\x00" * 10))), True, 1)  # set clock
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(4, 5, 1), ud_data(b"\x01" * 8))), True, 2)  # password
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(4, 1, 9), ud_data(b"\x00" * 4))), True, 3)  # force
    modetrans = bytes([0, 1, 0, 0x10, 0x10, 0x00, 0x00, 0x00])
    feed(dissector, recorder, tpkt_dt(s7(7, modetrans)), False, 4)
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(4, 3, 1), ud_data(b"\x00"))), True, 5)
    s = stats(recorder)
    assert s.functions == {
        "userdata/7/2": 1,
        "userdata/5/1": 1,
        "userdata/1/9": 1,
        "userdata/0": 1,
        "userdata/3/1": 1,
    }
    assert [e.kind for e in recorder.events] == ["control", "auth", "force"]
    assert dict(session.agg.ops) == {"control": 1, "auth": 1, "write": 1, "read": 1}
    assert USERDATA_FUNCTIONS[(4, 1)][1] == "diagnostic"


def test_tis_job_installing_a_force_is_a_force_event():
    dissector, recorder, _ = make()
    tis = struct.pack("!HH", 20, 2) + bytes(20) + bytes([9, 2])  # job function 9 = force
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(4, 1, 14), ud_data(tis))), True, 1)
    tis_read = struct.pack("!HH", 20, 2) + bytes(20) + bytes([2, 2])  # variable status job
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(4, 1, 14), ud_data(tis_read))), True, 2)
    assert [e.kind for e in recorder.events] == ["force"]


def szl_body(szl_id: int, index: int, record_length: int, records: list[bytes]) -> bytes:
    return struct.pack("!HHHH", szl_id, index, record_length, len(records)) + b"".join(records)


def test_szl_0011_module_identification_identity():
    dissector, recorder, _ = make()
    order = b"6ES7 315-2EH14-0AB0 "
    records = [
        struct.pack("!H", 1) + order + struct.pack("!HHH", 0xC0, 3, 1),
        struct.pack("!H", 7) + b" " * 20 + struct.pack("!HHH", 0xC0, 0x5603, 0x0206),
    ]
    body = szl_body(0x0011, 0, 28, records)
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(8, 4, 1, ref=0, more=0), ud_data(body))), False, 1)
    assert stats(recorder).identities == [
        {
            "src": SERVER,
            "szl_id": "0x0011",
            "records": {
                "0x0001": {"anz": "6ES7 315-2EH14-0AB0", "bgtyp": 192, "ausbg": 3, "ausbe": 1},
                "0x0007": {"anz": "", "bgtyp": 192, "ausbg": 0x5603, "ausbe": 0x0206},
            },
        }
    ]
    (identity,) = recorder.identities.values()
    assert identity.fields["model"] == "6ES7 315-2EH14-0AB0"
    assert identity.fields["firmware"] == "V3.2.6"
    assert identity.fields["vendor"] == "Siemens"
    assert identity.ip == SERVER


def component(index: int, content: bytes) -> bytes:
    return struct.pack("!H", index) + content.ljust(32, b"\x00")


def test_szl_001c_fragmented_response_reassembled():
    dissector, recorder, _ = make()
    records = [
        component(1, b"Station_1"),
        component(2, b"PLC_1"),
        component(4, b"Original Siemens Equipment"),
        component(5, b"S C-B1U393142011"),
        component(7, b"CPU 315-2 PN/DP"),
        component(9, struct.pack("!HHH", 0x2A, 0xF600, 1)),
        component(10, b"".ljust(26, b"\x00") + struct.pack("!HI", 0, 0)),
    ]
    body = szl_body(0x001C, 0, 34, records)
    part1, part2 = body[:100], body[100:]
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(8, 4, 1, ref=7, more=1), ud_data(part1))), False, 1)
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(4, 4, 1, ref=7, more=0), ud_data(b""))), True, 2)
    assert stats(recorder).identities == []
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(8, 4, 1, ref=7, more=0), ud_data(part2))), False, 3)
    (raw,) = stats(recorder).identities
    assert raw["szl_id"] == "0x001c"
    assert raw["records"]["0x0005"] == {"serialn": "S C-B1U393142011"}
    assert raw["records"]["0x0009"] == {"manufacturer_id": 42, "profile_id": 0xF600, "profile_spec_typ": 1}
    assert raw["records"]["0x000a"] == {"oem_copyright_string": "", "oem_id": 0, "oem_add_id": 0}
    (identity,) = recorder.identities.values()
    assert identity.fields["serial"] == "S C-B1U393142011"
    assert identity.fields["device_type"] == "CPU 315-2 PN/DP"
    assert identity.fields["name"] == "PLC_1"


def test_szl_mode_and_protection_level_extras():
    dissector, recorder, _ = make()
    mode_record = struct.pack("!HBB", 0x4304, 0xFF, 0x08) + bytes(16)
    body = szl_body(0x0424, 0, 20, [mode_record])
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(8, 4, 1, ref=0), ud_data(body))), False, 1)
    protection = struct.pack("!HHHHH", 4, 1, 0, 1, 2) + bytes(30)
    body = szl_body(0x0232, 4, 40, [protection])
    feed(dissector, recorder, tpkt_dt(s7(7, ud_param(8, 4, 1, ref=0), ud_data(body))), False, 2)
    fields = [i.fields for i in recorder.identities.values()]
    assert {"cpu_mode": "RUN"} in fields
    assert {"protection_level": "1", "mode_switch": "RUN-P"} in fields
    assert stats(recorder).identities == []  # only xx11 / xx1C give raw identities


def test_s7comm_plus_keys_and_once_per_frame():
    dissector, recorder, session = make()
    request = bytes([0x72, 2, 0, 20, 0x31, 0, 0, 0x05, 0x42]) + bytes(8)
    feed(dissector, recorder, tpkt_dt(request), True, 1)
    response = bytes([0x72, 2, 0, 20, 0x32, 0, 0, 0x05, 0x42]) + bytes(8)
    feed(dissector, recorder, tpkt_dt(response) + tpkt_dt(response), False, 2)  # counted once
    v3 = bytes([0x72, 3, 0, 40, 32]) + bytes(32) + bytes([0x31, 0, 0, 0x04, 0xF2, 0])
    feed(dissector, recorder, tpkt_dt(v3), True, 3)
    feed(dissector, recorder, tpkt_dt(bytes([0x72, 2, 0, 4, 0x33, 0])), False, 4)
    feed(dissector, recorder, tpkt_dt(bytes([0x72, 1])), False, 5)
    s = stats(recorder, "s7comm_plus")
    assert s.functions == {
        "v2/0x31/0x0542": 1,
        "v2/0x32/0x0542": 1,
        "v3/0x31/0x04f2": 1,
        "v2/0x33": 1,
        "v1": 1,
    }
    assert [e.function for e in recorder.events] == ["v2/0x31/0x0542", "v3/0x31/0x04f2"]
    assert session.agg.ops["write"] == 2
    assert "s7comm" not in recorder.protocols


def test_connection_confirm_records_service_with_tsaps():
    dissector, recorder, _ = make()
    cc = bytes([0x11, 0xD0, 0, 1, 0, 2, 0, 0xC0, 1, 0x0A, 0xC1, 2, 1, 0, 0xC2, 2, 1, 2])
    packet = struct.pack("!BBH", 3, 0, 4 + len(cc)) + cc
    feed(dissector, recorder, packet, False, 1)
    (service,) = recorder.services.values()
    assert service.details == {"src_tsap": "0100", "dst_tsap": "0102"}
    # A CC (or CR) cannot tell S7 from MMS on contested port 102: only a DT with an S7 header decides.
    assert not S7commDissector.sniff(packet, False)
    assert S7commDissector.sniff(packet + tpkt_dt(s7(1, bytes([0x04, 0]))), False)
    assert not S7commDissector.sniff(packet + tpkt_dt(bytes([0x0D, 0x05, 0x01])), False)


def test_sniff():
    assert S7commDissector.sniff(tpkt_dt(s7(1, bytes([0x04, 0]))), True)
    assert S7commDissector.sniff(tpkt_dt(bytes([0x72, 1, 0, 0, 0x31])), True)
    assert not S7commDissector.sniff(tpkt_dt(bytes([0x0D, 0x05, 0x01])), True)  # ISO session (MMS)
    cr_mms = bytes([0x11, 0xE0, 0, 0, 0, 1, 0, 0xC1, 2, 0, 1, 0xC2, 2, 0, 1, 0xC0, 1, 0x0A])
    assert not S7commDissector.sniff(struct.pack("!BBH", 3, 0, 4 + len(cr_mms)) + cr_mms, True)
    assert not S7commDissector.sniff(b"GET / HTTP/1.1\r\n", True)


@pytest.mark.parametrize(
    "payload",
    [
        s7(1, b""),  # job without function
        s7(3, b""),  # ack_data without function
        bytes([0x32, 7, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0x12]),  # userdata param too short
        bytes([0x32, 7, 0, 0, 0, 0, 0, 6, 0, 0, 0, 1, 0x12, 4, 0x11, 0x44]),  # no subfunction
        s7(1, bytes([0x29, 0])),  # PLC stop truncated
        s7(1, bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 0, 50])),  # PI parameter block beyond the PDU
        s7(1, bytes([0x05, 3, 0x12, 0x0A])),  # write items truncated
        s7(1, bytes([0x1A, 0, 0, 0, 0, 0, 0, 0, 30, 0x5F])),  # block name truncated
        s7(7, ud_param(8, 4, 1, ref=0), ud_data(struct.pack("!HHHH", 0x11, 0, 28, 5) + b"x" * 30)),
        s7(7, ud_param(8, 4, 1, ref=0), ud_data(struct.pack("!HHHH", 0x1C, 0, 0, 3))),
        s7(7, ud_param(8, 4, 1, ref=0), ud_data(struct.pack("!HHHH", 0x232, 0, 40, 2) + bytes(6))),
        s7(7, ud_param(4, 1, 14), ud_data(struct.pack("!HH", 200, 9))),
        bytes([0x32, 9, 0, 0, 0, 0, 0, 0, 0, 0]),  # unknown ROSCTR: not S7comm for tshark
        bytes([0x32, 1, 0]),  # shorter than the header
        bytes([0x72]),
    ],
)
def test_malformed_pdus_never_raise(payload):
    dissector, recorder, _ = make()
    for from_client in (True, False):
        feed(dissector, recorder, tpkt_dt(payload), from_client, 1)
    dissector.on_close()


def test_bad_tpkt_and_cotp_are_reported_and_resync():
    dissector, recorder, _ = make()
    feed(dissector, recorder, b"\x05\x00\x00\x10garbage-garbage", True, 1)
    feed(
        dissector, recorder, struct.pack("!BBH", 3, 0, 7) + bytes([9, 0xF0, 0x80]), True, 2
    )  # LI beyond TPKT
    assert recorder.decode_errors == 2
    feed(dissector, recorder, tpkt_dt(s7(1, bytes([0x04, 0]))), True, 3)
    assert stats(recorder).functions == {"job/0x04": 1}


def test_gap_drops_partial_cotp_and_tpkt():
    dissector, recorder, _ = make()
    pdu = s7(1, bytes([0x04, 1]) + s7any(0x83, 0, 0, 1))
    feed(dissector, recorder, tpkt_dt(pdu[:7], eot=False), True, 1)
    dissector.on_gap(True)
    feed(dissector, recorder, tpkt_dt(s7(1, bytes([0x05, 0]))), True, 2)
    assert stats(recorder).functions == {"job/0x05": 1}
