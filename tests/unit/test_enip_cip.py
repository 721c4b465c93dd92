"""ENIP/CIP dissector: encapsulation, CPF, CIP services, MSP, Unconnected Send, identities, events."""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import pytest

from icsaudit.passive.protocols.enip_cip import EnipCipDissector, parse_epath
from icsaudit.passive.session import Recorder, Session
from tests.conftest import CORPUS, corpus_available

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"


def make(transport: str = "tcp", server_port: int = 44818, client_port: int = 50000):
    rec = Recorder()
    rec.frame = 1
    agg = rec.flow(CLIENT, SERVER, transport, server_port, "enip")
    ports = EnipCipDissector.tcp_ports | EnipCipDissector.udp_ports
    session = Session(rec, "enip", agg, transport, CLIENT, SERVER, client_port, server_port, ports)
    return rec, session, EnipCipDissector(session)


def feed(session: Session, dissector: EnipCipDissector, data: bytes, from_client: bool) -> None:
    session.from_client = from_client
    session.recorder.frame += 1
    dissector.on_tcp(data, from_client)


def encap(command: int, data: bytes = b"", status: int = 0, session_handle: int = 0x1234) -> bytes:
    return struct.pack("<HHII8sI", command, len(data), session_handle, status, b"ctx12345", 0) + data


def rr_data(cip: bytes) -> bytes:
    """SendRRData: interface handle, timeout, CPF with a null address and an unconnected data item."""
    cpf = struct.pack("<IHH", 0, 10, 2) + struct.pack("<HH", 0, 0) + struct.pack("<HH", 0xB2, len(cip)) + cip
    return encap(0x6F, cpf)


def unit_data(cip: bytes, sequence: int = 1) -> bytes:
    body = struct.pack("<H", sequence) + cip
    cpf = struct.pack("<IHH", 0, 0, 2) + struct.pack("<HHI", 0xA1, 4, 0x11223344)
    return encap(0x70, cpf + struct.pack("<HH", 0xB1, len(body)) + body)


def request(service: int, path: bytes, data: bytes = b"") -> bytes:
    return bytes((service, len(path) // 2)) + path + data


def reply(service: int, data: bytes = b"", status: int = 0) -> bytes:
    return bytes((service | 0x80, 0, status, 0)) + data


def msp(parts: list[bytes], header: bytes) -> bytes:
    count = len(parts)
    offsets, pos = [], 2 + 2 * count
    for part in parts:
        offsets.append(pos)
        pos += len(part)
    return header + struct.pack(f"<H{count}H", count, *offsets) + b"".join(parts)


def stats(rec: Recorder, protocol: str):
    return rec.protocol_stats().get(protocol)


IDENTITY_PATH = b"\x20\x01\x24\x01"
IDENTITY_ALL = struct.pack("<HHHBBHI", 1, 14, 54, 16, 20, 0x3060, 0x0051823F) + b"\x141756-L61/B LOGIX5561"


def test_epath_logical_and_symbolic_segments() -> None:
    path = b"\x21\x00\x6b\x00\x25\x00\x20\x24\x30\x03"
    info = parse_epath(path, 0, len(path))
    assert (info.cls, info.instance, info.attribute) == (0x6B, 0x2420, 3)
    tag = b"\x91\x05Motor\x00\x28\x02\x91\x04Run1"
    info = parse_epath(tag, 0, len(tag))
    assert info.tag == "Motor[2].Run1" and info.cls is None
    assert parse_epath(b"\x91\x09abc", 0, 5) is None  # name overruns the path
    assert parse_epath(b"\xe0\x00", 0, 2) is None  # reserved segment type


def test_list_identity_reply_gives_truth_shaped_identity() -> None:
    rec, session, dissector = make()
    feed(session, dissector, encap(0x63), True)
    item = struct.pack("<H", 1) + struct.pack(">HHI8s", 2, 44818, 0x0A0101A4, b"\0" * 8)
    item += struct.pack("<HHHBBHI", 1, 12, 58, 4, 3, 0x30, 5393806) + b"\x0b1756-ENBT/A" + b"\x03"
    body = struct.pack("<HHH", 1, 0x0C, len(item)) + item
    feed(session, dissector, encap(0x63, body), False)
    enip = stats(rec, "enip")
    assert enip.functions == {"cmd/0x0063": 2}
    assert enip.identities == [
        {
            "src": SERVER,
            "vendor": 1,
            "devtype": 12,
            "prodcode": 58,
            "revision": 1027,
            "status": 48,
            "serial": 5393806,
            "name": "1756-ENBT/A",
            "state": 3,
        }
    ]
    (identity,) = rec.identities.values()
    assert identity.fields["vendor"] == "Rockwell Automation/Allen-Bradley"
    assert identity.fields["firmware"] == "4.3"
    assert identity.fields["serial"] == "0x00524d8e"
    assert identity.fields["device_type"] == "Communications Adapter"
    assert session.agg.ops == {"identify": 1}
    (service,) = rec.services.values()
    assert service.banner == "1756-ENBT/A"


def test_split_and_coalesced_segments() -> None:
    rec, session, dissector = make()
    read = rr_data(request(0x0E, IDENTITY_PATH + b"\x30\x07"))
    stream = encap(0x65, b"\x01\x00\x00\x00") + read
    for index in range(0, len(stream), 5):  # 5-byte segments split every header and item
        feed(session, dissector, stream[index : index + 5], True)
    assert stats(rec, "enip").functions == {"cmd/0x0065": 1, "cmd/0x006f": 1}
    assert stats(rec, "cip").functions == {"svc/0x0e": 1}
    rec2, session2, dissector2 = make()
    feed(session2, dissector2, read + read + read[:10], True)
    feed(session2, dissector2, read[10:], True)
    assert stats(rec2, "cip").pdus == 3
    assert stats(rec2, "enip").frames == 2  # the PDU completes in the frame that brings its last byte


def test_get_attributes_all_on_identity_reply() -> None:
    rec, session, dissector = make()
    feed(session, dissector, rr_data(request(0x01, IDENTITY_PATH)), True)
    feed(session, dissector, rr_data(reply(0x01, IDENTITY_ALL)), False)
    cip = stats(rec, "cip")
    assert cip.functions == {"svc/0x01": 2}
    assert cip.identities == [
        {
            "src": SERVER,
            "vendor_id": 1,
            "device_type": 14,
            "product_code": 54,
            "major_rev": 16,
            "minor_rev": 20,
            "serial_number": 0x0051823F,
            "product_name": "1756-L61/B LOGIX5561",
        }
    ]
    assert session.agg.ops == {"read": 1}  # the reply is not an operation; the wrapper neither


def test_get_attribute_single_product_name() -> None:
    rec, session, dissector = make()
    feed(session, dissector, rr_data(request(0x0E, IDENTITY_PATH + b"\x30\x07")), True)
    feed(session, dissector, rr_data(reply(0x0E, b"\x04PLC5")), False)
    assert stats(rec, "cip").identities == [{"src": SERVER, "product_name": "PLC5"}]


def test_unconnected_send_counts_wrapper_and_embedded_and_unwrapped_reply() -> None:
    rec, session, dissector = make()
    inner = request(0x01, IDENTITY_PATH)
    route = b"\x01\x00\x01\x00"  # route path size 1 word, reserved, port 1 slot 0
    wrapper = request(0x52, b"\x20\x06\x24\x01", b"\x07\xe8" + struct.pack("<H", len(inner)) + inner + route)
    feed(session, dissector, rr_data(wrapper), True)
    feed(session, dissector, rr_data(reply(0x01, IDENTITY_ALL)), False)
    cip = stats(rec, "cip")
    assert cip.functions == {"svc/0x52": 1, "svc/0x01": 2}
    assert len(cip.identities) == 1  # the reply matched the embedded Get_Attributes_All on class 1
    assert session.agg.ops == {"other": 1, "read": 1}


def test_read_tag_fragmented_is_a_read_not_unconnected_send() -> None:
    rec, session, dissector = make()
    tag = b"\x91\x04Tank"
    feed(session, dissector, unit_data(request(0x52, tag, b"\x01\x00\x00\x00\x00\x00")), True)
    assert session.agg.ops == {"read": 1}
    assert stats(rec, "cip").functions == {"svc/0x52": 1}


def test_multiple_service_packet_request_and_reply() -> None:
    rec, session, dissector = make()
    parts = [
        request(0x4C, b"\x91\x04Tank", b"\x01\x00"),
        request(0x4D, b"\x91\x05Valve\x00", b"\xc1\x00\x01\x00\x01"),
    ]
    feed(session, dissector, unit_data(msp(parts, b"\x0a\x02\x20\x02\x24\x01")), True)
    replies = [reply(0x4C, b"\xc4\x00\x2a\x00\x00\x00"), reply(0x4D)]
    feed(session, dissector, unit_data(msp(replies, bytes((0x8A, 0, 0, 0))), sequence=2), False)
    cip = stats(rec, "cip")
    assert cip.functions == {"svc/0x0a": 2, "svc/0x4c": 2, "svc/0x4d": 2}
    assert cip.frames == 2
    assert session.agg.ops == {"other": 1, "read": 1, "write": 1}
    (event,) = [e for e in rec.events if e.kind == "write"]
    assert event.function == "svc/0x4d" and event.detail["tag"] == "Valve"


def test_msp_with_bad_offset_reports_error_and_keeps_good_services() -> None:
    rec, session, dissector = make()
    part = request(0x4C, b"\x91\x04Tank", b"\x01\x00")
    body = b"\x0a\x02\x20\x02\x24\x01" + struct.pack("<HHH", 2, 6, 0x400) + part
    feed(session, dissector, unit_data(body), True)
    assert stats(rec, "cip").functions == {"svc/0x0a": 1, "svc/0x4c": 1}
    assert rec.decode_errors == 1


@pytest.mark.parametrize(
    ("service", "path", "kind", "category", "action"),
    [
        (0x05, IDENTITY_PATH, "mode", "mode", "reset"),
        (0x06, b"\x20\x8e\x24\x01", "mode", "mode", "start"),
        (0x07, b"\x20\x8e\x24\x01", "mode", "mode", "stop"),
        (0x4B, b"\x20\x8e\x24\x01\x20\x74\x24\x01", "lock", "auth", "lock"),
        (0x4C, b"\x20\x8e\x24\x01\x20\x74\x24\x01", "lock", "auth", "unlock"),
        (0x4F, b"\x20\x68\x25\x00\x20\x24\x20\x6a\x24\x01", "program", "program", "upload"),
        (0x50, b"\x20\x6a\x24\x01", "program", "program", "download"),
        (0x4D, b"\x20\xa1\x24\x01", "firmware", "firmware", "firmware_update"),
        (0x10, b"\x20\xf5\x24\x01\x30\x05", "write", "write", None),
    ],
)
def test_events_by_class_and_service(service, path, kind, category, action) -> None:
    rec, session, dissector = make()
    feed(session, dissector, unit_data(request(service, path, b"\x00")), True)
    (event,) = rec.events
    assert (event.kind, event.category, event.protocol) == (kind, category, "cip")
    assert event.detail.get("action") == action
    assert session.agg.ops == {category: 1}


def test_execute_pccc_change_mode() -> None:
    rec, session, dissector = make()
    requestor = b"\x07\x01\x00\x11\x22\x33\x44"
    pccc = b"\x0f\x00\x01\x00\x80\x01"  # CMD 0x0F, STS, TNSW, FNC 0x80 change mode, mode 1 (program)
    feed(session, dissector, rr_data(request(0x4B, b"\x20\x67\x24\x01", requestor + pccc)), True)
    (event,) = rec.events
    assert event.kind == "mode" and event.detail["service"] == "change_cpu_mode"
    assert event.detail["cpu_mode"] == "program"


def test_error_reply_counts_as_exception() -> None:
    rec, session, dissector = make()
    feed(session, dissector, rr_data(request(0x0E, b"\x20\x99\x24\x01\x30\x01")), True)
    feed(session, dissector, rr_data(reply(0x0E, status=0x08)), False)
    assert session.agg.exceptions == 1
    feed(session, dissector, encap(0x6F, status=0x65), False)  # encapsulation-level error
    assert session.agg.exceptions == 2


def test_malformed_input_never_raises() -> None:
    rec, session, dissector = make()
    feed(session, dissector, b"\xff\xff" + b"\x00" * 30, True)  # unknown command: dropped, resync
    feed(session, dissector, rr_data(b"\x0e"), True)  # CIP shorter than its header
    feed(session, dissector, rr_data(b"\x0e\x09\x20"), True)  # path longer than the message
    cpf = struct.pack("<IHH", 0, 0, 1) + struct.pack("<HH", 0xB2, 200) + b"\x01"
    feed(session, dissector, encap(0x6F, cpf), True)  # item longer than its message
    assert rec.decode_errors == 4
    assert stats(rec, "cip").functions == {"svc/0x0e": 2}


def test_gap_drops_partial_message() -> None:
    rec, session, dissector = make()
    message = rr_data(request(0x0E, IDENTITY_PATH + b"\x30\x07"))
    feed(session, dissector, message[:20], True)
    dissector.on_gap(True)
    feed(session, dissector, message, True)
    assert stats(rec, "cip").pdus == 1


def test_udp_list_identity_and_class1_io() -> None:
    rec, session, dissector = make("udp")
    session.from_client = True
    dissector.on_udp(encap(0x63), True)
    dissector.on_udp(encap(0x63)[:10], True)
    assert stats(rec, "enip").pdus == 1 and rec.decode_errors == 1
    rec, session, dissector = make("udp", server_port=2222, client_port=2222)
    for frame in (1, 2):
        rec.frame = frame
        session.from_client = frame == 1
        dissector.on_udp(b"\x02\x00\x02\x80\x08\x00" + b"\x00" * 20, frame == 1)
    cip = stats(rec, "cip")
    assert (cip.frames, cip.pdus) == (2, 0)  # tshark's cipio frames carry no service code
    assert sorted(cip.conversations) == [(CLIENT, SERVER, 2222, "udp"), (SERVER, CLIENT, 2222, "udp")]
    assert session.agg.functions == {"io": 2}
    assert "enip" not in rec.protocol_stats()


def test_sniff() -> None:
    assert EnipCipDissector.sniff(encap(0x65, b"\x01\x00\x00\x00"), True)
    assert not EnipCipDissector.sniff(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True)
    assert not EnipCipDissector.sniff(encap(0x1234), True)


# The ITI captures are named after what the engineering software did; the events must say the same.
NAMED_CAPTURES = {
    "iti__EIP-FirmwareChange.pcap": ("firmware", "firmware_update"),
    "iti__EIP-LockPLCAttempt.pcap": ("lock", "lock"),
    "iti__EIP-RebootorRestart.pcap": ("mode", "reset"),
    "iti__EIP-RemoteModeChangeAttempt.pcap": ("mode", "stop"),
    "iti__EIP-SoftwareUpload.pcap": ("program", "upload"),
    "iti__cip_start_plc.pcap": ("mode", "start"),
    "iti__cip_stop_plc.pcap": ("mode", "stop"),
    "iti__cip_unlock_cpu.pcap": ("lock", "unlock"),
}


@pytest.mark.corpus
@pytest.mark.skipif(not corpus_available(), reason="../shared/corpus is absent")
@pytest.mark.parametrize("name", sorted(NAMED_CAPTURES))
def test_named_corpus_captures_emit_matching_events(name: str) -> None:
    from icsaudit.passive.pipeline import analyze

    evidence = analyze([Path(CORPUS) / "pcaps" / "enip" / name])
    seen = Counter((e.kind, e.detail.get("action")) for e in evidence.events if e.protocol == "cip")
    assert seen[NAMED_CAPTURES[name]] >= 1, seen
    assert evidence.capture.decode_errors == 0
