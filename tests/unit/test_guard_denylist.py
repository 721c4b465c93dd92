"""The guard's byte-level deny list: every write, control, program, mode and firmware request of
every probed protocol is refused with a message naming it; malformed, truncated or padded bytes are
refused; only the read-only identity requests the probe modules build pass."""

from __future__ import annotations

import random
import struct

import pytest

from icsaudit.passive.protocols.dnp3 import crc16
from icsaudit.probes import bacnet, banner, dnp3, enip, iec104, modbus, opcua, s7, snmp
from icsaudit.probes.base import ProbeTarget
from icsaudit.probes.readonly import HTTP_HEAD, RequestDenied, check_request


def denied(protocol: str, data: bytes) -> str:
    with pytest.raises(RequestDenied) as info:
        check_request(protocol, data)
    assert info.value.message.startswith(f"guard refused {protocol} request: ")
    return info.value.message


# ---------------------------------------------------------------------------------------------- Modbus
def mbap(pdu: bytes, unit: int = 1) -> bytes:
    return struct.pack(">HHHB", 7, 0, len(pdu) + 1, unit) + pdu


@pytest.mark.parametrize(
    ("pdu", "words"),
    [
        (b"\x05\x00\x01\xff\x00", "write_single_coil"),
        (b"\x06\x00\x01\x00\x2a", "write_single_register"),
        (b"\x0f\x00\x00\x00\x08\x01\xff", "write_multiple_coils"),
        (b"\x10\x00\x00\x00\x01\x02\x00\x2a", "write_multiple_registers"),
        (b"\x15\x00", "write_file_record"),
        (b"\x16\x00\x01\xff\xff\x00\x00", "mask_write_register"),
        (b"\x17\x00\x00\x00\x01\x00\x00\x00\x01\x02\x00\x01", "read_write_multiple_registers"),
        (b"\x08\x00\x01\x00\x00", "diagnostics sub-function 1 (restart communications"),
        (b"\x08\x00\x04\x00\x00", "sub-function 4"),
        (b"\x08\x00\x00\x12\x34", "diagnostics sub-function 0"),
        (b"\x5a\x00\x40", "umas"),
        (b"\x03\x00\x00\x00\x0a", "read_holding_registers"),
        (b"\x01\x00\x00\x00\x10", "read_coils"),
        (b"\x2b\x0d\x00", "MEI 13"),
        (b"\x2b\x0e\x03\x00", "encapsulated"),  # extended objects: not requested by the probe
        (b"\x2b\x0e\x04\x00", "encapsulated"),
        (b"\x11\x00", "report_server_id"),  # FC 17 with trailing data
    ],
)
def test_modbus_writes_diagnostics_and_reads_refused(pdu: bytes, words: str) -> None:
    message = denied("modbus", mbap(pdu))
    assert f"FC {pdu[0]}" in message
    assert words.split(" (")[0] in message


def test_modbus_identity_allowed() -> None:
    assert "basic" in check_request("modbus", mbap(b"\x2b\x0e\x01\x00"))
    assert "regular" in check_request("modbus", mbap(b"\x2b\x0e\x02\x03"))
    assert "report server id" in check_request("modbus", mbap(b"\x11"))


# ---------------------------------------------------------------------------------------------- S7comm
def s7_job(params: bytes, data: bytes = b"", rosctr: int = 1) -> bytes:
    header = struct.pack(">BBHHHH", 0x32, rosctr, 0, 1, len(params), len(data))
    body = b"\x02\xf0\x80" + header + params + data
    return struct.pack(">BBH", 3, 0, 4 + len(body)) + body


def s7_userdata(group: int, sub: int, data: bytes) -> bytes:
    return s7_job(bytes((0, 1, 0x12, 4, 0x11, 0x40 | group, sub, 0)), data, rosctr=7)


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (
            s7_job(b"\x05\x01\x12\x0a\x10\x02\x00\x01\x00\x01\x84\x00\x00\x00", b"\x00\x04\x00\x08\x2a"),
            "write_var",
        ),
        (s7_job(b"\x04\x01\x12\x0a\x10\x02\x00\x01\x00\x01\x84\x00\x00\x00"), "read_var"),
        (s7_job(b"\x1a\x00\x00\x00\x00\x00\x00\x00\x09_0A00001P"), "request_download"),
        (s7_job(b"\x1b\x00\x00\x00\x00\x00\x00\x00\x09_0A00001P"), "download_block"),
        (s7_job(b"\x1c\x00\x00\x00\x00\x00\x00\x00\x09_0A00001P"), "download_ended"),
        (s7_job(b"\x1d\x00\x00\x00\x00\x00\x00\x00\x09_0A00001A"), "start_upload"),
        (s7_job(b"\x29\x00\x00\x00\x00\x00\x09P_PROGRAM"), "plc_stop"),
        (s7_job(b"\x28\x00\x00\x00\x00\x00\x00\xfd\x00\x00\x09P_PROGRAM"), "start_program"),
        (s7_job(b"\x28\x00\x00\x00\x00\x00\x00\xfd\x00\x00\x05_INSE"), "insert_block"),
        (s7_job(b"\x28\x00\x00\x00\x00\x00\x00\xfd\x00\x00\x05_DELE"), "delete_block"),
        (s7_job(b"\x28\x00\x00\x00\x00\x00\x00\xfd\x00\x00\x05_MODU"), "copy_ram_to_rom"),
        (s7_userdata(1, 9, b"\xff\x09\x00\x00"), "force"),
        (s7_userdata(1, 12, b"\xff\x09\x00\x00"), "memory_reset"),
        (s7_userdata(7, 2, b"\xff\x09\x00\x0a" + bytes(10)), "group 7"),
        (s7_userdata(5, 1, b"\xff\x09\x00\x08" + b"password"), "group 5"),
        (s7_userdata(3, 1, b"\xff\x09\x00\x02\x30\x38"), "group 3"),
        (s7_userdata(4, 1, b"\xff\x09\x00\x04\x0a\x91\x00\x00"), "SZL 0x0a91"),
        (s7_job(b"\xf0\x00\x00\x01\x00\x01\x01\xe0", b"\x00"), "0xf0"),  # setup communication with data
    ],
)
def test_s7_write_download_stop_pi_refused(message: bytes, words: str) -> None:
    assert words in denied("s7comm", message)


def test_s7_cotp_other_than_cr_and_dt_refused() -> None:
    dr = bytes((3, 0, 0, 11, 6, 0x80, 0, 1, 0, 1, 0))  # disconnect request
    assert "COTP PDU type 0x80" in denied("s7comm", dr)


def test_s7_identity_allowed() -> None:
    assert check_request("s7comm", s7.cotp_connect()) == "COTP connection request"
    assert "setup communication" in check_request("s7comm", s7.setup_communication(1))
    for szl in (0x0011, 0x001C, 0x0424, 0x0232):
        assert f"0x{szl:04x}" in check_request("s7comm", s7.read_szl(2, szl, 0))


# ---------------------------------------------------------------------------------------------- ENIP / CIP
def send_rr(cip: bytes) -> bytes:
    items = struct.pack("<IHH", 0, 0, 2) + struct.pack("<HH", 0, 0) + struct.pack("<HH", 0xB2, len(cip)) + cip
    return struct.pack("<HHII8sI", 0x6F, len(items), 0x1234, 0, b"ctx00000", 0) + items


@pytest.mark.parametrize(
    ("service", "name"),
    [
        (0x10, "set_attribute_single"),
        (0x02, "set_attributes_all"),
        (0x04, "set_attribute_list"),
        (0x05, "reset"),
        (0x06, "start"),
        (0x07, "stop"),
        (0x4D, "write_tag"),
        (0x53, "write_tag_fragmented"),
        (0x4E, "read_modify_write_tag"),
        (0x08, "create"),
        (0x09, "delete"),
        (0x16, "save"),
        (0x0E, "get_attribute_single"),
        (0x01, "get_attributes_all"),
    ],
)
def test_cip_services_refused(service: int, name: str) -> None:
    message = denied("enip", send_rr(bytes((service, 2, 0x20, 0x01, 0x24, 0x01)) + b"\x00"))
    assert f"send_rr_data carrying CIP {name}" in message


@pytest.mark.parametrize("command", [0x0004, 0x0064, 0x0065, 0x0066, 0x0070, 0x0001, 0x1234])
def test_enip_commands_other_than_list_identity_refused(command: int) -> None:
    data = b"\x00\x00\x00\x00" if command == 0x0065 else b""
    denied("enip", struct.pack("<HHII8sI", command, len(data), 0, 0, b"c" * 8, 0) + data)


def test_enip_list_identity_allowed() -> None:
    assert check_request("enip", enip.list_identity()) == "ENIP ListIdentity"


# ---------------------------------------------------------------------------------------------- BACnet
def bacnet_confirmed(service: int, body: bytes = b"\x0c\x02\x00\x0b\xf0\x19\x55") -> bytes:
    apdu = bytes((0x00, 0x05, 1, service)) + body
    return struct.pack(">BBH", 0x81, 0x0A, 6 + len(apdu)) + b"\x01\x04" + apdu


@pytest.mark.parametrize(
    ("service", "name"),
    [
        (15, "writeProperty"),
        (16, "writePropertyMultiple"),
        (20, "reinitializeDevice"),
        (17, "deviceCommunicationControl"),
        (7, "atomicWriteFile"),
        (6, "atomicReadFile"),
        (10, "createObject"),
        (11, "deleteObject"),
        (8, "addListElement"),
        (9, "removeListElement"),
        (0, "acknowledgeAlarm"),
        (27, "lifeSafetyOperation"),
        (18, "confirmedPrivateTransfer"),
    ],
)
def test_bacnet_confirmed_services_refused(service: int, name: str) -> None:
    message = denied("bacnet", bacnet_confirmed(service))
    assert f"confirmed service {service}" in message
    if name in (
        "writeProperty",
        "writePropertyMultiple",
        "reinitializeDevice",
        "deviceCommunicationControl",
        "atomicWriteFile",
    ):
        assert name in message


@pytest.mark.parametrize("service", [6, 9, 10, 4, 5, 7])
def test_bacnet_unconfirmed_other_than_who_is_refused(service: int) -> None:
    apdu = bytes((0x10, service))
    assert "only Who-Is" in denied(
        "bacnet", struct.pack(">BBH", 0x81, 0x0A, 6 + len(apdu)) + b"\x01\x00" + apdu
    )


def test_bacnet_broadcast_other_objects_and_properties_refused() -> None:
    assert "original-unicast" in denied("bacnet", b"\x81\x0b\x00\x08\x01\x00\x10\x08")  # broadcast Who-Is
    analog_value = b"\x0c" + struct.pack(">I", (2 << 22) | 1) + b"\x19\x55"
    assert "object type 2" in denied("bacnet", bacnet_confirmed(12, analog_value))
    present_value = b"\x0c" + struct.pack(">I", (8 << 22) | 3056) + b"\x19\x55"
    assert "property 85" in denied("bacnet", bacnet_confirmed(12, present_value))
    assert "network-layer" in denied("bacnet", b"\x81\x0a\x00\x07\x01\x80\x00")


def test_bacnet_identity_allowed() -> None:
    assert "Who-Is" in check_request("bacnet", bacnet.who_is())
    assert "ReadPropertyMultiple" in check_request("bacnet", bacnet.read_property_multiple(3056))
    assert "ReadProperty device object-name" in check_request("bacnet", bacnet.read_property(3056, 77, 2))


# ---------------------------------------------------------------------------------------------- DNP3
def dnp3_user_data(app_function: int) -> bytes:
    user = bytes((0xC0, 0xC0, app_function, 0x0C, 0x01, 0x17, 0x01, 0x00, 0x03, 0x01))
    header = b"\x05\x64" + struct.pack("<BBHH", 5 + len(user), 0xC4, 10, 1)
    return header + struct.pack("<H", crc16(header)) + user + struct.pack("<H", crc16(user))


@pytest.mark.parametrize(
    ("function", "name"),
    [
        (2, "write"),
        (3, "select"),
        (4, "operate"),
        (5, "direct_operate"),
        (6, "direct_operate_no_ack"),
        (13, "cold_restart"),
        (14, "warm_restart"),
        (18, "stop_application"),
        (1, "read"),
        (7, "immediate_freeze"),
    ],
)
def test_dnp3_application_functions_refused(function: int, name: str) -> None:
    assert f"application {name}" in denied("dnp3", dnp3_user_data(function))


def test_dnp3_link_functions_other_than_link_status_refused() -> None:
    for control in (0xC0, 0xC4, 0xC3):  # reset link, unconfirmed data, confirmed data
        header = b"\x05\x64" + struct.pack("<BBHH", 5, control, 10, 1)
        denied("dnp3", header + struct.pack("<H", crc16(header)))
    bad_crc = dnp3.request_link_status(10)[:-1] + b"\x00"
    assert "CRC" in denied("dnp3", bad_crc)
    assert "request link status" in check_request("dnp3", dnp3.request_link_status(10))


# ---------------------------------------------------------------------------------------------- IEC 104
@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (bytes((0x68, 4, 0x07, 0, 0, 0)), "STARTDT_ACT"),
        (bytes((0x68, 4, 0x13, 0, 0, 0)), "STOPDT_ACT"),
        (bytes((0x68, 4, 0x83, 0, 0, 0)), "TESTFR_CON"),
        (bytes((0x68, 4, 0x01, 0, 0, 0)), "S-format"),
        (bytes((0x68, 14, 0, 0, 0, 0, 45, 1, 6, 0, 1, 0, 1, 0, 0, 1)), "C_SC_NA_1"),
        (bytes((0x68, 14, 0, 0, 0, 0, 46, 1, 6, 0, 1, 0, 1, 0, 0, 1)), "C_DC_NA_1"),
        (bytes((0x68, 14, 0, 0, 0, 0, 100, 1, 6, 0, 1, 0, 0, 0, 0, 20)), "type 100"),
        (bytes((0x68, 14, 0, 0, 0, 0, 105, 1, 6, 0, 1, 0, 0, 0, 0, 1)), "type 105"),
    ],
)
def test_iec104_startdt_and_commands_refused(frame: bytes, words: str) -> None:
    message = denied("iec104", frame)
    assert words in message or "I-format" in message


def test_iec104_testfr_allowed() -> None:
    assert check_request("iec104", iec104.TESTFR_ACT) == "IEC 104 TESTFR act"


# ---------------------------------------------------------------------------------------------- OPC UA
def ua_msg(node: int) -> bytes:
    body = struct.pack("<IIII", 5, 1, 2, 2) + b"\x01\x00" + struct.pack("<H", node) + bytes(30)
    return b"MSGF" + struct.pack("<I", 8 + len(body)) + body


@pytest.mark.parametrize(
    ("node", "name"),
    [
        (673, "Write"),
        (712, "Call"),
        (461, "CreateSession"),
        (467, "ActivateSession"),
        (631, "Read"),
        (488, "AddNodes"),
        (500, "DeleteNodes"),
        (700, "HistoryUpdate"),
        (527, "Browse"),
    ],
)
def test_opcua_services_other_than_get_endpoints_refused(node: int, name: str) -> None:
    assert f"MSG {name}" in denied("opcua", ua_msg(node))


def test_opcua_secure_policy_and_message_types_refused() -> None:
    secure = opcua.open_channel().replace(b"#None", b"#Basic256Sha256")
    secure = secure[:4] + struct.pack("<I", len(secure)) + secure[8:]
    secure = (
        secure[:12]
        + struct.pack("<i", len(b"http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"))
        + secure[16:]
    )
    denied("opcua", secure)
    denied("opcua", b"ERRF" + struct.pack("<I", 16) + bytes(8))
    assert (
        check_request("opcua", opcua.get_endpoints(5, 1, "opc.tcp://127.0.0.1:4840")) == "OPC UA GetEndpoints"
    )
    assert check_request("opcua", opcua.hello("opc.tcp://127.0.0.1:4840")) == "OPC UA Hello"
    assert "OpenSecureChannel" in check_request("opcua", opcua.open_channel())
    assert "CloseSecureChannel" in check_request("opcua", opcua.close_channel(5, 1))


# ---------------------------------------------------------------------------------------------- SNMP
def test_snmp_set_bulk_trap_and_v3_refused() -> None:
    get = snmp.get_request("public")
    pdu_at = get.index(b"\xa0")
    for tag, name in (
        (0xA3, "set-request"),
        (0xA5, "get-bulk-request"),
        (0xA4, "trap"),
        (0xA7, "snmpV2-trap"),
    ):
        assert name in denied("snmp", get[:pdu_at] + bytes((tag,)) + get[pdu_at + 1 :])
    v3 = get.replace(b"\x02\x01\x01", b"\x02\x01\x03", 1)  # a v2c body under version 3
    assert "malformed SNMPv3" in denied("snmp", v3)
    assert "v1/v2c" in denied("snmp", get.replace(b"\x02\x01\x01", b"\x02\x01\x02", 1))
    assert check_request("snmp", get) == "SNMP get-request"
    assert check_request("snmp", get[:pdu_at] + b"\xa1" + get[pdu_at + 1 :]) == "SNMP get-next-request"


def v3_message(
    *,
    msg_id: int = 7,
    max_size: int = 65507,
    flags: bytes = b"\x04",
    model: int = 3,
    engine: bytes = b"",
    boots: int = 0,
    engine_time: int = 0,
    user: bytes = b"",
    auth: bytes = b"",
    priv: bytes = b"",
    context_engine: bytes = b"",
    context: bytes = b"",
    pdu_tag: int = 0xA0,
    error: int = 0,
    binds: bytes = b"",
    header_extra: bytes = b"",
    usm_extra: bytes = b"",
    encrypted: bytes | None = None,
    header: bytes | None = None,
    scoped: bytes | None = None,
) -> bytes:
    """An SNMPv3 message built field by field (the discovery when every default is kept); ``header``
    and ``scoped`` replace the content of msgGlobalData and of the scoped PDU."""
    tlv, num = snmp._tlv, snmp._int
    if header is None:
        header = num(msg_id) + num(max_size) + tlv(0x04, flags) + num(model) + header_extra
    usm = tlv(
        0x30, tlv(4, engine) + num(boots) + num(engine_time) + tlv(4, user) + tlv(4, auth) + tlv(4, priv)
    )
    if scoped is None:
        pdu = tlv(pdu_tag, num(0x55) + num(error) + num(0) + tlv(0x30, binds))
        scoped = tlv(4, context_engine) + tlv(4, context) + pdu
    data = tlv(0x30, scoped) if encrypted is None else tlv(4, encrypted)
    return tlv(0x30, num(3) + tlv(0x30, header) + tlv(0x04, usm + usm_extra) + data)


def sys_name_bind(value: bytes) -> bytes:
    return snmp._tlv(0x30, snmp.encode_oid("1.3.6.1.2.1.1.5.0") + snmp._tlv(0x04, value))


def test_snmpv3_engine_discovery_is_the_one_v3_request_allowed() -> None:
    assert check_request("snmp", v3_message()).startswith("SNMP get-request (SNMPv3 engine discovery")
    assert check_request("snmp", snmp.discovery_request()) == check_request("snmp", v3_message())
    nmap_snmp_info = bytes.fromhex(  # snmp-info.nse / nmap-service-probes SNMPv3GetRequest
        "303a020103300f02024a69020300ffe30401040201030410300e0400020100020100040004000400"
        "301204000400a00c020237f00201000201003000"
    )
    assert "engine discovery" in check_request("snmp", nmap_snmp_info)
    assert len(snmp.discovery_request()) == len(nmap_snmp_info)


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        (0xA3, "SNMPv3 set-request (write)"),
        (0xA1, "SNMPv3 get-next-request"),
        (0xA5, "SNMPv3 get-bulk-request"),
        (0xA6, "SNMPv3 inform-request"),
        (0xA7, "SNMPv3 snmpV2-trap"),
        (0xA4, "SNMPv3 trap"),
        (0xA2, "SNMPv3 get-response"),
        (0xA8, "SNMPv3 report"),
        (0xAF, "PDU 0xaf"),
    ],
)
def test_snmpv3_scoped_pdus_other_than_the_discovery_get_refused(tag: int, words: str) -> None:
    assert words in denied("snmp", v3_message(pdu_tag=tag))


@pytest.mark.parametrize(
    "message",
    [
        v3_message(pdu_tag=0xA3, binds=sys_name_bind(b"pwned")),  # a real Set of sysName
        v3_message(pdu_tag=0xA3, binds=sys_name_bind(b"x"), flags=b"\x07", user=b"admin", engine=b"\x80" * 5),
        v3_message(pdu_tag=0xA3, flags=b"\x00"),
        v3_message(pdu_tag=0xA3, context=b"bridge1"),
    ],
)
def test_snmpv3_set_refused_whatever_its_security(message: bytes) -> None:
    assert "set-request (write)" in denied("snmp", message)


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (v3_message(flags=b"\x05"), "msgFlags 05"),  # authNoPriv
        (v3_message(flags=b"\x07"), "msgFlags 07"),  # authPriv
        (v3_message(flags=b"\x00"), "msgFlags 00"),  # not reportable
        (v3_message(flags=b""), "msgFlags empty"),
        (v3_message(flags=b"\x04\x00"), "msgFlags 0400"),
        (v3_message(model=1), "not USM"),
        (v3_message(model=4), "not USM"),
        (v3_message(max_size=100), "msgMaxSize"),
        (v3_message(msg_id=-1), "msgID"),
        (v3_message(user=b"admin"), "no engine id, user name"),
        (v3_message(engine=b"\x80\x00\x0e\xf9\x03\x00\x00\x54\x00\x0a\x0b"), "no engine id"),
        (v3_message(auth=bytes(12)), "keys"),
        (v3_message(priv=bytes(8)), "keys"),
        (v3_message(context=b"bridge1"), "context"),
        (v3_message(context_engine=b"\x80\x00\x0e\xf9\x05\x01"), "context"),
        (v3_message(boots=1), "boots and time 0"),
        (v3_message(engine_time=100), "boots and time 0"),
        (v3_message(binds=sys_name_bind(b"")), "no varbinds"),
        (v3_message(error=1), "error fields 0"),
        (v3_message(encrypted=bytes(40)), "encrypted scoped PDU"),
    ],
)
def test_snmpv3_anything_but_the_discovery_refused(message: bytes, words: str) -> None:
    assert words in denied("snmp", message)


def mutated(message: bytes, old: bytes, new: bytes) -> bytes:
    assert message.count(old) == 1, (message.hex(), old.hex())
    return message.replace(old, new)


DISCOVERY = v3_message()
PDU_BODY = snmp._int(0x55) + snmp._int(0) + snmp._int(0) + b"\x30\x00"


@pytest.mark.parametrize(
    "message",
    [
        v3_message(header_extra=snmp._int(1)),  # a fifth msgGlobalData element
        v3_message(usm_extra=b"\x00"),  # bytes after the USM SEQUENCE inside its OCTET STRING
        bytes.fromhex("3003020103"),  # version only
        bytes.fromhex("3005020103") + b"\x30\x00",  # the outer length leaves the header out
        mutated(DISCOVERY, b"\x30\x11\x04\x00\x04\x00", b"\x31\x11\x04\x00\x04\x00"),  # SET, not SEQUENCE
        mutated(DISCOVERY, b"\x04\x10\x30\x0e", b"\x04\x10\x30\x0f"),  # USM overruns its OCTET STRING
        mutated(DISCOVERY, b"\x02\x01\x55", b"\x02\x01\x55\x02\x01\x00"),  # length no longer matches
        DISCOVERY[:-2] + b"\x30\x80",  # indefinite length varbinds
        v3_message(header=snmp._int(7) + snmp._int(65507) + b"\x04\x01\x04" + b"\x02\x00"),  # empty INTEGER
        v3_message(
            header=snmp._int(7) + snmp._int(65507) + b"\x04\x01\x04" + snmp._int(1 << 40)
        ),  # huge INTEGER
        v3_message(
            scoped=b"\x04\x00\x04\x00\xbf\x20" + bytes((len(PDU_BODY),)) + PDU_BODY
        ),  # high tag number
        v3_message(scoped=b"\x04\x00\x04\x00"),  # no PDU
        v3_message(scoped=b"\x04\x00\x04\x00\xa0" + bytes((len(PDU_BODY),)) + PDU_BODY + b"\x05\x00"),
        v3_message(scoped=b"\x04\x00\x04\x00\xa0\x03\x02\x01\x55"),  # get-request without its fields
    ],
)
def test_malformed_snmpv3_refused(message: bytes) -> None:
    words = denied("snmp", message)
    assert "malformed" in words or "is not allowed" in words, words


# ---------------------------------------------------------------------------------------------- banners
@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.0\r\n\r\n",
        b"USER anonymous\r\n",
        b"admin\r\n",
        b"SSH-2.0-x\r\n",
        HTTP_HEAD + b"X",
        b"POST /login HTTP/1.0\r\n\r\n",
    ],
)
def test_banner_sends_only_head(data: bytes) -> None:
    denied("banner", data)
    assert check_request("banner", HTTP_HEAD) == "HTTP HEAD /"


def test_unknown_protocol_refused() -> None:
    assert "no read-only request is known" in denied("fins", b"\x80\x00\x02")


# ---------------------------------------------------------------------------------------------- malformed
TARGET = ProbeTarget(ip="127.0.0.1", port=1, unit_ids=(1,), dnp3_addresses=(10,), snmp_community="public")
PLANS = {
    "modbus": modbus,
    "s7comm": s7,
    "enip": enip,
    "bacnet": bacnet,
    "dnp3": dnp3,
    "iec104": iec104,
    "opcua": opcua,
    "snmp": snmp,
    "banner": banner,
}


def allowed_requests() -> list[tuple[str, bytes]]:
    out = []
    for protocol, module in PLANS.items():
        target = (
            ProbeTarget(
                ip="127.0.0.1",
                port=80,
                unit_ids=(1, 2),
                dnp3_addresses=(10,),
                snmp_community="public",
                service="http",
            )
            if protocol == "banner"
            else TARGET
        )
        out += [(protocol, p.payload) for p in module.plan(target) if p.payload is not None]
    return out


def test_every_planned_request_is_allowed() -> None:
    requests = allowed_requests()
    assert {p for p, _ in requests} == set(PLANS)
    for protocol, payload in requests:
        assert check_request(protocol, payload)


@pytest.mark.parametrize(("protocol", "payload"), allowed_requests())
def test_truncated_and_padded_requests_refused(protocol: str, payload: bytes) -> None:
    for size in range(len(payload)):
        denied(protocol, payload[:size])
    denied(protocol, payload + b"\x00")


def test_random_bytes_never_pass() -> None:
    rng = random.Random(20261125)
    for protocol in PLANS:
        for _ in range(2000):
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
            try:
                check_request(protocol, data)
            except RequestDenied:
                continue
            # the only random strings that may pass are exact identity requests: re-check their shape
            assert protocol in ("iec104", "modbus") and len(data) in (6, 8, 11), (protocol, data.hex())


def test_single_bit_flips_of_identity_requests_never_become_writes() -> None:
    """Flipping any bit of an allowed request either is refused or is still an identity request."""
    for protocol, payload in allowed_requests():
        for index in range(len(payload)):
            for bit in range(8):
                flipped = bytearray(payload)
                flipped[index] ^= 1 << bit
                try:
                    purpose = check_request(protocol, bytes(flipped))
                except RequestDenied:
                    continue
                assert any(
                    word in purpose
                    for word in (
                        "identification",
                        "SZL",
                        "ListIdentity",
                        "Who-Is",
                        "ReadProperty",
                        "link status",
                        "TESTFR",
                        "GetEndpoints",
                        "OPC UA",
                        "SNMP get",
                        "COTP",
                        "setup communication",
                        "HEAD",
                        "report server id",
                    )
                )
