"""BACnet APDU segment reassembly (ASHRAE 135 clause 5.2): segmented ComplexACKs and confirmed
requests are parsed once complete, PDUs still count one per segment (as tshark), gaps, timeouts and
the memory caps drop a message with a decode error and invent nothing."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from icsaudit.passive.pipeline import Analyzer
from icsaudit.passive.protocols import bacnet, default_registry
from icsaudit.passive.protocols.bacnet import BacnetDissector
from icsaudit.passive.session import Recorder, Session
from tests.data.craft import ether, ipv4, pcap, udp

HMI, PLC = "10.0.0.1", "10.0.0.2"
DEVICE = 1234
IDENTITY = {77: "AHU-3 controller", 121: "ACME Controls", 70: "AC-9000", 44: "4.2.1"}
EXPECTED = {
    "src": PLC,
    "device_instance": DEVICE,
    "object_name": "AHU-3 controller",
    "vendor_name": "ACME Controls",
    "model_name": "AC-9000",
    "firmware_revision": "4.2.1",
}


# -- crafting ---------------------------------------------------------------------------------
def make(recorder: Recorder | None = None) -> tuple[Recorder, BacnetDissector]:
    recorder = recorder or Recorder()
    recorder.file = "t.pcap"
    agg = recorder.flow(HMI, PLC, "udp", 47808, "bacnet")
    session = Session(recorder, "bacnet", agg, "udp", HMI, PLC, 47808, 47808, frozenset(range(47808, 47824)))
    return recorder, BacnetDissector(session)


def send(dissector: BacnetDissector, datagram: bytes, from_client: bool, ts: float | None = None) -> None:
    recorder = dissector.session.recorder
    recorder.frame += 1
    recorder.ts = float(recorder.frame) if ts is None else ts
    dissector.session.from_client = from_client
    dissector.on_udp(datagram, from_client)


def unicast(apdu: bytes, npdu: bytes = b"\x01\x00") -> bytes:
    payload = npdu + apdu
    return bytes([0x81, 0x0A]) + struct.pack(">H", 4 + len(payload)) + payload


def char_string(text: str) -> bytes:
    raw = b"\x00" + text.encode()
    return bytes([0x75, len(raw)]) + raw


def rpm_ack_body(instance: int = DEVICE, props: dict[int, str] = IDENTITY) -> bytes:
    """ReadPropertyMultiple-ACK service data: the device object and one string result per property."""
    body = b"\x0c" + struct.pack(">I", (8 << 22) | instance) + b"\x1e"
    for prop, text in props.items():
        body += bytes([0x29, prop]) + b"\x4e" + char_string(text) + b"\x4f"
    return body + b"\x1f"


def split(body: bytes, count: int) -> list[bytes]:
    """``body`` in ``count`` pieces cut at arbitrary bytes (mid-tag, mid-string)."""
    size = -(-len(body) // count)
    return [body[i : i + size] for i in range(0, len(body), size)]


def ack_segment(
    invoke: int, seq: int, chunk: bytes, more: bool, window: int = 16, service: int = 14
) -> bytes:
    return bytes([0x3C if more else 0x38, invoke, seq & 0xFF, window, service]) + chunk


def request_segment(invoke: int, seq: int, chunk: bytes, more: bool, service: int, window: int = 16) -> bytes:
    return bytes([0x0E if more else 0x0A, 0x05, invoke, seq & 0xFF, window, service]) + chunk


def segment_ack(invoke: int, seq: int, server: bool, window: int = 16) -> bytes:
    return bytes([0x41 if server else 0x40, invoke, seq & 0xFF, window])


def ack_segments(invoke: int, body: bytes, count: int, window: int = 16) -> list[bytes]:
    pieces = split(body, count)
    return [
        ack_segment(invoke, seq, piece, seq < len(pieces) - 1, window) for seq, piece in enumerate(pieces)
    ]


def identities(recorder: Recorder) -> list[dict]:
    stats = recorder.protocol_stats().get("bacnet")
    return stats.identities if stats else []


# -- reassembly -------------------------------------------------------------------------------
def test_segmented_rpm_ack_yields_the_identity_an_unsegmented_one_does() -> None:
    plain, flow = make()
    send(flow, unicast(b"\x30\x07\x0e" + rpm_ack_body()), from_client=False)

    recorder, flow = make()
    segments = ack_segments(7, rpm_ack_body(), 4)
    for seq, segment in enumerate(segments):
        send(flow, unicast(segment), from_client=False)
        send(flow, unicast(segment_ack(7, seq, server=False)), from_client=True)

    assert identities(recorder) == identities(plain) == [EXPECTED]
    [ident] = recorder.identities.values()
    assert ident.fields["vendor"] == "ACME Controls" and ident.fields["model"] == "AC-9000"
    assert ident.fields["firmware"] == "4.2.1" and ident.fields["name"] == "AHU-3 controller"
    assert ident.ref.frame == 7  # the frame of the last segment, where tshark reassembles
    stats = recorder.protocol_stats()["bacnet"]
    # One PDU per segment and per SegmentACK, as tshark counts them (truth: bacnet_services.pcap).
    assert stats.functions == {"apdu/3": 4, "apdu/4": 4}
    assert stats.pdus == stats.frames == 8
    assert recorder.decode_errors == 0
    assert not flow._open


def test_out_of_order_segments_inside_the_window_are_reassembled() -> None:
    recorder, flow = make()
    segments = ack_segments(9, rpm_ack_body(), 4)
    for index in (0, 2, 3, 1):
        send(flow, unicast(segments[index]), from_client=False)
    assert identities(recorder) == [EXPECTED]
    [ident] = recorder.identities.values()
    assert ident.ref.frame == 4  # completed by segment 1, the fourth datagram
    assert recorder.decode_errors == 0


def test_first_segment_arriving_last_completes_the_message() -> None:
    recorder, flow = make()
    segments = ack_segments(9, rpm_ack_body(), 3)
    for index in (1, 2, 0):
        send(flow, unicast(segments[index]), from_client=False)
    assert identities(recorder) == [EXPECTED]
    assert recorder.decode_errors == 0


def test_retransmitted_segments_are_taken_once() -> None:
    recorder, flow = make()
    segments = ack_segments(3, rpm_ack_body(), 3)
    # Segment 1 repeated (its SegmentACK lost), then the whole message again after it completed.
    for index in (0, 1, 1, 2, 0, 1, 2):
        send(flow, unicast(segments[index]), from_client=False)
    assert identities(recorder) == [EXPECTED]
    assert len(recorder.identities) == 1
    assert recorder.decode_errors == 0
    assert recorder.protocol_stats()["bacnet"].functions == {"apdu/3": 7}
    flow.on_close()
    assert recorder.decode_errors == 0  # nothing was left open by the retransmissions


def test_sequence_numbers_wrap_modulo_256(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bacnet, "MAX_SEGMENTS", 400)
    monkeypatch.setattr(bacnet, "MAX_MESSAGE_BYTES", 1 << 20)
    recorder, flow = make()
    body = rpm_ack_body()
    filler = (
        b"\x0c" + struct.pack(">I", (0 << 22) | 1) + b"\x1e" + b"\x29\x55\x4e\x44" + bytes(4) + b"\x4f\x1f"
    )
    body = filler * 60 + body  # analog-input results first, the device object last
    segments = ack_segments(5, body, 300, window=8)
    assert len(segments) > 257 and segments[256][2] == 0  # the sequence number wrapped
    for segment in segments:
        send(flow, unicast(segment), from_client=False)
    assert identities(recorder) == [EXPECTED]
    assert recorder.decode_errors == 0


def test_routed_devices_behind_one_router_are_kept_apart() -> None:
    recorder, flow = make()
    first = ack_segments(1, rpm_ack_body(100, {77: "left"}), 2)
    second = ack_segments(1, rpm_ack_body(200, {77: "right"}), 2)
    left, right = b"\x01\x08\x00\x03\x01\x0a", b"\x01\x08\x00\x03\x01\x0b"  # SNET 3, SADR 10 / 11
    for a, b in zip(first, second, strict=True):
        send(flow, unicast(a, left), from_client=False)
        send(flow, unicast(b, right), from_client=False)
    names = {i["device_instance"]: i["object_name"] for i in identities(recorder)}
    assert names == {100: "left", 200: "right"}
    assert recorder.decode_errors == 0


def test_segmented_write_request_event_comes_from_the_whole_request() -> None:
    recorder, flow = make()
    # WriteProperty(analog-value 7, present-value, 42.5, priority 8): the value lies in the second
    # segment, which the first segment alone could not tell.
    body = (
        b"\x0c"
        + struct.pack(">I", (2 << 22) | 7)
        + b"\x19\x55\x3e\x44"
        + struct.pack(">f", 42.5)
        + b"\x3f\x49\x08"
    )
    pieces = [body[:7], body[7:]]
    send(flow, unicast(request_segment(11, 0, pieces[0], True, 15)), from_client=True)
    assert recorder.events == []
    send(flow, unicast(segment_ack(11, 0, server=True)), from_client=False)
    send(flow, unicast(request_segment(11, 1, pieces[1], False, 15)), from_client=True)
    [event] = recorder.events
    assert event.kind == "write" and event.function == "confirmed/15"
    assert event.detail == {
        "service": "writeProperty",
        "object_type": "analog-value",
        "object_instance": 7,
        "property": "present-value",
        "value": 42.5,
        "priority": 8,
    }
    assert event.ref.frame == 3
    stats = recorder.protocol_stats()["bacnet"]
    assert stats.functions == {"confirmed/15": 2, "apdu/4": 1}  # one PDU per segment
    assert recorder.flows[(HMI, PLC, "udp", 47808, "bacnet")].ops == {"write": 2}


# -- gaps, timeouts and caps ------------------------------------------------------------------
def test_missing_segment_counts_an_error_and_invents_nothing() -> None:
    recorder, flow = make()
    segments = ack_segments(4, rpm_ack_body(), 3)
    send(flow, unicast(segments[0]), from_client=False)
    send(flow, unicast(segments[2]), from_client=False)  # segment 1 never captured
    assert identities(recorder) == [] and recorder.identities == {}
    assert recorder.decode_errors == 0  # it may still come
    flow.on_close()
    assert recorder.decode_errors == 1
    assert "incomplete" in recorder.error_samples[0].message
    assert identities(recorder) == []
    assert recorder.protocol_stats()["bacnet"].functions == {"apdu/3": 2}


def test_segment_beyond_the_window_is_a_gap() -> None:
    recorder, flow = make()
    segments = ack_segments(4, rpm_ack_body(), 8, window=2)
    send(flow, unicast(segments[0]), from_client=False)
    for segment in segments[3:]:  # 1 and 2 lost: 3 lies past a window of 2 after segment 1
        send(flow, unicast(segment), from_client=False)
    assert recorder.decode_errors == 1  # once for the message, not once per later segment
    assert "segment missing" in recorder.error_samples[0].message
    assert identities(recorder) == []
    flow.on_close()
    assert recorder.decode_errors == 1


def test_a_stalled_message_times_out() -> None:
    recorder, flow = make()
    stalled = ack_segments(1, rpm_ack_body(), 3)
    send(flow, unicast(stalled[0]), from_client=False, ts=100.0)
    later = ack_segments(2, rpm_ack_body(), 2)
    send(flow, unicast(later[0]), from_client=False, ts=100.0 + bacnet.SEGMENT_TIMEOUT + 1)
    assert recorder.decode_errors == 1
    assert "timed out" in recorder.error_samples[0].message
    send(flow, unicast(later[1]), from_client=False, ts=100.0 + bacnet.SEGMENT_TIMEOUT + 2)
    assert identities(recorder) == [EXPECTED]  # the later message is unaffected
    assert recorder.decode_errors == 1


def test_segments_per_message_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bacnet, "MAX_SEGMENTS", 4)
    recorder, flow = make()
    for segment in ack_segments(6, rpm_ack_body(), 6):
        send(flow, unicast(segment), from_client=False)
    assert recorder.decode_errors == 1
    assert "over 4 segments" in recorder.error_samples[0].message
    assert identities(recorder) == []
    assert not flow._open  # the collected segments were released
    # A message within the cap still reassembles.
    for segment in ack_segments(8, rpm_ack_body(), 4):
        send(flow, unicast(segment), from_client=False)
    assert identities(recorder) == [EXPECTED]
    assert recorder.decode_errors == 1


def test_bytes_per_message_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bacnet, "MAX_MESSAGE_BYTES", 40)
    recorder, flow = make()
    for segment in ack_segments(6, rpm_ack_body(), 4):
        send(flow, unicast(segment), from_client=False)
    assert recorder.decode_errors == 1
    assert identities(recorder) == [] and not flow._open


def test_open_messages_per_flow_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bacnet, "MAX_OPEN_MESSAGES", 2)
    recorder, flow = make()
    messages = {
        invoke: ack_segments(invoke, rpm_ack_body(invoke, {77: f"dev{invoke}"}), 2) for invoke in (1, 2, 3)
    }
    for invoke in (1, 2, 3):  # three first segments: the oldest (1) is given up for the third
        send(flow, unicast(messages[invoke][0]), from_client=False)
    assert len(flow._open) == 2
    assert recorder.decode_errors == 1
    assert "too many open" in recorder.error_samples[0].message
    for invoke in (1, 2, 3):
        send(flow, unicast(messages[invoke][1]), from_client=False)
    assert sorted(i["object_name"] for i in identities(recorder)) == ["dev2", "dev3"]
    assert recorder.decode_errors == 1  # the rest of message 1 is ignored, not an error again


def test_abort_ends_the_transaction_without_an_error() -> None:
    recorder, flow = make()
    segments = ack_segments(12, rpm_ack_body(), 3)
    send(flow, unicast(segments[0]), from_client=False)
    send(flow, unicast(b"\x70\x0c\x04"), from_client=True)  # client aborts invoke 12 (segmentation)
    assert not flow._open
    send(flow, unicast(segments[1]), from_client=False)  # in flight before the abort arrived
    flow.on_close()
    assert recorder.decode_errors == 0 and identities(recorder) == []


def test_unsegmented_traffic_allocates_no_reassembly_state() -> None:
    _, flow = make()
    send(flow, unicast(b"\x00\x05\x01\x0c\x0c\x02\x00\x04\xd2\x19\x4d"), from_client=True)
    send(flow, unicast(b"\x30\x01\x0e" + rpm_ack_body()), from_client=False)
    send(flow, unicast(b"\x70\x01\x04"), from_client=True)
    assert flow._open is None and flow._closed is None


def test_truncated_segment_header_is_not_collected() -> None:
    recorder, flow = make()
    send(flow, unicast(b"\x3c\x07\x00"), from_client=False)  # SEG set, header cut after the sequence
    assert flow._open is None
    assert recorder.protocol_stats()["bacnet"].functions == {"apdu/3": 1}


# -- through the pipeline ---------------------------------------------------------------------
def test_capture_with_a_segmented_ack_yields_the_identity(tmp_path: Path) -> None:
    def frame(src: str, dst: str, payload: bytes) -> bytes:
        return ether(ipv4(src, dst, 17, udp(47808, 47808, payload)))

    packets = [
        (1000.0, frame(HMI, PLC, unicast(b"\x02\x75\x21\x0e" + b"\x0c\x02\x00\x04\xd2\x1e\x09\x4d\x1f")))
    ]
    t = 1000.01
    for seq, segment in enumerate(ack_segments(0x21, rpm_ack_body(), 3)):
        packets.append((t, frame(PLC, HMI, unicast(segment))))
        packets.append((t + 0.001, frame(HMI, PLC, unicast(segment_ack(0x21, seq, server=False)))))
        t += 0.01
    path = tmp_path / "seg.pcap"
    path.write_bytes(pcap(packets))
    analyzer = Analyzer(default_registry())
    analyzer.analyze_file(path)
    evidence = analyzer.finish()
    stats = evidence.capture.protocols["bacnet"]
    assert stats.functions == {"confirmed/14": 1, "apdu/3": 3, "apdu/4": 3}
    assert stats.pdus == stats.frames == 7
    assert stats.identities == [EXPECTED]
    assert evidence.capture.decode_errors == 0
    [ident] = [i for i in evidence.identities if i.protocol == "bacnet"]
    assert ident.ip == PLC and ident.fields["model"] == "AC-9000" and ident.ref.frame == 6
