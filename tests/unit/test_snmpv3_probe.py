"""The SNMPv3 engine discovery probe: the request nmap's snmp-info sends (RFC 3414 section 4), the
Report's engine id decoded per RFC 3411 (enterprise -> ICS vendor, format, MAC), boots and time as
identity fields, run through the guard against fake agents on 127.0.71.x (no community needed)."""

from __future__ import annotations

from click.testing import CliRunner

from icsaudit.cli import main
from icsaudit.passive.protocols import ber
from icsaudit.probes import snmp
from icsaudit.probes.evidence import build_evidence
from icsaudit.probes.guard import Guard, TargetPolicy, Transcript
from icsaudit.probes.readonly import check_request
from icsaudit.probes.registry import parse_ports
from icsaudit.probes.run import make_target, run_probes
from tests.unit.test_probe_fakes import FakeUdpDevice

tlv, num = snmp._tlv, snmp._int
NMAP_SNMP_INFO = bytes.fromhex(  # nmap 7.93 snmp-info.nse (nmap-service-probes SNMPv3GetRequest)
    "303a020103300f02024a69020300ffe30401040201030410300e0400020100020100040004000400"
    "301204000400a00c020237f00201000201003000"
)
SCHNEIDER_MAC_ENGINE = bytes.fromhex("80000ef903000054000a0b")  # 3833, format 3, MAC 00:00:54:00:0a:0b


def report(
    request: bytes,
    engine: bytes = SCHNEIDER_MAC_ENGINE,
    boots: int = 4,
    seconds: int = 3 * 86400 + 3723,
    msg_id: int | None = None,
    model: int = 3,
) -> bytes:
    """An agent's Report of usmStatsUnknownEngineIDs to a discovery ``request``."""
    start, end = ber.read_tlv(request, 0, len(request))[2:]
    header = next(c for i, c in enumerate(ber.children(request, start, end)) if i == 1)
    request_msg_id = ber.to_int(request, *ber.read_tlv(request, header[2], header[3])[2:])
    usm = tlv(0x30, tlv(4, engine) + num(boots) + num(seconds) + tlv(4, b"") + tlv(4, b"") + tlv(4, b""))
    bind = tlv(0x30, snmp.encode_oid("1.3.6.1.6.3.15.1.1.4.0") + tlv(0x41, b"\x01"))
    pdu = tlv(0xA8, num(snmp.V3_REQUEST_ID) + num(0) + num(0) + tlv(0x30, bind))
    head = num(request_msg_id if msg_id is None else msg_id) + num(65507) + tlv(4, b"\x00") + num(model)
    return tlv(0x30, num(3) + tlv(0x30, head) + tlv(4, usm) + tlv(0x30, tlv(4, engine) + tlv(4, b"") + pdu))


def v2c_response(request: bytes) -> bytes:
    binds = tlv(0x30, snmp.encode_oid("1.3.6.1.2.1.1.1.0") + tlv(4, b"Schneider Electric BMX P34 2020"))
    pdu = tlv(0xA2, num(snmp.REQUEST_ID) + num(0) + num(0) + tlv(0x30, binds))
    return tlv(0x30, num(1) + tlv(4, b"public") + pdu)


def agent(request: bytes) -> bytes | None:
    """A v1/v2c + v3 agent: answers the community GET and the engine discovery."""
    version = ber.read_tlv(request, 2, len(request))
    return report(request) if request[version[2]] == 3 else v2c_response(request)


def probe(ip: str, port: int, community: str | None, transcript: Transcript | None = None):
    guard = Guard(TargetPolicy.from_targets(ip), rate=50, transcript=transcript)
    hosts = {ip: parse_ports(f"{port}:snmp")}
    report_ = run_probes(guard, hosts, lambda host, spec: make_target(host, spec, None, (1,), (), community))
    return guard, report_


# ---------------------------------------------------------------------------------------------- request
def test_discovery_request_is_nmaps_with_our_ids() -> None:
    ours = snmp.discovery_request()
    theirs = NMAP_SNMP_INFO.replace(b"\x02\x02\x4a\x69", num(snmp.V3_MESSAGE_ID)).replace(
        b"\x02\x02\x37\xf0", num(snmp.V3_REQUEST_ID)
    )
    assert ours == theirs
    assert "engine discovery" in check_request("snmp", ours)


def test_plan_needs_no_community() -> None:
    target = make_target("127.0.71.1", parse_ports("161")[0], None, (1,), (), None)
    assert [p.payload for p in snmp.plan(target)] == [snmp.discovery_request()]
    with_community = make_target("127.0.71.1", parse_ports("161")[0], None, (1,), (), "public")
    assert [p.purpose for p in snmp.plan(with_community)] == [snmp.GET_PURPOSE, snmp.V3_PURPOSE]


def test_dry_run_without_credentials_plans_the_discovery() -> None:
    result = CliRunner().invoke(main, ["probe", "--target", "127.0.71.9", "--ports", "161", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert snmp.discovery_request().hex() in result.output and "not probed" not in result.output


# ---------------------------------------------------------------------------------------------- engine id
def test_engine_id_formats_rfc3411() -> None:
    cases = {
        "80000ef903000054000a0b": (3833, "mac", "00:00:54:00:0a:0b"),
        "800010e901c0a80a0b": (4329, "ipv4", "192.168.10.11"),
        "800000f80220010db8000000000000000000000001": (248, "ipv6", "2001:db8::1"),
        "8000005f04504c432d37": (95, "text", "PLC-7"),
        "80000009050102030405": (9, "octets", "0102030405"),
        "80001f8880c4e3f0a3bd1b6a6300000000": (8072, "enterprise-specific", "c4e3f0a3bd1b6a6300000000"),
        "8000334c06aabb": (13132, "reserved", "aabb"),
        "0000000900000000c0a80001": (9, "rfc1910", "00000000c0a80001"),
        "80000ef903000054": (3833, "mac", "000054"),  # a MAC cut short stays hex
    }
    for hex_id, (enterprise, form, data) in cases.items():
        decoded = snmp.decode_engine_id(bytes.fromhex(hex_id))
        assert (decoded["enterprise"], decoded["engine_id_format"], decoded["engine_id_data"]) == (
            enterprise,
            form,
            data,
        ), hex_id
        assert ("mac" in decoded) == (form == "mac" and len(data) == 17)


def test_enterprise_table_names_ics_vendors() -> None:
    table = snmp.ICS_ENTERPRISES
    assert table[3833] == "Schneider Electric" and table[4329] == "Siemens"
    assert table[95] == "Rockwell Automation" and table[248] == "Hirschmann"
    assert 8072 not in table  # net-snmp is an agent, not a device vendor


def test_parse_report() -> None:
    raw = snmp.parse_report(report(snmp.discovery_request()))
    assert raw["engine_id"] == SCHNEIDER_MAC_ENGINE.hex() and raw["enterprise"] == 3833
    assert (raw["engine_boots"], raw["engine_time"]) == (4, 3 * 86400 + 3723)
    assert raw["pdu"] == "report" and raw["report"] == "usmStatsUnknownEngineIDs" and raw["report_value"] == 1
    assert snmp.format_uptime(raw["engine_time"]) == "3d01h02m03s"


# ---------------------------------------------------------------------------------------------- runs
def test_discovery_without_community_identifies_the_engine(tmp_path) -> None:
    device = FakeUdpDevice("127.0.71.1", agent)
    try:
        transcript = Transcript(tmp_path / "t.jsonl")
        guard, result = probe("127.0.71.1", device.port, None, transcript)
        transcript.close()
        assert [data for _ts, data in device.requests] == [snmp.discovery_request()]
        (found,) = result.results
        assert found.probe == "snmpv3" and not guard.backed_off
        fields = found.fields
        assert fields["vendor"] == "Schneider Electric" and fields["snmp_enterprise"] == "3833"
        assert fields["engine_id"] == SCHNEIDER_MAC_ENGINE.hex() and fields["engine_id_format"] == "mac"
        assert fields["mac"] == fields["engine_id_data"] == "00:00:54:00:0a:0b"
        assert (fields["engine_boots"], fields["engine_time"], fields["uptime"]) == (
            "4",
            "262923",
            "3d01h02m03s",
        )
        assert fields["last_boot"].endswith("+00:00")
        requests = [r for r in transcript.records if r["event"] == "request"]
        assert len(requests) == 1 and "engine discovery" in requests[0]["verdict"]
        evidence = build_evidence(result.results, transcript)
        (identity,) = evidence.identities
        assert identity.ref.source == "probe:snmpv3" and identity.ref.frame == found.line
        (service,) = evidence.services
        assert service.protocol == "snmp" and service.details["snmpv3_discovery"] is True
        assert "snmp_version" not in service.details  # v3 spoken says nothing of v1/v2c being off
        assert evidence.assets[0].vendor == "Schneider Electric"
        assert identity.mac == evidence.assets[0].mac == "00:00:54:00:0a:0b"  # the engine id's MAC
        assert evidence.assets[0].mac_vendor  # its OUI (00:00:54, Schneider/Modicon) looked up
    finally:
        device.close()


def test_community_get_then_discovery_one_service_two_identities(tmp_path) -> None:
    device = FakeUdpDevice("127.0.71.2", agent)
    try:
        transcript = Transcript(tmp_path / "t.jsonl")
        _guard, result = probe("127.0.71.2", device.port, "public", transcript)
        transcript.close()
        assert [data for _ts, data in device.requests] == [
            snmp.get_request("public"),
            snmp.discovery_request(),
        ]
        assert [r.probe for r in result.results] == ["snmp", "snmpv3"]
        evidence = build_evidence(result.results, transcript)
        assert sorted(i.ref.source for i in evidence.identities) == ["probe:snmp", "probe:snmpv3"]
        (service,) = evidence.services
        assert service.details["snmp_version"] == "v2c" and service.details["community_accepted"] is True
        assert service.details["engine_id"] == SCHNEIDER_MAC_ENGINE.hex()
    finally:
        device.close()


def test_v1_v2c_only_agent_keeps_its_get_and_is_backed_off_after_the_silent_discovery() -> None:
    device = FakeUdpDevice("127.0.71.3", lambda r: None if r == snmp.discovery_request() else v2c_response(r))
    try:
        guard, result = probe("127.0.71.3", device.port, "public")
        assert [r.probe for r in result.results] == ["snmp"]
        assert "reply timeout" in guard.backed_off["127.0.71.3"]
        assert len(device.requests) == 2  # no retry
    finally:
        device.close()


def test_bad_reports_back_the_target_off() -> None:
    replies = {
        "127.0.71.4": lambda r: report(r, msg_id=99),  # another message's report
        "127.0.71.5": lambda r: report(r, engine=b"\x80\x00\x0e\xf9"),  # engine id below 5 octets
        "127.0.71.6": lambda r: report(r, model=2),  # not USM
        "127.0.71.7": lambda r: report(r)[:-3],  # truncated
        "127.0.71.8": lambda r: v2c_response(r),  # a v2c answer to a v3 request
    }
    for ip, behaviour in replies.items():
        device = FakeUdpDevice(ip, behaviour)
        try:
            guard, result = probe(ip, device.port, None)
            assert result.results == [], ip
            assert "malformed reply" in guard.backed_off[ip], (ip, guard.backed_off)
            assert len(device.requests) == 1
        finally:
            device.close()


def test_a_silent_snmp_agent_does_not_cost_the_targets_tcp_probes() -> None:
    """UDP goes last per target: the discovery's reply timeout backs the target off, but only after its
    TCP identity probe (listed after SNMP here) has run."""
    from tests.unit.test_probe_fakes import FakeTcpDevice, modbus_identity_reply

    ip = "127.0.71.20"
    silent = FakeUdpDevice(ip, lambda r: None)
    modbus = FakeTcpDevice(ip, modbus_identity_reply)
    try:
        guard = Guard(TargetPolicy.from_targets(ip), rate=50)
        hosts = {ip: parse_ports(f"{silent.port}:snmp,{modbus.port}:modbus")}
        result = run_probes(guard, hosts, lambda host, spec: make_target(host, spec, None, (1,), (), None))
        assert [r.probe for r in result.results] == ["modbus"]
        assert len(silent.requests) == 1  # the discovery was still sent, once
        assert "reply timeout" in guard.backed_off[ip]
    finally:
        silent.close()
        modbus.close()
