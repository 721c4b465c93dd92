"""NTP (UDP 123): version, mode, stratum; mode 6/7 (ntpq/ntpdc) queries answered are worth knowing."""

from __future__ import annotations

from icsaudit.passive.protocols.base import Dissector
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY

MODES: dict[int, tuple[str, str]] = {
    1: ("symmetric_active", "other"),
    2: ("symmetric_passive", "other"),
    3: ("client", "read"),
    4: ("server", "other"),
    5: ("broadcast", "other"),
    6: ("control", "diagnostic"),
    7: ("private", "diagnostic"),
}
SERVER_MODES = frozenset((2, 4, 5))


class NtpDissector(Dissector):
    name = "ntp"
    udp_ports = frozenset((123,))
    sniff_priority = IT_SNIFF_PRIORITY

    def on_udp(self, data: bytes, from_client: bool) -> None:
        session = self.session
        if len(data) < 4:
            session.error("ntp: datagram shorter than its header")
            return
        version, mode = (data[0] >> 3) & 0x07, data[0] & 0x07
        key, category = MODES.get(mode, (f"mode/{mode}", "other"))
        # mode 6/7 replies carry a response bit (0x80 of byte 1 for mode 6, byte 0 for mode 7)
        is_response = (
            mode in SERVER_MODES or (mode == 6 and data[1] & 0x80) or (mode == 7 and data[0] & 0x80)
        ) and not from_client
        session.pdu(key, category, request=not is_response)
        if not is_response:
            return
        details: dict[str, object] = {"ntp_version": version}
        if mode in SERVER_MODES and len(data) >= 48:
            stratum = data[1]
            details["stratum"] = stratum
            if stratum == 1:
                details["reference"] = data[12:16].rstrip(b"\0").decode("latin-1")
        elif mode in (6, 7):
            details[f"mode{mode}_answered"] = True  # ntpq/ntpdc open: reconnaissance and amplification
        session.service(details=details)
