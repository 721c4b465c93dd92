"""BACnet/IP dissector: BVLC, NPDU, APDU keys, events, merged device identities."""

from __future__ import annotations

import struct

from icsaudit.passive.protocols.bacnet import BacnetDissector, read_tag
from icsaudit.passive.session import Recorder, Session

HMI, PLC = "10.0.0.1", "10.0.0.2"


def make(
    recorder: Recorder | None = None, client: str = HMI, server: str = PLC
) -> tuple[Recorder, BacnetDissector]:
    recorder = recorder or Recorder()
    agg = recorder.flow(client, server, "udp", 47808, "bacnet")
    session = Session(
        recorder, "bacnet", agg, "udp", client, server, 47808, 47808, frozenset(range(47808, 47824))
    )
    return recorder, BacnetDissector(session)


def send(dissector: BacnetDissector, datagram: bytes, from_client: bool = True) -> None:
    dissector.session.recorder.frame += 1
    dissector.session.from_client = from_client
    dissector.on_udp(datagram, from_client)


def bvlc(function: int, payload: bytes) -> bytes:
    return bytes([0x81, function]) + struct.pack(">H", 4 + len(payload)) + payload


def unicast(apdu: bytes) -> bytes:
    return bvlc(0x0A, b"\x01\x04" + apdu)  # NPDU version 1, expecting reply


def object_tag(context: bool, object_type: int, instance: int) -> bytes:
    return bytes([0x0C if context else 0xC4]) + struct.pack(">I", (object_type << 22) | instance)


def char_string(text: str) -> bytes:
    raw = b"\x00" + text.encode()
    return bytes([0x75, len(raw)]) + raw


def i_am(instance: int, vendor: int) -> bytes:
    return b"\x10\x00" + object_tag(False, 8, instance) + b"\x22\x01\xe0\x91\x00\x21" + bytes([vendor])


def read_property_ack(instance: int, prop: int, text: str) -> bytes:
    return (
        b"\x30\x01\x0c"
        + object_tag(True, 8, instance)
        + bytes([0x19, prop])
        + b"\x3e"
        + char_string(text)
        + b"\x3f"
    )


def test_read_tag_forms() -> None:
    assert read_tag(b"\x3e", 0)[4] == "open" and read_tag(b"\x3f", 0)[4] == "close"
    assert read_tag(b"\x21\x2a", 0)[:4] == (2, False, 1, 1)
    assert read_tag(b"\x75\x03abc", 0)[:4] == (7, False, 3, 2)
    assert read_tag(b"\x11", 0)[2] == 1  # boolean true: value in the length field


def test_who_is_i_am_and_identity_merge_across_flows() -> None:
    recorder, broadcast = make(server="10.0.0.255")
    send(broadcast, bvlc(0x0B, b"\x01\x20\xff\xff\x00\xff" + b"\x10\x08"))  # routed global who-is
    recorder2, unicast_flow = make(recorder)
    send(unicast_flow, unicast(i_am(61, 42)), from_client=False)
    send(unicast_flow, unicast(b"\x00\x05\x01\x0c" + object_tag(True, 8, 61) + b"\x19\x79"))
    send(unicast_flow, unicast(read_property_ack(61, 121, "ACME Controls")), from_client=False)
    stats = recorder.protocol_stats()["bacnet"]
    assert stats.functions == {"apdu/3": 1, "confirmed/12": 1, "unconfirmed/0": 1, "unconfirmed/8": 1}
    assert stats.identities == [
        {"src": PLC, "device_instance": 61, "vendor_id": 42, "vendor_name": "ACME Controls"}
    ]
    fields = [i.fields for i in recorder.identities.values()]
    assert {"vendor": "ACME Controls", "vendor_id": "42", "bacnet_device_instance": "61"} in fields


def test_read_property_multiple_ack_identity() -> None:
    recorder, dissector = make()
    results = (
        b"\x29\x46\x4e" + char_string("MODEL-9") + b"\x4f"
        + b"\x29\x2c\x4e" + char_string("1.2.3") + b"\x4f"
        + b"\x29\x55\x4e\x44" + struct.pack(">f", 1.0) + b"\x4f"
    )  # fmt: skip
    ack = b"\x30\x02\x0e" + object_tag(True, 8, 7) + b"\x1e" + results + b"\x1f"
    send(dissector, unicast(ack), from_client=False)
    (identity,) = recorder.protocol_stats()["bacnet"].identities
    assert identity == {
        "src": PLC,
        "device_instance": 7,
        "model_name": "MODEL-9",
        "firmware_revision": "1.2.3",
    }


def test_write_property_event_keeps_object_property_priority() -> None:
    recorder, dissector = make()
    write = (
        b"\x00\x05\x03\x0f"
        + object_tag(True, 2, 3)
        + b"\x19\x55\x3e\x44"
        + struct.pack(">f", 21.5)
        + b"\x3f\x49\x08"
    )
    send(dissector, unicast(write))
    send(dissector, unicast(b"\x20\x03\x0f"), from_client=False)  # simple-ack
    (event,) = recorder.events
    assert event.kind == "write" and event.function == "confirmed/15"
    assert event.detail == {
        "service": "writeProperty",
        "object_type": "analog-value",
        "object_instance": 3,
        "property": "present-value",
        "value": 21.5,
        "priority": 8,
    }
    assert dissector.session.agg.ops == {"write": 1}
    assert recorder.protocol_stats()["bacnet"].functions == {"apdu/2": 1, "confirmed/15": 1}


def test_reinitialize_dcc_and_file_events() -> None:
    recorder, dissector = make()
    send(dissector, unicast(b"\x00\x05\x04\x14\x09\x00\x1d\x04\x00abc"))  # reinitialize coldstart, password
    send(dissector, unicast(b"\x00\x05\x05\x11\x09\x0a\x19\x01"))  # DCC disable for 10 minutes
    send(dissector, unicast(b"\x00\x05\x06\x07" + object_tag(False, 10, 0) + b"\x0e\x31\x00\x65\x03abc\x0f"))
    send(dissector, unicast(b"\x50\x04\x14\x91\x00\x91\x1a"), from_client=False)  # error
    details = [(e.kind, e.detail.get("state"), e.detail.get("object_type")) for e in recorder.events]
    assert details == [("mode", "coldstart", None), ("mode", "disable", None), ("program", None, "file")]
    assert recorder.events[0].detail["password_present"] is True
    assert recorder.events[1].detail["duration_min"] == 10
    assert dissector.session.agg.exceptions == 1


def test_bbmd_functions_and_forwarded_npdu() -> None:
    recorder, dissector = make()
    send(dissector, bvlc(0x05, b"\x00\x3c"))  # register foreign device, TTL 60 s
    send(
        dissector, bvlc(0x04, bytes([10, 9, 9, 9, 0xBA, 0xC0]) + b"\x01\x00" + i_am(5, 7)), from_client=False
    )
    stats = recorder.protocol_stats()["bacnet"]
    assert stats.functions == {"bvlc/0x05": 1, "unconfirmed/0": 1}
    (service,) = recorder.services.values()
    assert service.details == {"bbmd": True, "foreign_device_registration": True}
    (identity,) = recorder.identities.values()
    assert identity.fields["bacnet_forwarded_from"] == "10.9.9.9"


def test_network_layer_messages_and_segments() -> None:
    recorder, dissector = make()
    send(dissector, bvlc(0x0B, b"\x01\x80\x01\x00\x05"))  # I-Am-Router-To-Network
    segmented = b"\x38\x09\x01\x04\x0c" + b"\x0c" + bytes(4)  # complex-ack segment 1 of readProperty
    send(dissector, unicast(segmented), from_client=False)
    send(dissector, unicast(b"\x40\x09\x01\x04"))  # segment-ack
    assert recorder.protocol_stats()["bacnet"].functions == {"apdu/3": 1, "apdu/4": 1, "nl/1": 1}


def test_malformed_datagrams_never_raise() -> None:
    recorder, dissector = make()
    send(dissector, b"\x00\x01")  # not BVLC
    send(dissector, bvlc(0x0A, b"\x01"))  # NPDU cut short
    send(dissector, unicast(b"\x30\x01\x0c\x0c\x02"))  # readProperty-ACK cut inside the object id
    send(dissector, unicast(b"\x10\x00\xc4\x02"))  # I-Am cut short
    send(dissector, unicast(b"\x00\x05\x01\x0f\x0c"))  # writeProperty cut short
    send(dissector, bvlc(0x0A, b"\x01\x20\x00"))  # DNET announced, nothing follows
    assert recorder.decode_errors >= 4
    assert recorder.protocol_stats()["bacnet"].pdus == 6


def test_llc_payload_and_sniff() -> None:
    recorder, dissector = make()
    dissector.on_frame(b"\x82\x82\x03\x01\x00" + i_am(9, 1))
    dissector.on_frame(b"\xaa\xaa\x03\x00")
    assert recorder.protocol_stats()["bacnet"].functions == {"unconfirmed/0": 1}
    assert recorder.decode_errors == 1
    assert BacnetDissector.sniff(unicast(i_am(1, 1)), True)
    assert not BacnetDissector.sniff(b"\x81\x0a\x00\x99", True)
