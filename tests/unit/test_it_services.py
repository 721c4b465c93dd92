"""IT-service dissectors with crafted bytes: one section per service."""

from __future__ import annotations

import base64
import datetime
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from icsaudit.passive.protocols.it.common import LineBuffer
from icsaudit.passive.protocols.it.dns import DnsDissector
from icsaudit.passive.protocols.it.ftp import FtpDissector
from icsaudit.passive.protocols.it.http import HttpDissector
from icsaudit.passive.protocols.it.ntp import NtpDissector
from icsaudit.passive.protocols.it.rdp import RdpDissector
from icsaudit.passive.protocols.it.smb import SmbDissector
from icsaudit.passive.protocols.it.snmp import SnmpDissector
from icsaudit.passive.protocols.it.ssh import SshDissector
from icsaudit.passive.protocols.it.syslog import SyslogDissector
from icsaudit.passive.protocols.it.telnet import TelnetDissector
from icsaudit.passive.protocols.it.tls import TlsDissector
from icsaudit.passive.protocols.it.vnc import VncDissector
from icsaudit.passive.protocols.it_services import DISSECTORS
from icsaudit.passive.session import Recorder, Session, secret_digest

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"


class Flow:
    def __init__(self, cls, transport: str = "tcp", port: int | None = None) -> None:
        self.rec = Recorder()
        port = port or min(cls.tcp_ports or cls.udp_ports)
        agg = self.rec.flow(CLIENT, SERVER, transport, port, cls.name)
        self.session = Session(
            self.rec, cls.name, agg, transport, CLIENT, SERVER, 50000, port, frozenset((port,))
        )
        self.dissector = cls(self.session)

    def send(self, data: bytes, from_client: bool = True) -> None:
        self.rec.frame += 1
        self.session.from_client = from_client
        if self.session.transport == "udp":
            self.dissector.on_udp(data, from_client)
        else:
            self.dissector.on_tcp(data, from_client)

    @property
    def functions(self) -> dict:
        return dict(self.session.agg.functions)

    @property
    def ops(self) -> dict:
        return dict(self.session.agg.ops)

    def events(self, kind: str) -> list:
        return [e for e in self.rec.events if e.kind == kind]

    def service(self):
        (service,) = self.rec.services.values()
        return service


def test_registry_exports_every_service_with_its_name() -> None:
    names = [cls.name for cls in DISSECTORS]
    assert names == [
        "telnet",
        "ftp",
        "http",
        "snmp",
        "ssh",
        "tls",
        "rdp",
        "vnc",
        "smb",
        "dns",
        "ntp",
        "syslog",
    ]


def test_line_buffer_bounds_and_splits() -> None:
    lines = LineBuffer()
    assert lines.feed(b"USER a\r\nPA") == [b"USER a"]
    assert lines.feed(b"SS b\n") == [b"PASS b"]
    assert lines.feed(b"x" * 5000) == [] and lines.buf == b""  # an endless line is dropped


# -- telnet -----------------------------------------------------------------------------------


def test_telnet_negotiation_banner_and_typed_login() -> None:
    flow = Flow(TelnetDissector)
    flow.send(b"\xff\xfd\x18\xff\xfd\x20\xff\xfa\x18\x01\xff\xf0", from_client=False)
    flow.send(b"\xff\xfb\x18", from_client=True)
    flow.send(b"Welcome to PLC gateway\r\nlogin: ", from_client=False)
    for key in b"adx\x7fmin\r\0":  # one key per packet, with a backspace
        flow.send(bytes((key,)), from_client=True)
        flow.send(bytes((key,)), from_client=False)  # echo
    flow.send(b"\r\nPassword: ", from_client=False)
    flow.send(b"s3cret\r\n", from_client=True)
    (credential,) = flow.events("credential")
    assert credential.detail == {
        "method": "telnet-login",
        "user_digest": secret_digest(b"admin"),
        "secret_digest": secret_digest(b"s3cret"),
    }
    assert flow.service().banner.startswith("Welcome to PLC gateway")
    assert flow.functions["negotiate"] == 2 and flow.functions["login"] == 1
    assert TelnetDissector.sniff(b"\xff\xfd\x18", False) and not TelnetDissector.sniff(b"hello", False)


# -- ftp --------------------------------------------------------------------------------------


def test_ftp_banner_anonymous_login_and_transfers() -> None:
    flow = Flow(FtpDissector)
    flow.send(b"220-Welcome\r\n220 ProFTPD Server ready\r\n", from_client=False)
    flow.send(b"USER anonymous\r\nPA", from_client=True)
    flow.send(b"SS guest@\r\n", from_client=True)
    flow.send(b"230 Login ok\r\n", from_client=False)
    flow.send(b"STOR ladder.bin\r\nRETR config.xml\r\n", from_client=True)
    flow.send(b"550 denied\r\n", from_client=False)
    (credential,) = flow.events("credential")
    assert credential.detail["anonymous"] is True and credential.detail["accepted"] is True
    assert credential.detail["secret_digest"] == secret_digest("guest@")
    assert "guest" not in str(credential.detail)
    assert flow.ops == {"auth": 2, "write": 1, "read": 1}
    (write,) = flow.events("write")
    assert write.detail == {"path": "ladder.bin"}
    # Statements about one service join as merge_service does (longest banner), whatever their order.
    assert flow.service().banner == "ProFTPD Server ready"
    assert flow.session.agg.exceptions == 1
    assert FtpDissector.sniff(b"220 FTP server\r\n", False) and not FtpDissector.sniff(b"220 SMTP\r\n", False)


def test_ftp_failed_login_and_login_left_unanswered() -> None:
    flow = Flow(FtpDissector)
    flow.send(b"USER op\r\nPASS pw\r\n")
    flow.send(b"530 Login incorrect\r\n", from_client=False)
    flow.send(b"USER op\r\nPASS pw2\r\n")
    flow.dissector.on_close()
    first, second = flow.events("credential")
    assert first.detail["accepted"] is False and "accepted" not in second.detail
    flow.send(b"\x00\x01garbage\r\n")
    assert flow.rec.decode_errors == 1


# -- http -------------------------------------------------------------------------------------


def test_http_requests_basic_auth_server_header_and_bodies() -> None:
    flow = Flow(HttpDissector)
    token = base64.b64encode(b"admin:1234")
    request = b"POST /cgi/setpoint HTTP/1.1\r\nHost: plc\r\nAuthorization: Basic " + token + b"\r\n"
    request += b"Content-Length: 12\r\n\r\nvalue=42&x=1"
    flow.send(request[:30])
    flow.send(request[30:-3])  # the body arrives split, then the next request
    flow.send(request[-3:] + b"GET / HTTP/1.1\r\n\r\n")
    flow.send(
        b'HTTP/1.1 401 Unauthorized\r\nServer: GoAhead-Webs\r\nWWW-Authenticate: Basic realm="plc"\r\n'
        b"Transfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n",
        from_client=False,
    )
    flow.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False)
    assert flow.functions == {"POST": 1, "GET": 1, "401": 1, "200": 1}
    assert flow.ops == {"write": 1, "read": 1}
    (credential,) = flow.events("credential")
    assert credential.detail["user_digest"] == secret_digest(b"admin")
    assert credential.detail["secret_digest"] == secret_digest(b"1234")
    service = flow.service()
    assert service.banner == "GoAhead-Webs" and service.details["www_authenticate"] == 'Basic realm="plc"'
    assert flow.session.agg.exceptions == 1
    assert HttpDissector.sniff(b"GET /x HTTP/1.0\r\n", True) and not HttpDissector.sniff(b"GETX", True)


def test_http_bad_basic_token_is_an_error() -> None:
    flow = Flow(HttpDissector)
    flow.send(b"GET / HTTP/1.1\r\nAuthorization: Basic !!!\r\n\r\n")
    assert flow.rec.decode_errors == 1 and not flow.events("credential")


# -- snmp -------------------------------------------------------------------------------------


def ber(tag: int, value: bytes) -> bytes:
    if len(value) < 128:
        return bytes((tag, len(value))) + value
    return bytes((tag, 0x82)) + struct.pack(">H", len(value)) + value


def snmp_v2(community: bytes, pdu_tag: int, error_status: int = 0, version: int = 1) -> bytes:
    varbind = ber(0x30, ber(0x30, ber(0x06, b"\x2b\x06\x01\x02\x01\x01\x01\x00") + b"\x05\x00"))
    pdu = ber(pdu_tag, ber(0x02, b"\x01") + ber(0x02, bytes((error_status,))) + ber(0x02, b"\x00") + varbind)
    return ber(0x30, ber(0x02, bytes((version,))) + ber(0x04, community) + pdu)


def test_snmp_community_get_set_and_response() -> None:
    flow = Flow(SnmpDissector, "udp")
    flow.send(snmp_v2(b"public", 0xA0))
    flow.send(snmp_v2(b"public", 0xA2), from_client=False)
    flow.send(snmp_v2(b"s3cret-rw", 0xA3))
    flow.send(snmp_v2(b"s3cret-rw", 0xA2, error_status=2), from_client=False)
    assert flow.functions == {"get-request": 1, "get-response": 2, "set-request": 1}
    assert flow.ops == {"read": 1, "write": 1}
    public, private = flow.events("credential")
    assert public.detail["default_community"] is True and private.detail["default_community"] is False
    assert public.detail["secret_digest"] == secret_digest(b"public") and "public" not in str(public.detail)
    assert len(flow.events("write")) == 1
    assert flow.service().details == {"snmp_version": "v2c"}
    assert flow.session.agg.exceptions == 1
    assert SnmpDissector.sniff(snmp_v2(b"x", 0xA0), True) and not SnmpDissector.sniff(b"\x30\x05abc", True)


def test_snmp_v3_user_is_hashed_and_security_flags_kept() -> None:
    flow = Flow(SnmpDissector, "udp")
    header = ber(0x30, ber(0x02, b"\x01") + ber(0x02, b"\x05\xdc") + ber(0x04, b"\x04") + ber(0x02, b"\x03"))
    usm = ber(
        0x30,
        ber(0x04, b"")
        + ber(0x02, b"\x00")
        + ber(0x02, b"\x00")
        + ber(0x04, b"operator")
        + ber(0x04, b"")
        + ber(0x04, b""),
    )
    scoped = ber(
        0x30,
        ber(0x04, b"") + ber(0x04, b"") + ber(0xA0, ber(0x02, b"\x01") + b"\x02\x01\x00\x02\x01\x00\x30\x00"),
    )
    flow.send(ber(0x30, ber(0x02, b"\x03") + header + ber(0x04, usm) + scoped))
    reply = ber(0x30, ber(0x02, b"\x03") + header + ber(0x04, usm) + scoped.replace(b"\xa0", b"\xa8", 1))
    flow.send(reply, from_client=False)
    assert flow.functions == {"get-request": 1, "report": 1}
    details = flow.service().details
    assert details["security_model"] == "usm" and details["auth"] is False and details["priv"] is False
    assert details["user_digest"] == secret_digest(b"operator")


def test_snmp_malformed() -> None:
    flow = Flow(SnmpDissector, "udp")
    flow.send(b"\x30\x84\xff")
    flow.send(ber(0x30, ber(0x02, b"\x01") + ber(0x04, b"public") + ber(0xBF, b"")))
    assert flow.rec.decode_errors == 2


# -- ssh --------------------------------------------------------------------------------------


def ssh_packet(code: int, payload: bytes = b"") -> bytes:
    body = bytes((code,)) + payload
    padding = 4
    return struct.pack(">IB", len(body) + padding + 1, padding) + body + b"\0" * padding


def name_list(text: bytes) -> bytes:
    return struct.pack(">I", len(text)) + text


def test_ssh_banners_and_kexinit() -> None:
    flow = Flow(SshDissector)
    flow.send(b"SSH-2.0-PuTTY_Release_0.76\r\n")
    kexinit = (
        b"\0" * 16 + name_list(b"curve25519-sha256") + name_list(b"ssh-rsa") + name_list(b"aes128-ctr") * 2
    )
    server = b"SSH-2.0-dropbear_2019.78\r\n" + ssh_packet(20, kexinit)
    flow.send(server[:20], from_client=False)
    flow.send(server[20:] + ssh_packet(21) + b"\x99encrypted-bytes", from_client=False)
    service = flow.service()
    assert service.banner == "SSH-2.0-dropbear_2019.78"
    assert service.details["software"] == "dropbear_2019.78" and service.details["ssh_version"] == "2.0"
    assert service.details["host_key_algorithms"] == "ssh-rsa"
    assert flow.functions == {"identification": 2, "kexinit": 1, "newkeys": 1}


# -- tls --------------------------------------------------------------------------------------


def certificate_der(common_name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


def handshake(kind: int, body: bytes) -> bytes:
    return bytes((kind,)) + len(body).to_bytes(3, "big") + body


def record(content: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack(">BHH", content, version, len(body)) + body


def test_tls12_hello_cipher_and_self_signed_certificate() -> None:
    flow = Flow(TlsDissector, port=4843)
    sni = b"\x00\x00" + struct.pack(">H", 14) + struct.pack(">HBH", 12, 0, 9) + b"plc.local"
    client_hello = b"\x03\x03" + b"\0" * 32 + b"\x00" + b"\x00\x02\xc0\x2f" + b"\x01\x00"
    client_hello += struct.pack(">H", len(sni)) + sni
    flow.send(record(22, handshake(1, client_hello), 0x0301))
    server_hello = b"\x03\x03" + b"\0" * 32 + b"\x00" + b"\xc0\x2f" + b"\x00"
    der = certificate_der("opcua-server")
    chain = len(der).to_bytes(3, "big") + der
    certificate = handshake(11, len(chain).to_bytes(3, "big") + chain)
    stream = record(22, handshake(2, server_hello) + certificate[:100]) + record(22, certificate[100:])
    stream += record(22, handshake(14, b""))
    flow.send(stream[:7], from_client=False)
    flow.send(stream[7:], from_client=False)
    flow.send(record(20, b"\x01") + record(22, b"\x8a" * 40) + record(23, b"\x00" * 30))
    details = flow.service().details
    assert details["tls_version"] == "TLS 1.2"
    assert details["cipher"] == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert details["cert_subject"] == "opcua-server" and details["cert_self_signed"] is True
    assert details["cert_not_after"].startswith("2029-12-29") and details["sni"] == "plc.local"
    assert flow.functions == {
        "client_hello": 1,
        "server_hello": 1,
        "certificate": 1,
        "server_hello_done": 1,
        "change_cipher_spec": 1,
        "encrypted_handshake": 1,
        "application_data": 1,
    }


def test_tls13_server_hello_and_mid_stream_pickup() -> None:
    flow = Flow(TlsDissector)
    supported = b"\x00\x2b\x00\x02\x03\x04"
    server_hello = (
        b"\x03\x03" + b"\0" * 32 + b"\x00" + b"\x13\x01" + b"\x00" + struct.pack(">H", 6) + supported
    )
    flow.send(b"tail-of-an-earlier-record" + record(22, handshake(2, server_hello)), from_client=False)
    assert flow.service().details["tls_version"] == "TLS 1.3"
    assert flow.rec.decode_errors == 0  # a capture starting mid-record is normal
    flow.send(record(22, b"\x08" * 20), from_client=False)
    assert flow.functions["encrypted_handshake"] == 1
    flow.send(b"\x00garbage!" + record(23, b"x"), from_client=False)
    assert flow.rec.decode_errors == 1 and flow.functions["application_data"] == 1


def test_tls_broken_certificate_is_an_error_not_a_crash() -> None:
    flow = Flow(TlsDissector)
    chain = (5).to_bytes(3, "big") + b"\x30\x03abc"
    flow.send(record(22, handshake(11, len(chain).to_bytes(3, "big") + chain)), from_client=False)
    assert flow.rec.decode_errors == 1


# -- rdp --------------------------------------------------------------------------------------


def tpkt(x224: bytes) -> bytes:
    return b"\x03\x00" + struct.pack(">H", 4 + len(x224)) + x224


def test_rdp_negotiation() -> None:
    flow = Flow(RdpDissector)
    request = b"\xe0\x00\x00\x00\x00\x00" + b"Cookie: mstshash=eng\r\n" + b"\x01\x00\x08\x00\x03\x00\x00\x00"
    flow.send(tpkt(bytes((len(request),)) + request))
    confirm = b"\xd0\x00\x00\x12\x34\x00" + b"\x02\x00\x08\x00\x02\x00\x00\x00"
    flow.send(tpkt(bytes((len(confirm),)) + confirm), from_client=False)
    flow.send(record(22, b"\x01\x00\x00\x00"))  # TLS from here on: not read
    details = flow.service().details
    assert details == {"requested_protocols": ["tls", "credssp"], "selected_protocol": "credssp"}
    assert flow.functions == {"connection_request": 1, "connection_confirm": 1}
    assert RdpDissector.sniff(tpkt(bytes((len(request),)) + request), True)
    s7_cr = tpkt(b"\x11\xe0\x00\x00\x00\x01\x00\xc1\x02\x01\x00\xc2\x02\x01\x02\xc0\x01\x0a")
    assert not RdpDissector.sniff(s7_cr, True)


def test_rdp_standard_security_selected() -> None:
    flow = Flow(RdpDissector)
    confirm = b"\xd0\x00\x00\x12\x34\x00"
    flow.send(tpkt(bytes((len(confirm),)) + confirm), from_client=False)
    assert flow.service().details["selected_protocol"] == "rdp"


# -- vnc --------------------------------------------------------------------------------------


def test_vnc_version_and_security_types() -> None:
    flow = Flow(VncDissector)
    flow.send(b"RFB 003.008\n", from_client=False)
    flow.send(b"RFB 003.008\n")
    flow.send(b"\x02\x01\x02", from_client=False)
    flow.send(b"\x01")
    details = flow.service().details
    assert details["rfb_version"] == "003.008" and details["security_types"] == ["none", "vnc_auth"]
    assert details["no_auth"] is True and details["security_chosen"] == "none"
    legacy = Flow(VncDissector)
    legacy.send(b"RFB 003.003\n\x00\x00\x00\x02", from_client=False)
    assert legacy.service().details["security_types"] == ["vnc_auth"]


# -- smb --------------------------------------------------------------------------------------


def nbss(payload: bytes) -> bytes:
    return b"\x00" + len(payload).to_bytes(3, "big") + payload


def smb2_header(command: int, reply: bool, status: int = 0, next_command: int = 0) -> bytes:
    return (
        b"\xfeSMB"
        + struct.pack("<HHIHH", 64, 0, status, command, 1)
        + struct.pack("<II", int(reply), next_command)
        + b"\0" * 40
    )


def test_smb2_negotiate_dialect_signing_and_compound() -> None:
    flow = Flow(SmbDissector)
    negotiate = smb2_header(0, False) + struct.pack("<HH", 36, 2) + b"\0" * 32 + b"\x02\x02\x11\x03"
    flow.send(nbss(negotiate))
    response = smb2_header(0, True) + struct.pack("<HHH", 65, 0x03, 0x0311) + b"\0" * 58
    flow.send(nbss(response)[:10], from_client=False)
    flow.send(nbss(response)[10:], from_client=False)
    compound = smb2_header(5, False, next_command=72) + b"\0" * 8 + smb2_header(8, False) + b"\0" * 8
    flow.send(nbss(compound))
    flow.send(nbss(smb2_header(8, True, status=0xC0000022)), from_client=False)
    details = flow.service().details
    assert details == {"smb1": False, "smb_dialect": "3.1.1", "signing_required": True}
    assert flow.functions == {"negotiate": 2, "create": 1, "read": 2}
    assert flow.session.agg.exceptions == 1


def test_smb1_is_flagged() -> None:
    flow = Flow(SmbDissector, port=139)
    flow.send(b"\x81\x00\x00\x04" + b"\x20\x43\x4b\x41")
    header = b"\xffSMB\x72" + b"\0" * 4 + b"\x18" + b"\0" * 22
    flow.send(nbss(header + b"\x00" + b"\x0c\x00" + b"\x02NT LM 0.12\x00"))
    flow.send(nbss(b"\xffSMB\x72" + b"\0" * 4 + b"\x98" + b"\0" * 22), from_client=False)
    details = flow.service().details
    assert details["smb1"] is True and details["dialects_offered"] == ["NT LM 0.12"]
    assert flow.functions == {"nbss/session_request": 1, "smb1/negotiate": 2}
    flow.send(nbss(b"\x00\x01junk"))
    assert flow.rec.decode_errors == 1


# -- dns --------------------------------------------------------------------------------------


def dns_response() -> bytes:
    question = b"\x04hist\x04site\x00\x00\x01\x00\x01"
    answer_a = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x07"
    answer_aaaa = b"\xc0\x0c\x00\x1c\x00\x01\x00\x00\x00\x3c\x00\x10" + b"\xfd\x00" + b"\0" * 13 + b"\x07"
    return struct.pack(">HHHHHH", 1, 0x8180, 1, 2, 0, 0) + question + answer_a + answer_aaaa


def test_dns_query_and_answers_name_the_answered_addresses() -> None:
    flow = Flow(DnsDissector, "udp")
    flow.send(struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x04hist\x04site\x00\x00\x01\x00\x01")
    flow.send(dns_response(), from_client=False)
    identities = sorted((i.ip, i.fields["name"], i.confidence, i.mac) for i in flow.rec.identities.values())
    assert identities == [("10.0.0.7", "hist.site", "medium", ""), ("fd00::7", "hist.site", "medium", "")]
    assert flow.functions == {"query": 1, "query_response": 1}
    assert flow.rec.protocol_stats()["dns"].identities == []  # not corpus truth: raw is None


def test_dns_tcp_split_and_pointer_loop() -> None:
    flow = Flow(DnsDissector, "tcp")
    message = dns_response()
    framed = struct.pack(">H", len(message)) + message
    flow.send(framed[:5], from_client=False)
    flow.send(framed[5:], from_client=False)
    assert len(flow.rec.identities) == 2
    loop = struct.pack(">HHHHHH", 2, 0x8180, 1, 1, 0, 0) + b"\xc0\x0c"
    flow.send(struct.pack(">H", len(loop)) + loop, from_client=False)
    assert flow.rec.decode_errors == 1


# -- ntp / syslog -----------------------------------------------------------------------------


def test_ntp_client_server_and_mode7() -> None:
    flow = Flow(NtpDissector, "udp")
    flow.send(b"\x23" + b"\0" * 47)  # v4 client
    flow.send(b"\x24\x01\x00\xe9" + b"\0" * 8 + b"GPS\0" + b"\0" * 32, from_client=False)
    flow.send(b"\x17\x00\x03\x2a" + b"\0" * 4)  # mode 7 monlist request
    flow.send(b"\x97\x00\x03\x2a" + b"\0" * 4, from_client=False)
    details = flow.service().details
    assert details == {"ntp_version": 4, "stratum": 1, "reference": "GPS", "mode7_answered": True}
    assert flow.ops == {"read": 1, "diagnostic": 1}
    flow.send(b"\x23")
    assert flow.rec.decode_errors == 1


def test_syslog_facility_severity_and_sender_name() -> None:
    flow = Flow(SyslogDissector, "udp")
    flow.send(b"<134>Oct 11 22:14:15 hmi01 scada[42]: operator logged in")
    flow.send(b"<11>1 2024-01-01T00:00:00Z plc7 app - - - disk error")
    assert flow.functions == {"local0.info": 1, "user.err": 1}
    (identity,) = flow.rec.identities.values()
    assert identity.ip == CLIENT and identity.fields == {"name": "hmi01"}
    # Both formats seen: joined as merge_service does (per-key maximum), whatever their order.
    assert flow.service().details == {"format": "rfc5424"}
    flow.send(b"<999>bad")
    assert flow.rec.decode_errors == 1
    assert SyslogDissector.sniff(b"<13>x", True) and not SyslogDissector.sniff(b"<200>x", True)
