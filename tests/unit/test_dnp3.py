"""DNP3 dissector: link frames, CRCs, transport reassembly, application functions, events."""

from __future__ import annotations

from icsaudit.passive.protocols.dnp3 import Dnp3Dissector, crc16, frame_length, parse_objects
from icsaudit.passive.session import Recorder, Session

MASTER, OUTSTATION = "10.0.0.1", "10.0.0.2"


def make(transport: str = "tcp") -> tuple[Recorder, Dnp3Dissector]:
    recorder = Recorder()
    recorder.frame = 1
    agg = recorder.flow(MASTER, OUTSTATION, transport, 20000, "dnp3")
    session = Session(recorder, "dnp3", agg, transport, MASTER, OUTSTATION, 40000, 20000, frozenset({20000}))
    return recorder, Dnp3Dissector(session)


def with_crc(block: bytes) -> bytes:
    return block + crc16(block).to_bytes(2, "little")


def link_frame(control: int, user: bytes = b"", dst: int = 10, src: int = 1) -> bytes:
    """A link frame: header + user data in 16-byte blocks, each with its CRC."""
    header = (
        b"\x05\x64" + bytes([5 + len(user), control]) + dst.to_bytes(2, "little") + src.to_bytes(2, "little")
    )
    body = b"".join(with_crc(user[i : i + 16]) for i in range(0, len(user), 16))
    return with_crc(header) + body


def request(function: int, objects: bytes = b"", transport: int = 0xC0) -> bytes:
    """A master's unconfirmed user data frame carrying one application fragment."""
    return link_frame(0xC4, bytes([transport, 0xC0, function]) + objects)


def response(function: int, iin: int, objects: bytes = b"", src: int = 10, dst: int = 1) -> bytes:
    return link_frame(
        0x44, bytes([0xC0, 0xC0, function]) + iin.to_bytes(2, "big") + objects, dst=dst, src=src
    )


def feed(dissector: Dnp3Dissector, data: bytes, from_client: bool = True, frame: int = 1) -> None:
    dissector.session.recorder.frame = frame
    dissector.session.from_client = from_client
    dissector.on_tcp(data, from_client)


CROB_LATCH_ON = (
    bytes([12, 1, 0x28, 1, 0, 7, 0, 0x03, 1])
    + (100).to_bytes(4, "little")
    + (0).to_bytes(4, "little")
    + b"\x00"
)


def test_crc_matches_a_captured_header() -> None:
    # 05 64 05 c9 03 00 04 00 + CRC bd 71: a Request Link Status from a real capture
    assert crc16(bytes.fromhex("056405c903000400")) == 0x71BD


def test_frame_length_counts_block_crcs_and_rejects_garbage() -> None:
    assert frame_length(link_frame(0xC9)) == 10
    assert frame_length(request(1, b"\x3c\x02\x06")) == 10 + 6 + 2
    assert frame_length(link_frame(0xC4, bytes(20))) == 10 + 20 + 4
    assert frame_length(b"\x05\x64\x05") is None
    assert frame_length(b"\x05\x64\x05\xc9\x03\x00\x04\x00\x00\x00") == 0  # bad header CRC
    assert frame_length(b"GET / HTTP/1.0\r\n") == 0


def test_read_request_and_response_counted_with_identities() -> None:
    recorder, dissector = make()
    feed(dissector, request(1, b"\x3c\x02\x06"))
    feed(dissector, response(129, 0x0000), from_client=False, frame=2)
    stats = recorder.protocol_stats()["dnp3"]
    assert stats.pdus == 2 and stats.frames == 2
    assert stats.functions == {"fc1": 1, "fc129": 1}
    assert stats.conversations == [(MASTER, OUTSTATION, 20000, "tcp")]
    assert {"src_ip": MASTER, "src": 1, "dst_ip": OUTSTATION, "dst": 10} in stats.identities
    assert {"src_ip": OUTSTATION, "src": 10, "dst_ip": MASTER, "dst": 1} in stats.identities
    assert dissector.session.agg.ops == {"read": 1}
    roles = {i.fields["dnp3_role"] for i in recorder.identities.values()}
    assert roles == {"master", "outstation"}


def test_link_only_frames_are_keyed_by_link_function() -> None:
    recorder, dissector = make()
    feed(dissector, link_frame(0xC9))  # request link status (primary 9)
    feed(dissector, link_frame(0x0B, dst=1, src=10), from_client=False, frame=2)  # link status (secondary 11)
    feed(dissector, link_frame(0xC0), frame=3)  # reset link (primary 0)
    feed(dissector, link_frame(0x00, dst=1, src=10), from_client=False, frame=4)  # ack (secondary 0)
    assert recorder.protocol_stats()["dnp3"].functions == {
        "link/pri/0": 1,
        "link/pri/9": 1,
        "link/sec/0": 1,
        "link/sec/11": 1,
    }


def test_frames_split_and_coalesced_across_segments() -> None:
    recorder, dissector = make()
    data = request(1, b"\x3c\x02\x06") + request(1, b"\x3c\x03\x06")
    for index in range(0, len(data), 5):
        feed(dissector, data[index : index + 5], frame=index + 1)
    assert recorder.protocol_stats()["dnp3"].functions == {"fc1": 2}


def test_transport_reassembly_of_a_multi_segment_fragment() -> None:
    recorder, dissector = make()
    fragment = bytes([0xC0, 0x81, 0x00, 0x00]) + bytes(range(40))  # response, IIN 0
    first = link_frame(0x44, bytes([0x40 | 62]) + fragment[:20], dst=1, src=10)  # FIR, seq 62
    middle = link_frame(0x44, bytes([63]) + fragment[20:40], dst=1, src=10)  # seq 63
    last = link_frame(0x44, bytes([0x80 | 0]) + fragment[40:], dst=1, src=10)  # FIN, seq wraps to 0
    feed(dissector, first + middle, from_client=False)
    assert recorder.protocol_stats()["dnp3"].functions == {}
    feed(dissector, last, from_client=False, frame=2)
    stats = recorder.protocol_stats()["dnp3"]
    assert stats.pdus == 3 and stats.functions == {"fc129": 1}


def test_out_of_sequence_segment_abandons_the_fragment() -> None:
    recorder, dissector = make()
    feed(dissector, link_frame(0xC4, bytes([0x40 | 5, 0xC0, 0x01])))  # FIR seq 5
    feed(dissector, link_frame(0xC4, bytes([0x80 | 9, 0x3C, 0x02])), frame=2)  # FIN seq 9: not 6
    stats = recorder.protocol_stats()["dnp3"]
    assert stats.pdus == 2 and stats.functions == {}


def test_bad_data_crc_is_an_error_not_a_crash() -> None:
    recorder, dissector = make()
    frame = bytearray(request(5, CROB_LATCH_ON))
    frame[12] ^= 0xFF  # corrupt user data in the first block
    feed(dissector, bytes(frame))
    stats = recorder.protocol_stats()["dnp3"]
    assert stats.pdus == 1 and stats.functions == {}
    assert recorder.decode_errors == 1
    assert "CRC" in recorder.error_samples[0].message


def test_garbage_and_short_length_are_reported_and_skipped() -> None:
    recorder, dissector = make()
    feed(dissector, b"\x00\x01garbage that is not dnp3")
    short = with_crc(b"\x05\x64\x02\xc4\x0a\x00\x01\x00")  # length 2 < 5: malformed header
    feed(dissector, short, frame=2)
    feed(dissector, request(1, b"\x3c\x02\x06"), frame=3)
    stats = recorder.protocol_stats()["dnp3"]
    assert stats.functions == {"fc1": 1}
    assert recorder.decode_errors == 2


def test_gap_drops_partial_frames() -> None:
    recorder, dissector = make()
    data = request(1, b"\x3c\x02\x06")
    feed(dissector, data[:7])
    dissector.on_gap(True)
    feed(dissector, data, frame=2)
    assert recorder.protocol_stats()["dnp3"].functions == {"fc1": 1}


def test_direct_operate_crob_event_with_control_code() -> None:
    recorder, dissector = make()
    feed(dissector, request(5, CROB_LATCH_ON))
    assert dissector.session.agg.ops == {"control": 1}
    (event,) = recorder.events
    assert event.kind == "control" and event.function == "fc5"
    (obj,) = event.detail["objects"]
    assert (obj["group"], obj["variation"], obj["count"]) == (12, 1, 1)
    (point,) = obj["points"]
    assert point["op_type"] == "latch_on" and point["index"] == 7 and point["on_ms"] == 100


def test_analog_output_and_restart_and_file_events() -> None:
    recorder, dissector = make()
    analog = bytes([41, 2, 0x17, 1, 3]) + (1234).to_bytes(2, "little") + b"\x00"
    feed(dissector, request(5, analog))
    feed(dissector, request(13), frame=2)  # cold restart
    feed(dissector, request(18), frame=3)  # stop application
    feed(dissector, request(25, bytes([70, 3, 0x5B, 1, 4, 0]) + b"abcd"), frame=4)  # open file
    feed(dissector, request(2, bytes([80, 1, 0x00, 7, 7, 0x00])), frame=5)  # write IIN
    kinds = [(e.kind, e.function) for e in recorder.events]
    assert kinds == [
        ("control", "fc5"),
        ("mode", "fc13"),
        ("mode", "fc18"),
        ("program", "fc25"),
        ("write", "fc2"),
    ]
    assert recorder.events[0].detail["objects"][0]["points"] == [{"value": 1234, "index": 3}]
    assert dissector.session.agg.ops == {"control": 1, "mode": 2, "program": 1, "write": 1}


def test_sav5_and_iin_bits_become_service_details() -> None:
    recorder, dissector = make()
    feed(dissector, request(32, bytes([120, 1, 0x5B, 1, 2, 0]) + b"\x00\x00"))
    feed(dissector, response(129, 0x9020), from_client=False, frame=2)  # restart, need time, config corrupt
    (service,) = recorder.services.values()
    assert service.details["sav5"] is True
    assert service.details["iin_device_restart"] and service.details["iin_need_time"]
    assert service.details["iin_config_corrupt"]
    assert recorder.protocol_stats()["dnp3"].functions == {"fc129": 1, "fc32": 1}


def test_malformed_object_headers_never_raise() -> None:
    objects, sav5 = parse_objects(bytes([0xC0, 0x05, 12, 1, 0x28, 5]), 2)
    assert objects[0]["truncated"] and not sav5
    objects, _ = parse_objects(bytes([0xC0, 0x05, 12, 1, 0x0F]), 2)  # reserved qualifier code
    assert objects[0]["truncated"]
    recorder, dissector = make()
    feed(dissector, request(5, bytes([12, 1, 0x28, 200, 0]) + bytes(11)))  # count 200, data for one
    assert recorder.events[0].detail["objects"][0]["truncated"]


def test_udp_datagram_with_two_frames_and_sniff() -> None:
    recorder, dissector = make("udp")
    dissector.on_udp(link_frame(0xC9) + request(1, b"\x3c\x02\x06"), True)
    dissector.on_udp(b"\x01\x02\x03", True)
    assert recorder.protocol_stats()["dnp3"].functions == {"fc1": 1, "link/pri/9": 1}
    assert recorder.decode_errors == 1
    assert Dnp3Dissector.sniff(link_frame(0xC9), True)
    assert not Dnp3Dissector.sniff(b"\x05\x64\x05\xc9\x03\x00\x04\x00\x00\x00", True)
