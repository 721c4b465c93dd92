"""RDP (TCP 3389): X.224 Connection Request/Confirm with the RDP security negotiation (MS-RDPBCGR 2.2.1).

After a Connection Confirm that selects TLS or CredSSP the stream turns into TLS: nothing more is read.
"""

from __future__ import annotations

from icsaudit.passive.protocols.base import Dissector, StreamBuffer
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY

X224_CR, X224_CC, X224_DT = 0xE0, 0xD0, 0xF0
NEG_REQUEST, NEG_RESPONSE, NEG_FAILURE = 0x01, 0x02, 0x03
PROTOCOLS: dict[int, str] = {0x1: "tls", 0x2: "credssp", 0x4: "rdstls", 0x8: "credssp_early_auth"}
TPDU_KEYS: dict[int, str] = {X224_CR: "connection_request", X224_CC: "connection_confirm", X224_DT: "data"}
TPDU_CATEGORIES: dict[int, str] = {X224_CR: "auth", X224_CC: "auth", X224_DT: "other"}


def protocol_names(mask: int) -> list[str]:
    return [name for bit, name in PROTOCOLS.items() if mask & bit] or ["rdp"]  # 0: standard RDP security


def tpkt_length(buf: bytes) -> int | None:
    if len(buf) < 4:
        return None
    if buf[0] != 3 or buf[1] != 0:
        return 0
    length = (buf[2] << 8) | buf[3]
    return length if length >= 7 else 0


class RdpDissector(Dissector):
    name = "rdp"
    tcp_ports = frozenset((3389,))
    sniff_priority = IT_SNIFF_PRIORITY

    def __init__(self, session) -> None:
        super().__init__(session)
        self.buffers = (StreamBuffer(), StreamBuffer())
        self.done = False
        self.requested: list[str] = []

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:
        # TPKT + X.224 CR carrying an RDP cookie or negotiation request (S7/MMS CRs carry TSAP params)
        return (
            from_client
            and data[:2] == b"\x03\x00"
            and len(data) > 11
            and data[5] == X224_CR
            and (b"Cookie: mstshash=" in data or data[-8:-6] == b"\x01\x00" and data[-6:-4] == b"\x08\x00")
        )

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        if self.done:
            return
        buffer = self.buffers[0 if from_client else 1]
        for tpdu in buffer.feed(data, tpkt_length):
            code = tpdu[5] & 0xF0
            self.session.pdu(TPDU_KEYS.get(code, f"x224/0x{code:02x}"), TPDU_CATEGORIES.get(code, "other"))
            negotiation = tpdu[-8:] if len(tpdu) >= 19 else b""
            if code == X224_CR and negotiation[:1] == bytes((NEG_REQUEST,)):
                self.requested = protocol_names(int.from_bytes(negotiation[4:8], "little"))
            elif code == X224_CC:
                self._confirm(negotiation)
                return

    def _confirm(self, negotiation: bytes) -> None:
        details: dict[str, object] = {"requested_protocols": self.requested or ["rdp"]}
        selected = int.from_bytes(negotiation[4:8], "little") if negotiation else 0
        if negotiation[:1] == bytes((NEG_RESPONSE,)):
            details["selected_protocol"] = protocol_names(selected)[-1]
            self.done = selected != 0
        elif negotiation[:1] == bytes((NEG_FAILURE,)):
            details["negotiation_failure"] = selected
        else:
            details["selected_protocol"] = "rdp"
        self.session.service(details=details)

    def on_gap(self, from_client: bool) -> None:
        self.buffers[0 if from_client else 1].reset()
