"""SNMP (UDP 161 agents, 162 trap receivers): version, community (hashed), PDU type, v3 USM user."""

from __future__ import annotations

from icsaudit.passive.protocols.base import Dissector
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY, flagged_credential
from icsaudit.passive.session import secret_digest

# PDU tag -> (key, category, is_request)
PDUS: dict[int, tuple[str, str, bool]] = {
    0xA0: ("get-request", "read", True),
    0xA1: ("get-next-request", "read", True),
    0xA2: ("get-response", "other", False),
    0xA3: ("set-request", "write", True),
    0xA4: ("trap", "other", True),
    0xA5: ("get-bulk-request", "read", True),
    0xA6: ("inform-request", "other", True),
    0xA7: ("snmpV2-trap", "other", True),
    0xA8: ("report", "other", False),
}
VERSIONS: dict[int, str] = {0: "v1", 1: "v2c", 3: "v3"}
SECURITY_MODELS: dict[int, str] = {1: "v1", 2: "v2c", 3: "usm", 4: "tsm"}
DEFAULT_COMMUNITIES = frozenset((b"public", b"private"))


def tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int] | None:
    """(tag, value start, value end) of the BER element at ``pos``; None when it overruns ``end``."""
    if pos + 2 > end:
        return None
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            return None
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        return None
    return tag, pos, pos + length


class SnmpDissector(Dissector):
    name = "snmp"
    udp_ports = frozenset((161, 162))
    sniff_priority = IT_SNIFF_PRIORITY

    def __init__(self, session) -> None:
        super().__init__(session)
        self.communities: set[bytes] = set()
        self.v3_details: dict[str, object] = {}

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:
        outer = tlv(data, 0, len(data))
        if outer is None or outer[0] != 0x30 or outer[2] != len(data):
            return False
        version = tlv(data, outer[1], outer[2])
        return (
            version is not None
            and version[0] == 0x02
            and data[version[1] : version[2]] in (b"\0", b"\1", b"\3")
        )

    def on_udp(self, data: bytes, from_client: bool) -> None:
        session = self.session
        outer = tlv(data, 0, len(data))
        version = tlv(data, outer[1], outer[2]) if outer and outer[0] == 0x30 else None
        if version is None or version[0] != 0x02:
            session.error("snmp: not a BER SNMP message")
            return
        number = int.from_bytes(data[version[1] : version[2]], "big")
        if number == 3:
            self._v3(data, version[2], outer[2], from_client)
            return
        community = tlv(data, version[2], outer[2])
        if community is None or community[0] != 0x04:
            session.error("snmp: missing community")
            return
        pdu = tlv(data, community[2], outer[2])
        if pdu is None or pdu[0] not in PDUS:
            session.error("snmp: unknown PDU type")
            return
        key, category, is_request = PDUS[pdu[0]]
        status = self._error_status(data, pdu) if not is_request else 0
        session.pdu(key, category, request=is_request, exception=bool(status))
        secret = data[community[1] : community[2]]
        if secret not in self.communities and len(self.communities) < 64:
            self.communities.add(secret)
            flagged_credential(
                session, "snmp-community", "", secret, default_community=secret in DEFAULT_COMMUNITIES
            )
        if pdu[0] == 0xA3:
            session.event("write", "write", key, {"snmp_version": VERSIONS.get(number, str(number))})
        if not is_request:
            session.service(details={"snmp_version": VERSIONS.get(number, str(number))})

    @staticmethod
    def _error_status(data: bytes, pdu: tuple[int, int, int]) -> int:
        request_id = tlv(data, pdu[1], pdu[2])
        status = tlv(data, request_id[2], pdu[2]) if request_id else None
        return int.from_bytes(data[status[1] : status[2]], "big") if status and status[0] == 0x02 else 0

    def _v3(self, data: bytes, pos: int, end: int, from_client: bool) -> None:
        """msgGlobalData (id, max size, flags, security model), USM parameters, scoped PDU."""
        session = self.session
        header = tlv(data, pos, end)
        if header is None or header[0] != 0x30:
            session.error("snmp: bad v3 header")
            return
        fields, inner = [], header[1]
        for _ in range(4):
            element = tlv(data, inner, header[2])
            if element is None:
                session.error("snmp: truncated v3 header")
                return
            fields.append(data[element[1] : element[2]])
            inner = element[2]
        flags = fields[2][0] if fields[2] else 0
        model = int.from_bytes(fields[3], "big")
        details: dict[str, object] = {
            "snmp_version": "v3",
            "security_model": SECURITY_MODELS.get(model, str(model)),
            "auth": bool(flags & 1),
            "priv": bool(flags & 2),
        }
        params = tlv(data, header[2], end)
        if params is not None and params[0] == 0x04:
            usm = tlv(data, params[1], params[2])
            cursor = usm[1] if usm and usm[0] == 0x30 else None
            for _ in range(4 if cursor is not None else 0):  # engine id, boots, time, user name
                element = tlv(data, cursor, usm[2])
                if element is None:
                    break
                value, cursor = data[element[1] : element[2]], element[2]
            else:
                if cursor is not None and value:
                    details["user_digest"] = secret_digest(value)
        scoped = tlv(data, params[2], end) if params else None
        key, category, is_request = "encrypted-pdu", "other", from_client
        if scoped is not None and scoped[0] == 0x30:
            engine = tlv(data, scoped[1], scoped[2])
            context = tlv(data, engine[2], scoped[2]) if engine else None
            pdu = tlv(data, context[2], scoped[2]) if context else None
            if pdu is not None and pdu[0] in PDUS:
                key, category, is_request = PDUS[pdu[0]]
        session.pdu(key, category, request=is_request)
        if from_client:
            self.v3_details = details
        else:
            session.service(
                details={**details, **{k: v for k, v in self.v3_details.items() if k == "user_digest"}}
            )
