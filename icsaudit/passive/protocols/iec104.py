"""IEC 60870-5-104 over TCP 2404: APCI (I, S, U formats) and the ASDU header of I-format APDUs.

Keys follow tshark: ``I/<type id>``, ``S``, ``U/<STARTDT_ACT ...>``. Monitoring ASDUs (types 1-44)
flow from the controlled station and are not requests; commands and system commands in the control
direction count as requests when their cause is activation or deactivation.
"""

from __future__ import annotations

import struct
from typing import Any

from icsaudit.passive.protocols.base import Dissector, StreamBuffer

START = 0x68
ASDU_HEADER = 6  # type id, VSQ, COT, originator address, common address (2)
IOA_LEN = 3

# Type id -> operation category.
TYPE_CATEGORIES: dict[int, str] = {
    **dict.fromkeys(range(1, 45), "read"),  # monitoring information
    **dict.fromkeys(range(45, 52), "control"),  # commands
    **dict.fromkeys(range(58, 65), "control"),  # commands with CP56Time2a
    70: "other",  # end of initialization
    100: "read",  # (station) interrogation
    101: "read",  # counter interrogation
    102: "read",  # read command
    103: "control",  # clock synchronization
    104: "diagnostic",  # test command
    105: "mode",  # reset process
    106: "diagnostic",  # delay acquisition
    107: "diagnostic",  # test command with time tag
    **dict.fromkeys(range(110, 114), "write"),  # parameters
    **dict.fromkeys(range(120, 128), "program"),  # file transfer
}

TYPE_NAMES: dict[int, str] = {
    45: "C_SC_NA_1",
    46: "C_DC_NA_1",
    47: "C_RC_NA_1",
    48: "C_SE_NA_1",
    49: "C_SE_NB_1",
    50: "C_SE_NC_1",
    51: "C_BO_NA_1",
    58: "C_SC_TA_1",
    59: "C_DC_TA_1",
    60: "C_RC_TA_1",
    61: "C_SE_TA_1",
    62: "C_SE_TB_1",
    63: "C_SE_TC_1",
    64: "C_BO_TA_1",
    100: "C_IC_NA_1",
    101: "C_CI_NA_1",
    102: "C_RD_NA_1",
    103: "C_CS_NA_1",
    104: "C_TS_NA_1",
    105: "C_RP_NA_1",
    106: "C_CD_NA_1",
    107: "C_TS_TA_1",
    110: "P_ME_NA_1",
    111: "P_ME_NB_1",
    112: "P_ME_NC_1",
    113: "P_AC_NA_1",
}

# Event kind per type id (control-direction operations kept individually).
EVENT_KINDS: dict[int, str] = {
    **dict.fromkeys(range(45, 52), "control"),
    **dict.fromkeys(range(58, 65), "control"),
    103: "control",
    105: "mode",
    **dict.fromkeys(range(110, 114), "write"),
    **dict.fromkeys(range(120, 128), "program"),
}

U_FUNCTIONS: dict[int, str] = {
    0x04: "STARTDT_ACT",
    0x08: "STARTDT_CON",
    0x10: "STOPDT_ACT",
    0x20: "STOPDT_CON",
    0x40: "TESTFR_ACT",
    0x80: "TESTFR_CON",
}
U_CATEGORIES: dict[str, str] = {
    "STARTDT_ACT": "other",
    "STARTDT_CON": "other",
    "STOPDT_ACT": "other",
    "STOPDT_CON": "other",
    "TESTFR_ACT": "diagnostic",
    "TESTFR_CON": "diagnostic",
}

REQUEST_CAUSES = frozenset({6, 8})  # activation, deactivation
DOUBLE_STATES: dict[int, str] = {0: "not_permitted", 1: "off", 2: "on", 3: "not_permitted"}
STEP_STATES: dict[int, str] = {0: "not_permitted", 1: "lower", 2: "higher", 3: "not_permitted"}


# Interned function keys.
_I_KEYS = tuple(f"I/{type_id}" for type_id in range(256))
_U_KEYS = {name: f"U/{name}" for name in U_FUNCTIONS.values()}


def apdu_length(buf: bytes) -> int | None:
    if len(buf) < 2:
        return None
    if buf[0] != START or buf[1] < 4:
        return 0
    return buf[1] + 2


def command_value(type_id: int, element: bytes) -> dict[str, Any]:
    """Value and select/execute flag of a command information element (after the IOA)."""
    base = type_id - 13 if type_id >= 58 else type_id  # time-tagged commands mirror 45-51
    if not element:
        return {}
    if base == 45:
        return {
            "value": element[0] & 1,
            "select": bool(element[0] & 0x80),
            "qualifier": (element[0] >> 2) & 0x1F,
        }
    if base == 46:
        return {"value": DOUBLE_STATES[element[0] & 3], "select": bool(element[0] & 0x80)}
    if base == 47:
        return {"value": STEP_STATES[element[0] & 3], "select": bool(element[0] & 0x80)}
    if base in (48, 49) and len(element) >= 3:
        raw = struct.unpack_from("<h", element)[0]
        value = raw / 32768 if base == 48 else raw
        return {"value": value, "select": bool(element[2] & 0x80)}
    if base == 50 and len(element) >= 5:
        return {"value": struct.unpack_from("<f", element)[0], "select": bool(element[4] & 0x80)}
    if base == 51 and len(element) >= 4:
        return {"value": int.from_bytes(element[:4], "little")}
    return {}


class Iec104Dissector(Dissector):
    name = "iec104"
    tcp_ports = frozenset({2404})
    sniff_priority = 60

    def __init__(self, session) -> None:
        super().__init__(session)
        self.streams = (StreamBuffer(), StreamBuffer())
        self.common_addresses: set[int] = set()

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:  # noqa: ARG003
        # A U-format STARTDT/TESTFR act is how a 104 connection opens: 68 04 xx 00 00 00.
        return len(data) >= 6 and data[0] == START and data[1] == 4 and data[2] in (0x07, 0x43, 0x13)

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        stream = self.streams[0 if from_client else 1]
        if not stream.buf:
            # Fast path: nothing buffered, so whole APDUs are taken in place from the segment
            # (usually exactly one); only a partial or bad remainder goes through the stream buffer.
            off, size = 0, len(data)
            while size - off >= 2 and data[off] == START and data[off + 1] >= 4:
                end = off + data[off + 1] + 2
                if end > size:
                    break
                self._apdu(data if end == size and not off else data[off:end])
                off = end
            if off == size:
                return
            if off:
                data = data[off:]
        dropped = stream.dropped
        for apdu in stream.feed(data, apdu_length):
            self._apdu(apdu)
        if stream.dropped != dropped:
            self.session.error("iec104: bytes without a 0x68 APCI start dropped")

    def on_gap(self, from_client: bool) -> None:
        self.streams[0 if from_client else 1].reset()

    def _apdu(self, apdu: bytes) -> None:
        session = self.session
        control = apdu[2]
        if not control & 1:
            self._asdu(apdu[6:])
        elif control & 3 == 1:
            session.pdu("S", "other", request=False)
        else:
            name = U_FUNCTIONS.get(control & 0xFC)
            if name is None:
                session.pdu("U", "other", request=False)
                session.error(f"iec104: unknown U-format function 0x{control:02x}")
                return
            session.pdu(_U_KEYS[name], U_CATEGORIES[name], request=name.endswith("_ACT"))

    def _asdu(self, asdu: bytes) -> None:
        session = self.session
        if len(asdu) < ASDU_HEADER:
            session.pdu("I" if not asdu else f"I/{asdu[0]}", "other", request=False)
            session.error("iec104: truncated ASDU header")
            return
        type_id, vsq, cot, originator = asdu[0], asdu[1], asdu[2], asdu[3]
        common_address = asdu[4] | (asdu[5] << 8)
        cause = cot & 0x3F
        category = TYPE_CATEGORIES.get(type_id, "other")
        is_request = cause in REQUEST_CAUSES and type_id >= 45
        session.pdu(_I_KEYS[type_id], category, request=is_request)
        if common_address not in self.common_addresses and len(self.common_addresses) < 256:
            self.common_addresses.add(common_address)
            session.identity(
                {"server": session.server_ip, "common_address": common_address},
                {"iec104_common_address": common_address},
                ip=session.server_ip,
            )
        kind = EVENT_KINDS.get(type_id)
        if kind is None or not is_request:
            return
        detail: dict[str, Any] = {
            "type_id": type_id,
            "type": TYPE_NAMES.get(type_id, str(type_id)),
            "cause": cause,
            "negative": bool(cot & 0x40),
            "test": bool(cot & 0x80),
            "originator": originator,
            "common_address": common_address,
            "objects": vsq & 0x7F,
        }
        if len(asdu) >= ASDU_HEADER + IOA_LEN:
            detail["ioa"] = int.from_bytes(asdu[ASDU_HEADER : ASDU_HEADER + IOA_LEN], "little")
            element = asdu[ASDU_HEADER + IOA_LEN :]
            if kind == "control" and type_id != 103:
                detail.update(command_value(type_id, element))
            elif type_id == 105 and element:
                detail["qualifier"] = element[0]  # 1 general reset, 2 reset pending events
        session.event(kind, category, _I_KEYS[type_id], detail)


DISSECTOR = Iec104Dissector
