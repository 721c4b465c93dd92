"""IEC 61850 dissectors: MMS over TPKT/COTP/session/presentation/ACSE, GOOSE and SV frames."""

from __future__ import annotations

from collections import Counter

import pytest

from icsaudit.passive.protocols.ber import BerError, children, read_tlv
from icsaudit.passive.protocols.iec61850 import Goose, Mms, Sv
from icsaudit.passive.session import Recorder, Session

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
PUB_MAC, MCAST = "0a:bb:fe:10:c9:02", "01:0c:cd:01:00:00"


# -- BER / stack builders ----------------------------------------------------------------------------
def tlv(tag: int | bytes, value: bytes) -> bytes:
    ident = tag if isinstance(tag, bytes) else bytes((tag,))
    n = len(value)
    if n < 0x80:
        length = bytes((n,))
    elif n < 0x100:
        length = b"\x81" + bytes((n,))
    else:
        length = b"\x82" + n.to_bytes(2, "big")
    return ident + length + value


def text(tag: int, s: str) -> bytes:
    return tlv(tag, s.encode())


def integer(value: int, tag: int = 0x02) -> bytes:
    return tlv(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def tpkt(payload: bytes) -> bytes:
    return b"\x03\x00" + (len(payload) + 4).to_bytes(2, "big") + payload


def cotp_dt(user: bytes, eot: bool = True) -> bytes:
    return tpkt(b"\x02\xf0" + (b"\x80" if eot else b"\x00") + user)


def pdata(mms: bytes, context: int = 3) -> bytes:
    """Session Give-Tokens + Data-Transfer, presentation fully-encoded user data, one PDV."""
    pdv = tlv(0x30, integer(context) + tlv(0xA0, mms))
    return b"\x01\x00\x01\x00" + tlv(0x61, pdv)


def confirmed_request(invoke: int, service: bytes) -> bytes:
    return tlv(0xA0, integer(invoke) + service)


def confirmed_response(invoke: int, service: bytes = b"") -> bytes:
    return tlv(0xA1, integer(invoke) + service)


def domain_name(domain: str, item: str) -> bytes:
    return tlv(0xA1, text(0x1A, domain) + text(0x1A, item))


def write_request(domain: str, item: str, value: bytes = b"\x83\x01\x01") -> bytes:
    variable = tlv(0x30, tlv(0xA0, domain_name(domain, item)))
    return tlv(0xA5, tlv(0xA0, variable) + tlv(0xA0, value))


def make_mms():
    rec = Recorder()
    rec.frame = 1
    agg = rec.flow(CLIENT, SERVER, "tcp", 102, "mms")
    session = Session(rec, "mms", agg, "tcp", CLIENT, SERVER, 50000, 102, Mms.server_ports)
    return rec, session, Mms(session)


def feed(session: Session, dissector, data: bytes, from_client: bool = True) -> None:
    session.from_client = from_client
    session.recorder.frame += 1
    dissector.on_tcp(data, from_client)


def functions(rec: Recorder, name: str = "mms") -> Counter:
    return rec.protocols[name].functions if name in rec.protocols else Counter()


# -- BER helper ---------------------------------------------------------------------------------------
def test_ber_long_length_high_tag_and_errors() -> None:
    value = bytes(200)
    encoded = tlv(b"\xbf\x3f", value)  # context, constructed, tag 63 (getAlarmSummary)
    assert read_tlv(encoded, 0, len(encoded)) == (0xA0, 63, 4, 204)
    assert [t[1] for t in children(tlv(0x30, integer(1) + integer(2)), 2, 8)] == [2, 2]
    with pytest.raises(BerError):
        read_tlv(b"\x30\x05\x01", 0, 3)  # overruns
    with pytest.raises(BerError):
        read_tlv(b"\x30\x80\x00\x00", 0, 4)  # indefinite length


# -- sniff --------------------------------------------------------------------------------------------
CR = tpkt(b"\x0e\xe0\x00\x00\x00\x01\x00\xc1\x02\x00\x01\xc2\x02\x00\x01")


def test_sniff_claims_iso_session_and_bare_mms_never_s7() -> None:
    assert Mms.sniff(cotp_dt(pdata(confirmed_request(1, b"\x82\x00"))), True)
    assert Mms.sniff(cotp_dt(tlv(0xA0, integer(1))), True)  # bare MMS over COTP
    assert Mms.sniff(CR + cotp_dt(pdata(b"\x8b\x00")), True)  # connection request skipped, DT decides
    assert not Mms.sniff(CR, True)  # a CR alone cannot tell MMS from S7
    assert not Mms.sniff(cotp_dt(b"\x32\x01\x00\x00\x00\x01\x00\x08\x00\x00"), True)  # S7comm
    assert not Mms.sniff(cotp_dt(b"\x72\x01\x00\x10"), True)  # S7comm-plus
    assert not Mms.sniff(cotp_dt(b"\x8b\x00"), True)  # tshark's heuristic: zero length is not MMS
    assert not Mms.sniff(b"GET / HTTP/1.1\r\n", True)


# -- MMS services ---------------------------------------------------------------------------------------
def test_read_request_and_response_keys_and_categories() -> None:
    rec, session, mms = make_mms()
    read = tlv(0xA4, tlv(0xA1, tlv(0xA0, tlv(0x30, tlv(0xA0, domain_name("LD0", "MMXU1$MX$TotW"))))))
    feed(session, mms, cotp_dt(pdata(confirmed_request(7, read))))
    feed(session, mms, cotp_dt(pdata(confirmed_response(7, tlv(0xA4, tlv(0xA1, b""))))), from_client=False)
    feed(session, mms, cotp_dt(pdata(confirmed_response(8))), from_client=False)  # no service element
    assert functions(rec) == {"confirmed/4": 1, "confirmed_resp/4": 1, "confirmed_resp": 1}
    assert session.agg.ops == {"read": 1}  # responses do not count as operations
    assert rec.events == [] and rec.decode_errors == 0


def test_write_to_control_object_is_a_control_event() -> None:
    rec, session, mms = make_mms()
    feed(session, mms, cotp_dt(pdata(confirmed_request(3, write_request("IED1CTRL", "CSWI1$CO$Pos$Oper")))))
    assert functions(rec) == {"confirmed/5": 1}
    assert session.agg.ops == {"control": 1}
    (event,) = rec.events
    assert (event.kind, event.category, event.function) == ("control", "control", "confirmed/5")
    assert event.detail["objects"] == ["IED1CTRL/CSWI1$CO$Pos$Oper"]
    assert event.detail["operation"] == "Oper"


def test_plain_write_is_a_write_event() -> None:
    rec, session, mms = make_mms()
    feed(session, mms, cotp_dt(pdata(confirmed_request(4, write_request("BELLEVUE", "Next_DSTransfer_Set")))))
    (event,) = rec.events
    assert (event.kind, event.category) == ("write", "write")
    assert event.detail == {"service": "write", "invoke_id": 4, "objects": ["BELLEVUE/Next_DSTransfer_Set"]}


def test_program_and_mode_services_are_events_with_object_names() -> None:
    rec, session, mms = make_mms()
    feed(
        session, mms, cotp_dt(pdata(confirmed_request(1, tlv(b"\xbf\x29", text(0x80, "Application_1")))))
    )  # stop
    feed(session, mms, cotp_dt(pdata(confirmed_request(2, tlv(b"\x9f\x24", b"MyDomain")))))  # deleteDomain
    download = tlv(b"\xbf\x1a", text(0x80, "Dom") + tlv(0x81, b""))  # initiateDownloadSequence
    feed(session, mms, cotp_dt(pdata(confirmed_request(3, download))))
    feed(
        session, mms, cotp_dt(pdata(confirmed_request(4, tlv(b"\x9f\x1f", b"\x01"))))
    )  # terminateUpload: an id
    kinds = [(e.kind, e.function, e.detail["objects"]) for e in rec.events]
    assert kinds == [
        ("mode", "confirmed/41", ["Application_1"]),
        ("program", "confirmed/36", ["MyDomain"]),
        ("program", "confirmed/26", ["Dom"]),
        ("program", "confirmed/31", []),
    ]
    assert session.agg.ops == {"mode": 1, "program": 3}


def test_identify_response_gives_identity_and_banner() -> None:
    rec, session, mms = make_mms()
    feed(session, mms, cotp_dt(pdata(confirmed_request(1, b"\x82\x00"))))
    ident = tlv(0xA2, text(0x80, "AREVA T&D Corporation ") + text(0x81, "e-terracomm") + text(0x82, "2.3.1"))
    feed(session, mms, cotp_dt(pdata(confirmed_response(1, ident))), from_client=False)
    assert functions(rec) == {"confirmed/2": 1, "confirmed_resp/2": 1}
    assert list(rec.protocols["mms"].identities.values()) == [
        {
            "src": SERVER,
            "vendor_name": "AREVA T&D Corporation",
            "model_name": "e-terracomm",
            "revision": "2.3.1",
        }
    ]
    (identity,) = rec.identities.values()
    assert identity.asset_id == SERVER
    assert identity.fields == {
        "device_type": "ied",
        "firmware": "2.3.1",
        "model": "e-terracomm",
        "vendor": "AREVA T&D Corporation",
    }
    (service,) = rec.services.values()
    assert service.banner == "AREVA T&D Corporation e-terracomm 2.3.1"


def test_connect_with_acse_password_and_initiate() -> None:
    rec, session, mms = make_mms()
    initiate = tlv(0xA8, integer(65000, 0x80) + integer(5, 0x81) + integer(5, 0x82))
    external = tlv(0x28, tlv(0x06, b"\x51\x01") + integer(3) + tlv(0xA0, initiate))
    aarq = tlv(
        0x60,
        tlv(0xA1, tlv(0x06, b"\x28\xca\x22\x02\x03"))
        + tlv(0x8B, b"\x52\x03\x01")
        + tlv(0xAC, text(0x80, "hunter2"))
        + tlv(0xBE, external),
    )
    cp = tlv(
        0x31, tlv(0xA0, integer(1, 0x80)) + tlv(0xA2, tlv(0x61, tlv(0x30, integer(1) + tlv(0xA0, aarq))))
    )
    user_data = b"\xc1" + bytes((len(cp),)) + cp
    spdu = b"\x0d" + bytes((len(user_data) + 4,)) + b"\x05\x02\x13\x00" + user_data  # CN
    feed(session, mms, cotp_dt(spdu))
    assert functions(rec) == {"pdu/initiate_RequestPDU": 1}
    (credential,) = rec.events
    assert credential.kind == "credential" and credential.function == "mms-acse-password"
    assert "hunter2" not in str(credential.detail)  # digests only
    (service,) = rec.services.values()
    assert service.details == {"acse_authentication": "password"}


def test_errors_reject_and_unconfirmed_reports() -> None:
    rec, session, mms = make_mms()
    feed(session, mms, cotp_dt(pdata(tlv(0xA2, integer(5) + tlv(0xA2, integer(1, 0x80))))), from_client=False)
    feed(session, mms, cotp_dt(pdata(tlv(0xA4, integer(1, 0x80)))), from_client=False)
    report = tlv(0xA3, tlv(0xA0, tlv(0xA1, text(0x80, "RPT")) + tlv(0xA0, b"\x83\x01\x00")))
    feed(session, mms, cotp_dt(pdata(report)), from_client=False)
    feed(session, mms, cotp_dt(pdata(b"\x8b\x00")))
    assert functions(rec) == {
        "pdu/confirmed_ErrorPDU": 1,
        "pdu/rejectPDU": 1,
        "unconfirmed/0": 1,
        "pdu/conclude_RequestPDU": 1,
    }
    assert session.agg.exceptions == 2
    assert session.agg.ops == {"other": 1}  # only the conclude request was sent by the client


def test_cotp_segmentation_and_tcp_splits() -> None:
    rec, session, mms = make_mms()
    user = pdata(confirmed_request(9, tlv(0xA1, tlv(0xA0, integer(0, 0x80)) + tlv(0xA1, b"\x80\x00"))))
    first, second = cotp_dt(user[:10], eot=False), cotp_dt(user[10:])
    feed(session, mms, first[:3])
    feed(session, mms, first[3:] + second[:5])
    assert functions(rec) == {}
    feed(session, mms, second[5:])
    assert functions(rec) == {"confirmed/1": 1}
    assert rec.protocols["mms"].frames == 1


def test_bare_mms_over_cotp_and_heuristic_limits() -> None:
    rec, session, mms = make_mms()
    feed(session, mms, cotp_dt(tlv(0xA0, integer(1))))  # confirmed request without a service
    feed(session, mms, cotp_dt(b"\x85\x01\x01"))  # cancel request
    feed(session, mms, cotp_dt(b"\x8b\x00"))  # not MMS for tshark's heuristic: not counted
    assert functions(rec) == {"confirmed": 1, "pdu/cancel_RequestPDU": 1}


def test_malformed_input_is_reported_not_raised() -> None:
    rec, session, mms = make_mms()
    feed(session, mms, b"\xde\xad\xbe\xef" + cotp_dt(pdata(confirmed_request(1, b"\x82\x00"))))
    assert functions(rec) == {"confirmed/2": 1}  # resynchronized on the next TPKT header
    feed(session, mms, tpkt(b"\x00"))  # COTP length indicator 0
    feed(session, mms, cotp_dt(pdata(b"\xa0\x20\x02\x01")))  # BER overruns
    feed(session, mms, cotp_dt(b"\x0d\x30\x05"))  # session parameters overrun
    feed(session, mms, cotp_dt(pdata(b"\xbf\x70\x01\x00")))  # not an MMS PDU tag
    assert rec.decode_errors >= 5
    mms.on_gap(True)
    feed(session, mms, cotp_dt(pdata(b"\x8c\x00")), from_client=False)
    assert functions(rec)["pdu/conclude_ResponsePDU"] == 1


# -- GOOSE ---------------------------------------------------------------------------------------------
def goose_frame(
    st_num: int, sq_num: int, simulation: bool = False, gocb: str = "IED1LD0/LLN0$GO$gcb1"
) -> bytes:
    apdu = tlv(
        0x61,
        text(0x80, gocb)
        + integer(2000, 0x81)
        + text(0x82, "IED1LD0/LLN0$DS1")
        + text(0x83, "GOID1")
        + tlv(0x84, bytes(8))
        + integer(st_num, 0x85)
        + integer(sq_num, 0x86)
        + tlv(0x87, b"\xff" if simulation else b"\x00")
        + integer(1, 0x88)
        + tlv(0x89, b"\x00")
        + integer(1, 0x8A)
        + tlv(0xAB, b"\x83\x01\x01"),
    )
    return b"\x30\x01" + (len(apdu) + 8).to_bytes(2, "big") + b"\x00\x00\x00\x00" + apdu + b"\x00" * 4


def make_l2(cls, name: str, ethertype: int):
    rec = Recorder()
    rec.frame = 0
    agg = rec.flow(PUB_MAC, MCAST, "eth", ethertype, name)
    session = Session(rec, name, agg, "eth", PUB_MAC, MCAST, 0, ethertype, frozenset())
    session.client_mac, session.server_mac = PUB_MAC, MCAST
    return rec, session, cls(session)


def frame(session: Session, dissector, data: bytes) -> None:
    session.recorder.frame += 1
    dissector.on_frame(data)


def test_goose_counts_pdus_and_state_changes() -> None:
    rec, session, goose = make_l2(Goose, "goose", 0x88B8)
    for st, sq in ((10, 0), (10, 1), (11, 0), (11, 1), (13, 0), (12, 0)):
        frame(session, goose, goose_frame(st, sq))
    acc = rec.protocols["goose"]
    assert (acc.frames, acc.pdus, dict(acc.functions)) == (6, 6, {"pdu": 6})
    assert acc.conversations == {(PUB_MAC, MCAST, 0x88B8, "eth")}
    changes = [(e.detail["previous_st_num"], e.detail["st_num"]) for e in rec.events]
    assert changes == [(10, 11), (11, 13)]  # increments only; the drop to 12 is not a state change
    assert all(e.kind == "control" and e.category == "control" for e in rec.events)
    (identity,) = rec.identities.values()
    assert identity.asset_id == PUB_MAC and identity.ip == ""
    assert identity.fields["goose_gocb_ref"] == "IED1LD0/LLN0$GO$gcb1"


def test_goose_simulation_flag_is_reported_once() -> None:
    rec, session, goose = make_l2(Goose, "goose", 0x88B8)
    frame(session, goose, goose_frame(1, 0, simulation=True))
    frame(session, goose, goose_frame(1, 1, simulation=True))
    assert [(e.kind, e.category) for e in rec.events] == [("goose-simulation", "other")]


def test_goose_malformed_frames() -> None:
    rec, session, goose = make_l2(Goose, "goose", 0x88B8)
    frame(session, goose, b"\x30\x01\x00")  # shorter than the header
    frame(session, goose, b"\x30\x01\x00\x10\x00\x00\x00\x00\x60\x02\x80\x00")  # SV tag in a GOOSE frame
    frame(session, goose, b"\x30\x01\x00\x10\x00\x00\x00\x00\x61\x7f\x80")  # APDU overruns the frame
    assert rec.decode_errors == 3 and "goose" not in rec.protocols


# -- SV -------------------------------------------------------------------------------------------------
def sv_frame(smp_cnt: int) -> bytes:
    asdu = tlv(
        0x30,
        text(0x80, "MU01")
        + tlv(0x82, smp_cnt.to_bytes(2, "big"))
        + tlv(0x83, b"\x00\x00\x00\x01")
        + tlv(0x85, b"\x02")
        + tlv(0x87, bytes(64)),
    )
    apdu = tlv(0x60, integer(1, 0x80) + tlv(0xA2, asdu))
    return b"\x40\x01" + (len(apdu) + 8).to_bytes(2, "big") + b"\x00\x00\x00\x00" + apdu


def test_sv_counts_and_identifies_the_stream() -> None:
    rec, session, sv = make_l2(Sv, "sv", 0x88BA)
    for count in range(3):
        frame(session, sv, sv_frame(count))
    frame(session, sv, b"\x40\x01\x00\x10\x00\x00\x00\x00\x60\x05\x80")  # truncated APDU
    assert dict(rec.protocols["sv"].functions) == {"pdu": 3}
    (identity,) = rec.identities.values()
    assert identity.fields == {
        "device_type": "merging-unit",
        "sv_appid": "0x4001",
        "sv_id": "MU01",
        "sv_smp_synch": "2",
    }
    assert rec.decode_errors == 1
