"""IEC 60870-5-104 presence: TESTFR act only. No STARTDT (data transfer never starts), no
interrogation, no commands: the TESTFR con proves a live 104 station without touching its process."""

from __future__ import annotations

from icsaudit.probes.base import Malformed, Planned, ProbeResult, ProbeTarget, answered, need
from icsaudit.probes.guard import GuardedConnection

NAME = "iec104"
PROTOCOL = "iec104"
TRANSPORT = "tcp"
PORTS = (2404,)
TESTFR_ACT = bytes((0x68, 4, 0x43, 0, 0, 0))
TESTFR_CON = 0x83


def frame_length(buf: bytes) -> int | None:
    if len(buf) < 2:
        return None
    if buf[0] != 0x68 or buf[1] < 4:
        raise Malformed("not an IEC 104 APCI")
    return 2 + buf[1]


def plan(target: ProbeTarget) -> list[Planned]:
    return [Planned(TESTFR_ACT, "TESTFR act (link test)")]


def run(conn: GuardedConnection, target: ProbeTarget, found: list[ProbeResult]) -> None:
    reply = conn.request(PROTOCOL, TESTFR_ACT, frame_length, "TESTFR act (link test)")
    need(reply.data, 6, "APCI")
    if reply.data[2] != TESTFR_CON:
        conn.negative(f"control 0x{reply.data[2]:02x} instead of TESTFR con")
    answered(
        found,
        (NAME, PROTOCOL, TRANSPORT),
        target,
        reply,
        {"testfr": "con"},
        fields={"device_type": "controlled station"},
    )
