"""Syslog over UDP 514 (RFC 3164/5424): facility and severity per message; the collector is the service."""

from __future__ import annotations

import re

from icsaudit.passive.protocols.base import Dissector
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY

FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "audit",
    "alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
PRI = re.compile(rb"<(\d{1,3})>")
RFC5424_HOST = re.compile(rb"1 \S+ (\S+) ")
RFC3164_HOST = re.compile(rb"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+) ")


class SyslogDissector(Dissector):
    name = "syslog"
    udp_ports = frozenset((514,))
    sniff_priority = IT_SNIFF_PRIORITY

    def __init__(self, session) -> None:
        super().__init__(session)
        self.named = False

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:
        match = PRI.match(data)
        return match is not None and int(match.group(1)) < 192

    def on_udp(self, data: bytes, from_client: bool) -> None:
        session = self.session
        match = PRI.match(data)
        if match is None or int(match.group(1)) >= 192:
            session.error("syslog: message without a valid <PRI>")
            return
        priority = int(match.group(1))
        facility, severity = FACILITIES[priority >> 3], SEVERITIES[priority & 7]
        session.pdu(f"{facility}.{severity}", "other")
        rest = data[match.end() :]
        rfc5424 = rest[:2] == b"1 "
        session.service(banner="syslog", details={"format": "rfc5424" if rfc5424 else "rfc3164"})
        if not self.named:
            self.named = True
            host = (RFC5424_HOST if rfc5424 else RFC3164_HOST).match(rest)
            if host is not None and host.group(1) != b"-":
                # the sender names itself: a hostname hint for the asset, not a device statement
                session.identity(None, {"name": host.group(1).decode("latin-1")}, confidence="medium")
