"""OPC UA binary dissector: chunks, secure channel, service keys, endpoints, sessions."""

from __future__ import annotations

import struct

from icsaudit.passive.protocols.opcua import OpcUaDissector, Reader, type_id_of, vendor_from_uri
from icsaudit.passive.session import Recorder, Session

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
NONE = "http://opcfoundation.org/UA/SecurityPolicy#None"
BASIC = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"


def make() -> tuple[Recorder, OpcUaDissector]:
    recorder = Recorder()
    agg = recorder.flow(CLIENT, SERVER, "tcp", 4840, "opcua")
    session = Session(recorder, "opcua", agg, "tcp", CLIENT, SERVER, 40000, 4840, frozenset({4840}))
    return recorder, OpcUaDissector(session)


def feed(dissector: OpcUaDissector, data: bytes, from_client: bool = True) -> None:
    dissector.session.recorder.frame += 1
    dissector.session.from_client = from_client
    dissector.on_tcp(data, from_client)


def ua_string(text: str | None) -> bytes:
    if text is None:
        return struct.pack("<i", -1)
    raw = text.encode()
    return struct.pack("<i", len(raw)) + raw


def numeric(ident: int) -> bytes:
    return bytes([1, 0]) + struct.pack("<H", ident)  # four-byte node id, namespace 0


def chunk(kind: bytes, body: bytes, chunk_type: bytes = b"F") -> bytes:
    return kind + chunk_type + struct.pack("<I", 8 + len(body)) + body


def msg(service_body: bytes, chunk_type: bytes = b"F", request_id: int = 1) -> bytes:
    return chunk(b"MSG", struct.pack("<IIII", 1, 1, request_id, request_id) + service_body, chunk_type)


def opn(policy: str, service_body: bytes, certificate: bytes | None = None) -> bytes:
    cert = struct.pack("<i", -1) if certificate is None else struct.pack("<i", len(certificate)) + certificate
    header = (
        struct.pack("<I", 0) + ua_string(policy) + cert + struct.pack("<i", -1) + struct.pack("<II", 1, 1)
    )
    return chunk(b"OPN", header + service_body)


REQUEST_HEADER = b"\x00\x00" + bytes(16) + ua_string(None) + struct.pack("<I", 1000) + b"\x00\x00\x00"
RESPONSE_HEADER = bytes(8) + struct.pack("<II", 1, 0) + b"\x00" + struct.pack("<i", -1) + b"\x00\x00\x00"


def open_request(mode: int) -> bytes:
    return (
        numeric(446)
        + REQUEST_HEADER
        + struct.pack("<III", 0, 0, mode)
        + ua_string(None)
        + struct.pack("<I", 60000)
    )


def endpoint(mode: int, policy: str) -> bytes:
    application = (
        ua_string("urn:example:server")
        + ua_string("http://vendor.example.com/product")
        + b"\x02"
        + ua_string("Example Server")
        + struct.pack("<I", 0)
        + ua_string(None)
        + ua_string(None)
        + struct.pack("<i", 0)
    )
    tokens = struct.pack("<i", 2)
    for token_type in (0, 1):
        tokens += ua_string("p") + struct.pack("<I", token_type) + ua_string(None) * 3
    return (
        ua_string("opc.tcp://plc:4840")
        + application
        + struct.pack("<i", -1)
        + struct.pack("<I", mode)
        + ua_string(policy)
        + tokens
        + ua_string(None)
        + b"\x00"
    )


def endpoints_response() -> bytes:
    return numeric(431) + RESPONSE_HEADER + struct.pack("<i", 2) + endpoint(1, NONE) + endpoint(3, BASIC)


def activate(token_id: int, token_body: bytes) -> bytes:
    token = numeric(token_id) + b"\x01" + struct.pack("<i", len(token_body)) + token_body
    return (
        numeric(467)
        + REQUEST_HEADER
        + ua_string(None)
        + struct.pack("<i", -1)
        + struct.pack("<i", 0)
        + struct.pack("<i", 0)
        + token
        + ua_string(None)
        + struct.pack("<i", -1)
    )


HELLO = chunk(b"HEL", struct.pack("<IIIII", 0, 65536, 65536, 0, 0) + ua_string("opc.tcp://plc:4840"))
ACK = chunk(b"ACK", struct.pack("<IIIII", 0, 65536, 65536, 0, 0))


def test_type_id_encodings() -> None:
    assert type_id_of(b"\x00\x05") == 5
    assert type_id_of(numeric(631)) == 631
    assert type_id_of(b"\x02\x00\x00" + struct.pack("<I", 12208)) == 12208
    assert type_id_of(b"\xd0\x11\x22") is None  # encrypted bytes: not a numeric node id
    assert type_id_of(b"") is None


def test_handshake_keys_and_security_details() -> None:
    recorder, dissector = make()
    feed(dissector, HELLO)
    feed(dissector, ACK, from_client=False)
    feed(dissector, opn(NONE, open_request(1)))
    stats = recorder.protocol_stats()["opcua"]
    assert stats.functions == {"446": 1, "ACK": 1, "HEL": 1}
    (service,) = recorder.services.values()
    assert service.banner == "opc.tcp://plc:4840"
    assert service.details["security_policy"] == "None" and service.details["security_mode"] == "None"
    assert dissector.session.agg.ops == {"auth": 1, "other": 1}


def test_encrypted_opn_is_keyed_by_transport_type() -> None:
    recorder, dissector = make()
    feed(dissector, opn(BASIC, b"\xd0" + bytes(40), certificate=b"\x30\x82"))
    assert recorder.protocol_stats()["opcua"].functions == {"OPN": 1}
    (service,) = recorder.services.values()
    assert service.details["secure_channel_secured_seen"] and service.details["sender_certificate_seen"]


def test_get_endpoints_identities_and_endpoint_details() -> None:
    recorder, dissector = make()
    feed(dissector, msg(endpoints_response()), from_client=False)
    stats = recorder.protocol_stats()["opcua"]
    assert stats.functions == {"431": 1}
    assert {
        "src": SERVER,
        "endpoint_url": "opc.tcp://plc:4840",
        "application_uri": "urn:example:server",
        "product_uri": "http://vendor.example.com/product",
        "application_name": "Example Server",
        "security_mode": 3,
        "security_policy_uri": BASIC,
    } in stats.identities
    assert len(stats.identities) == 2
    (identity, *_) = recorder.identities.values()
    assert identity.fields["vendor"] == "vendor.example.com" and identity.fields["model"] == "Example Server"
    (service,) = recorder.services.values()
    assert service.details["endpoint_security_modes"] == ["None", "SignAndEncrypt"]
    assert service.details["endpoint_none_offered"] is True
    assert service.details["endpoint_user_token_types"] == ["anonymous", "username"]


def test_anonymous_and_username_sessions() -> None:
    recorder, dissector = make()
    feed(dissector, opn(NONE, open_request(1)))
    feed(dissector, msg(activate(321, ua_string("anon"))))
    user_token = ua_string("p") + ua_string("operator") + ua_string("secret") + ua_string(None)
    feed(dissector, msg(activate(324, user_token), request_id=2))
    kinds = [(e.kind, e.detail.get("token_type")) for e in recorder.events]
    assert kinds == [("auth", "anonymous"), ("auth", "username"), ("credential", None)]
    credential = recorder.events[2]
    assert credential.detail["method"] == "opcua-username"
    values = set(credential.detail.values())
    assert "secret" not in values and "operator" not in values and credential.detail["secret_digest"]
    (service,) = recorder.services.values()
    assert service.details["anonymous_session"] is True


def test_write_and_call_events() -> None:
    recorder, dissector = make()
    node = b"\x03\x01\x00" + ua_string("the.answer")
    write = (
        numeric(673) + REQUEST_HEADER + struct.pack("<i", 1) + node + struct.pack("<I", 13) + ua_string(None)
    )
    call = (
        numeric(712)
        + REQUEST_HEADER
        + struct.pack("<i", 1)
        + b"\x00\x55"
        + b"\x01\x01"
        + struct.pack("<H", 62541)
    )
    feed(dissector, msg(write) + msg(call, request_id=2))
    write_event, call_event = recorder.events
    assert write_event.kind == "write" and write_event.detail["targets"] == ["ns=1;s=the.answer"]
    assert write_event.detail["attribute_id"] == 13
    assert call_event.kind == "control" and call_event.detail["targets"] == ["i=85/ns=1;i=62541"]
    assert dissector.session.agg.ops == {"control": 1, "write": 1}


def test_intermediate_chunks_reassemble_and_abort_drops() -> None:
    recorder, dissector = make()
    body = numeric(631) + REQUEST_HEADER
    feed(dissector, msg(body[:6], b"C", request_id=7))
    feed(dissector, msg(body[6:], b"F", request_id=7))
    feed(dissector, msg(body[:6], b"C", request_id=8))
    feed(dissector, msg(struct.pack("<I", 0x80000000) + ua_string("abort"), b"A", request_id=8))
    assert recorder.protocol_stats()["opcua"].functions == {"631": 1, "MSG": 3}


def test_split_segments_truncated_bodies_and_garbage() -> None:
    recorder, dissector = make()
    data = msg(endpoints_response())
    for index in range(0, len(data), 7):
        feed(dissector, data[index : index + 7], from_client=False)
    assert recorder.protocol_stats()["opcua"].functions == {"431": 1}
    feed(dissector, msg(numeric(431) + RESPONSE_HEADER + struct.pack("<i", 3)), from_client=False)
    feed(dissector, chunk(b"MSG", b"\x01\x00"))  # security header cut short
    feed(dissector, b"XYZF\x10\x00\x00\x00garbage!")
    assert recorder.decode_errors == 3
    dissector.on_gap(True)
    feed(dissector, HELLO)
    assert recorder.protocol_stats()["opcua"].functions["HEL"] == 1


def test_reader_and_helpers() -> None:
    reader = Reader(b"\x04\x00\x00" + bytes(16))
    assert reader.node_id()[1].startswith("ns=0;g=")
    assert vendor_from_uri("urn:freeopcua.github.io:python:server") == "freeopcua.github.io"
    assert vendor_from_uri("http://open62541.org") == "open62541.org"
    assert OpcUaDissector.sniff(HELLO, True)
    assert not OpcUaDissector.sniff(b"GET / HTTP/1.1\r\n", True)
