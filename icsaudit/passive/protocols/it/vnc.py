"""VNC / RFB (TCP 5900-5906): protocol version banner and offered security types (RFC 6143)."""

from __future__ import annotations

from icsaudit.passive.protocols.base import Dissector
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY, text

SECURITY_TYPES: dict[int, str] = {
    0: "invalid",
    1: "none",
    2: "vnc_auth",
    5: "ra2",
    6: "ra2ne",
    16: "tight",
    17: "ultra",
    18: "tls",
    19: "vencrypt",
    30: "apple_ard",
}


class VncDissector(Dissector):
    name = "vnc"
    tcp_ports = frozenset(range(5900, 5907))
    sniff_priority = IT_SNIFF_PRIORITY

    def __init__(self, session) -> None:
        super().__init__(session)
        self.server_stage = 0  # 0 version, 1 security types, 2 done
        self.client_stage = 0  # 0 version, 1 security choice, 2 done
        self.minor = 8

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:
        return data[:4] == b"RFB " and len(data) >= 12 and data[7:8] == b"."

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        session = self.session
        if from_client:
            if self.client_stage == 0 and data[:4] == b"RFB ":
                session.pdu("version", "other")
                self.client_stage = 1
            elif self.client_stage == 1 and len(data) == 1:
                session.pdu("security_choice", "auth")
                session.service(details={"security_chosen": SECURITY_TYPES.get(data[0], str(data[0]))})
                self.client_stage = 2
            else:
                session.pdu("data", "other")
            return
        if self.server_stage == 0 and data[:4] == b"RFB ":
            session.pdu("version", "other", request=False)
            version = text(data[4:12])
            self.minor = int(version[4:7]) if version[4:7].isdigit() else 8
            session.service(banner=text(data[:12]), details={"rfb_version": version})
            self.server_stage = 1
            data = data[12:]
            if not data:
                return
        if self.server_stage == 1:
            self.server_stage = 2
            session.pdu("security_types", "auth", request=False)
            if self.minor >= 7:
                count = data[0]
                types = [SECURITY_TYPES.get(t, str(t)) for t in data[1 : 1 + count]]
            else:
                types = (
                    [SECURITY_TYPES.get(int.from_bytes(data[:4], "big"), "unknown")] if len(data) >= 4 else []
                )
            session.service(details={"security_types": types, "no_auth": "none" in types})
            return
        session.pdu("data", "other", request=False)
