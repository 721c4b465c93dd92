"""BACnet/IP (UDP 47808-47823): BVLC, NPDU routing and network-layer messages, APDU services.

One ``pdu()`` per APDU, else per NPDU (network-layer message), else per BVLC message, keyed as tshark
does: ``confirmed/<service>``, ``unconfirmed/<service>``, ``apdu/<type>``, ``nl/<message type>``,
``bvlc/0x<function>``. Device identities come from I-Am and from ReadProperty(-Multiple) acks of
the device object; they are merged per (sender, device instance) as the corpus truth is.

Segmented messages (confirmed requests and ComplexACKs with the SEG bit, ASHRAE 135 clause 5.2) count
one PDU per segment, as tshark does (packet-bacapp.c ``dissect_bacapp`` adds one bacapp layer per
frame, keyed by the service choice every segment repeats; SegmentACKs are ``apdu/4`` PDUs of their
own). Their content is reassembled, as tshark's ``fragment_add_seq_check`` does (keyed by source,
destination and invoke id; here also by PDU type and the BACnet addresses behind a router), and parsed
once, in the frame of the segment that completes it, as tshark does: see ``_segment``.
"""

from __future__ import annotations

import struct
import weakref
from typing import Any

from icsaudit.passive.protocols.base import Dissector

PORTS = frozenset(range(47808, 47824))
BVLC_TYPE = 0x81
MAX_IDENTITIES = 4096  # merged device identities kept per analysis
# Segment reassembly bounds (per flow): open messages, segments and bytes per message, seconds without a
# new segment before a message is given up (a sender retries a segment a few times, T_seg/APDU_Timeout
# of seconds each, then aborts).
MAX_OPEN_MESSAGES = 8
MAX_SEGMENTS = 128  # more than the 64 a max-segments-accepted code names; under the 8-bit wrap
MAX_MESSAGE_BYTES = 1 << 17  # 64 segments of the largest B/IP APDU (1476) fit
SEGMENT_TIMEOUT = 40.0

BVLC_FUNCTIONS: dict[int, str] = {
    0x00: "result",
    0x01: "write-bdt",
    0x02: "read-bdt",
    0x03: "read-bdt-ack",
    0x04: "forwarded-npdu",
    0x05: "register-foreign-device",
    0x06: "read-fdt",
    0x07: "read-fdt-ack",
    0x08: "delete-fdt-entry",
    0x09: "distribute-broadcast-to-network",
    0x0A: "original-unicast-npdu",
    0x0B: "original-broadcast-npdu",
    0x0C: "secure-bvll",
}
# BVLC functions that only a BBMD sends or receives (broadcast management across IP subnets).
BBMD_FUNCTIONS = frozenset({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09})
NPDU_FUNCTIONS = frozenset({0x04, 0x09, 0x0A, 0x0B})

# Confirmed service choice -> operation category.
CONFIRMED_CATEGORIES: dict[int, str] = {
    0: "control",  # acknowledgeAlarm
    1: "other",  # confirmedCOVNotification
    2: "other",  # confirmedEventNotification
    3: "read",  # getAlarmSummary
    4: "read",  # getEnrollmentSummary
    5: "read",  # subscribeCOV
    6: "program",  # atomicReadFile
    7: "program",  # atomicWriteFile
    8: "write",  # addListElement
    9: "write",  # removeListElement
    10: "write",  # createObject
    11: "write",  # deleteObject
    12: "read",  # readProperty
    13: "read",  # readPropertyConditional
    14: "read",  # readPropertyMultiple
    15: "write",  # writeProperty
    16: "write",  # writePropertyMultiple
    17: "mode",  # deviceCommunicationControl
    18: "other",  # confirmedPrivateTransfer
    19: "other",  # confirmedTextMessage
    20: "mode",  # reinitializeDevice
    21: "other",  # vtOpen
    22: "other",  # vtClose
    23: "other",  # vtData
    24: "auth",  # authenticate
    25: "auth",  # requestKey
    26: "read",  # readRange
    27: "control",  # lifeSafetyOperation
    28: "read",  # subscribeCOVProperty
    29: "read",  # getEventInformation
    30: "read",  # subscribeCOVPropertyMultiple
    31: "other",  # confirmedCOVNotificationMultiple
}
# Unconfirmed service choice -> (category, sent as a request).
UNCONFIRMED_SERVICES: dict[int, tuple[str, bool]] = {
    0: ("identify", False),  # i-Am
    1: ("identify", False),  # i-Have
    2: ("other", False),  # unconfirmedCOVNotification
    3: ("other", False),  # unconfirmedEventNotification
    4: ("other", True),  # unconfirmedPrivateTransfer
    5: ("other", True),  # unconfirmedTextMessage
    6: ("control", True),  # timeSynchronization
    7: ("identify", True),  # who-Has
    8: ("identify", True),  # who-Is
    9: ("control", True),  # utcTimeSynchronization
    10: ("write", True),  # writeGroup
    11: ("other", False),  # unconfirmedCOVNotificationMultiple
}
EVENT_KINDS: dict[int, str] = {6: "program", 7: "program", 15: "write", 16: "write", 17: "mode", 20: "mode"}
SERVICE_NAMES: dict[int, str] = {
    6: "atomicReadFile",
    7: "atomicWriteFile",
    15: "writeProperty",
    16: "writePropertyMultiple",
    17: "deviceCommunicationControl",
    20: "reinitializeDevice",
}

OBJECT_TYPES: dict[int, str] = {
    0: "analog-input",
    1: "analog-output",
    2: "analog-value",
    3: "binary-input",
    4: "binary-output",
    5: "binary-value",
    6: "calendar",
    7: "command",
    8: "device",
    9: "event-enrollment",
    10: "file",
    11: "group",
    12: "loop",
    13: "multi-state-input",
    14: "multi-state-output",
    15: "notification-class",
    16: "program",
    17: "schedule",
    18: "averaging",
    19: "multi-state-value",
    20: "trend-log",
    21: "life-safety-point",
    22: "life-safety-zone",
    23: "accumulator",
    24: "pulse-converter",
    25: "event-log",
    26: "global-group",
    27: "trend-log-multiple",
    28: "load-control",
    29: "structured-view",
    30: "access-door",
    40: "character-string-value",
    45: "integer-value",
    48: "positive-integer-value",
    54: "timer",
    56: "network-port",
}
PROPERTIES: dict[int, str] = {
    12: "application-software-version",
    28: "description",
    36: "event-state",
    44: "firmware-revision",
    70: "model-name",
    75: "object-identifier",
    76: "object-list",
    77: "object-name",
    79: "object-type",
    81: "out-of-service",
    85: "present-value",
    87: "priority-array",
    103: "reliability",
    104: "relinquish-default",
    111: "status-flags",
    112: "system-status",
    117: "units",
    120: "vendor-identifier",
    121: "vendor-name",
}
# Device-object properties that identify the device: property id -> identity key.
IDENTITY_PROPERTIES: dict[int, str] = {
    77: "object_name",
    121: "vendor_name",
    70: "model_name",
    44: "firmware_revision",
    12: "application_software_version",
}
DEVICE_OBJECT = 8
REINITIALIZE_STATES: dict[int, str] = {
    0: "coldstart",
    1: "warmstart",
    2: "start-backup",
    3: "end-backup",
    4: "start-restore",
    5: "end-restore",
    6: "abort-restore",
    7: "activate-changes",
}
DCC_STATES: dict[int, str] = {0: "enable", 1: "disable", 2: "disable-initiation"}

# Per analysis (recorder): merged identity objects per (src, device instance).
_MERGED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Malformed(Exception):
    """A tag or field runs past the end (caught per APDU: never escapes the dissector)."""


def read_tag(data: bytes, pos: int) -> tuple[int, bool, int, int, str]:
    """(tag number, context, length or value, position after the tag header, kind: data/open/close)."""
    if pos >= len(data):
        raise Malformed
    first = data[pos]
    pos += 1
    number = first >> 4
    if number == 15:
        if pos >= len(data):
            raise Malformed
        number = data[pos]
        pos += 1
    context = bool(first & 0x08)
    lvt = first & 0x07
    if context and lvt == 6:
        return number, context, 0, pos, "open"
    if context and lvt == 7:
        return number, context, 0, pos, "close"
    if lvt == 5:
        if pos >= len(data):
            raise Malformed
        lvt = data[pos]
        pos += 1
        if lvt == 254:
            lvt = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
        elif lvt == 255:
            lvt = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
    if not context and number == 1:  # boolean: the value is the length field, no content
        return number, context, lvt, pos, "data"
    if pos + lvt > len(data):
        raise Malformed
    return number, context, lvt, pos, "data"


def unsigned(data: bytes, pos: int, length: int) -> int:
    return int.from_bytes(data[pos : pos + length], "big")


def object_id(value: int) -> tuple[int, int]:
    return value >> 22, value & 0x3FFFFF


def char_string(data: bytes, pos: int, length: int) -> str:
    if length < 1:
        return ""
    encoding, raw = data[pos], data[pos + 1 : pos + length]
    if encoding in (4, 3):  # UCS-2 / UCS-4
        text = raw.decode("utf-16-be" if encoding == 4 else "utf-32-be", "replace")
    elif encoding == 5:
        text = raw.decode("latin-1")
    else:
        text = raw.decode("utf-8", "replace")
    return text.strip(" \x00")


def skip_value(data: bytes, pos: int, closing: int) -> int:
    """Skip tagged values up to and including the closing tag ``closing``; nested pairs handled."""
    depth = 0
    while True:
        number, context, length, pos, kind = read_tag(data, pos)
        if kind == "open":
            depth += 1
        elif kind == "close":
            if depth == 0 and number == closing:
                return pos
            depth -= 1
        elif context or number != 1:
            pos += length


def first_string(data: bytes, pos: int) -> tuple[str | None, int]:
    """The first character string inside an opening/closing tag pair that starts at ``pos``."""
    number, _, length, value_pos, kind = read_tag(data, pos)
    if kind == "data" and number == 7:
        return char_string(data, value_pos, length), value_pos + length
    return None, value_pos


def parse_property_value(data: bytes, pos: int) -> tuple[str | int | float | None, int]:
    """A single application-tagged value (string, unsigned, real, enumerated) or None."""
    number, context, length, value_pos, kind = read_tag(data, pos)
    if kind != "data" or context:
        return None, value_pos
    if number == 7:
        return char_string(data, value_pos, length), value_pos + length
    if number in (2, 9):
        return unsigned(data, value_pos, length), value_pos + length
    if number == 3:
        return int.from_bytes(data[value_pos : value_pos + length], "big", signed=True), value_pos + length
    if number == 4 and length == 4:
        return struct.unpack(">f", data[value_pos : value_pos + 4])[0], value_pos + 4
    if number == 1:
        return length, value_pos
    if number == 0:
        return "null", value_pos
    return None, value_pos + length


def npdu_addresses(data: bytes, pos: int) -> tuple[bytes, bytes]:
    """(DNET+DLEN+DADR, SNET+SLEN+SADR) of the NPDU at ``pos`` (empty when absent): the BACnet
    addresses behind a router, which the IP addresses of a routed message do not tell apart."""
    control = data[pos + 1]
    pos += 2
    dest = source = b""
    if control & 0x20:
        end = pos + 3 + data[pos + 2]
        dest, pos = bytes(data[pos:end]), end
    if control & 0x08:
        source = bytes(data[pos : pos + 3 + data[pos + 2]])
    return dest, source


class _Segmented:
    """One segmented message being collected: segment data by position in the message."""

    __slots__ = ("service", "parts", "next", "last", "size", "seen")

    def __init__(self, service: int, ts: float) -> None:
        self.service = service
        self.parts: dict[int, bytes] = {}
        self.next = 0  # position of the first segment not yet received
        self.last: int | None = None  # position of the segment with more-follows = 0
        self.size = 0
        self.seen = ts  # time of the last segment


class BacnetDissector(Dissector):
    name = "bacnet"
    udp_ports = PORTS
    sniff_priority = 60
    # Segment reassembly state, created by the first segmented message of the flow (None until then:
    # flows without segmentation pay nothing). key -> message being collected; key -> (time, first
    # segment's hash) of a message completed or given up, so its retransmitted or remaining segments are
    # recognised as such (bounded: 2 * MAX_OPEN_MESSAGES, oldest first out).
    _open: dict[tuple, _Segmented] | None = None
    _closed: dict[tuple, tuple[float, int | None]] | None = None

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:  # noqa: ARG003
        return (
            len(data) >= 4
            and data[0] == BVLC_TYPE
            and data[1] in BVLC_FUNCTIONS
            and ((data[2] << 8) | data[3]) == len(data)
        )

    def on_udp(self, data: bytes, from_client: bool) -> None:  # noqa: ARG002
        session = self.session
        if len(data) < 4 or data[0] != BVLC_TYPE:
            session.pdu("", "other", request=False)
            session.error("bacnet: datagram without a BVLC header")
            return
        function = data[1]
        if function in BBMD_FUNCTIONS:
            details: dict[str, Any] = {"bbmd": True}
            if function == 0x05:
                details["foreign_device_registration"] = True
            session.service(details=details)
        if function not in NPDU_FUNCTIONS:
            session.pdu(f"bvlc/0x{function:02x}", "other", request=function in (0x01, 0x02, 0x05, 0x06, 0x08))
            return
        offset = 10 if function == 0x04 else 4  # Forwarded-NPDU carries the originating B/IP address
        if len(data) < offset + 2:
            session.pdu(f"bvlc/0x{function:02x}", "other", request=False)
            session.error("bacnet: truncated BVLC")
            return
        origin = ".".join(str(b) for b in data[4:8]) if function == 0x04 else None
        self._npdu(data, offset, origin)

    def on_frame(self, data: bytes) -> None:
        """BACnet over ISO 8802-2 LLC (DSAP/SSAP 0x82, UI): the NPDU follows the 3-byte LLC header.

        Reached only when the core routes LLC frames here (see the module report: the pipeline
        currently drops 802.3 length-field frames before any dissector)."""
        if len(data) < 5 or data[0] != 0x82 or data[1] != 0x82:
            self.session.error("bacnet: LLC frame without the BACnet SAP")
            return
        self._npdu(data, 3, None)

    # -- network layer -----------------------------------------------------------------------
    def _npdu(self, data: bytes, pos: int, origin: str | None) -> None:
        session = self.session
        npdu = pos
        control = data[pos + 1]
        pos += 2
        try:
            if control & 0x20:  # DNET, DLEN, DADR
                dlen = data[pos + 2]
                pos += 3 + dlen
            if control & 0x08:  # SNET, SLEN, SADR
                slen = data[pos + 2]
                pos += 3 + slen
            if control & 0x20:
                pos += 1  # hop count
            if control & 0x80:
                message_type = data[pos]
                session.pdu(f"nl/{message_type}", "other", request=False)
                return
        except IndexError:
            session.pdu("npdu", "other", request=False)
            session.error("bacnet: truncated NPDU header")
            return
        if pos >= len(data):
            session.pdu("npdu", "other", request=False)
            return
        try:
            self._apdu(data, pos, origin, npdu)
        except (Malformed, IndexError):
            session.error("bacnet: malformed APDU")

    # -- application layer -------------------------------------------------------------------
    def _apdu(self, data: bytes, pos: int, origin: str | None, npdu: int) -> None:
        session = self.session
        apdu_type = data[pos] >> 4
        if apdu_type == 0:
            segmented = data[pos] & 0x08
            header = 6 if segmented else 4
            if pos + header > len(data):
                session.pdu("confirmed", "other", request=True)
                return
            service = data[pos + header - 1]
            category = CONFIRMED_CATEGORIES.get(service, "other")
            session.pdu(f"confirmed/{service}", category, request=True)  # one per segment, as tshark
            if not segmented:
                self._confirmed(service, category, data, pos + 4)
            else:
                whole = self._segment(data, pos, 0, data[pos + 2], service, npdu, origin)
                if whole is not None:
                    self._confirmed(service, category, whole, 0)
        elif apdu_type == 1:
            if pos + 2 > len(data):
                session.pdu("unconfirmed", "other", request=False)
                return
            service = data[pos + 1]
            category, is_request = UNCONFIRMED_SERVICES.get(service, ("other", False))
            session.pdu(f"unconfirmed/{service}", category, request=is_request)
            if service == 0:
                self._i_am(data, pos + 2, origin)
        elif apdu_type <= 7:
            session.pdu(f"apdu/{apdu_type}", "other", request=False, exception=apdu_type in (5, 6, 7))
            if apdu_type == 3:
                if not data[pos] & 0x08:
                    if pos + 3 <= len(data):
                        self._complex_ack(data[pos + 2], data, pos + 3, origin)
                elif pos + 5 <= len(data):
                    service = data[pos + 4]
                    whole = self._segment(data, pos, 3, data[pos + 1], service, npdu, origin)
                    if whole is not None:
                        self._complex_ack(service, whole, 0, origin)
            elif apdu_type == 7 and self._open and pos + 2 <= len(data):
                self._abort(data[pos + 1])
        else:
            session.pdu("apdu", "other", request=False)
            session.error(f"bacnet: unknown APDU type {apdu_type}")

    def _confirmed(self, service: int, category: str, data: bytes, pos: int) -> None:
        kind = EVENT_KINDS.get(service)
        if kind is None:
            return
        detail: dict[str, Any] = {"service": SERVICE_NAMES[service]}
        if service in (15, 16):
            self._write_detail(service, data, pos, detail)
        elif service in (6, 7):
            detail["direction"] = "read" if service == 6 else "write"
            number, context, length, value_pos, _ = read_tag(data, pos)
            if number == 12 and not context:
                object_type, instance = object_id(unsigned(data, value_pos, length))
                detail["object_type"] = OBJECT_TYPES.get(object_type, f"object-{object_type}")
                detail["object_instance"] = instance
        elif service in (17, 20):  # both: context-tagged state, optional duration, password
            states = DCC_STATES if service == 17 else REINITIALIZE_STATES
            state_tag = 1 if service == 17 else 0
            while pos < len(data):
                number, context, length, value_pos, kind_ = read_tag(data, pos)
                if kind_ != "data":
                    break
                if context and number == state_tag:
                    state = unsigned(data, value_pos, length)
                    detail["state"] = states.get(state, str(state))
                elif context and service == 17 and number == 0:
                    detail["duration_min"] = unsigned(data, value_pos, length)
                elif context and number == state_tag + 1:
                    detail["password_present"] = True
                pos = value_pos + length
        self.session.event(kind, category, f"confirmed/{service}", detail)

    def _write_detail(self, service: int, data: bytes, pos: int, detail: dict[str, Any]) -> None:
        number, context, length, value_pos, _ = read_tag(data, pos)
        if not (context and number == 0):
            return
        object_type, instance = object_id(unsigned(data, value_pos, length))
        detail["object_type"] = OBJECT_TYPES.get(object_type, f"object-{object_type}")
        detail["object_instance"] = instance
        pos = value_pos + length
        if service == 16:
            pos = read_tag(data, pos)[3]  # opening tag 1 of the property list
        number, context, length, value_pos, _ = read_tag(data, pos)
        if context and number in (1, 0) and service in (15, 16):
            prop = unsigned(data, value_pos, length)
            detail["property"] = PROPERTIES.get(prop, f"property-{prop}")
            pos = value_pos + length
        number, context, length, value_pos, kind = read_tag(data, pos)
        if kind == "data" and context and number in (2, 1):  # array index
            detail["array_index"] = unsigned(data, value_pos, length)
            number, context, length, value_pos, kind = read_tag(data, value_pos + length)
        if kind == "open":
            value, _ = parse_property_value(data, value_pos)
            if value is not None:
                detail["value"] = value
            pos = skip_value(data, value_pos, number)
            if service == 15 and pos < len(data):
                number, context, length, value_pos, kind = read_tag(data, pos)
                if kind == "data" and context and number == 4:
                    detail["priority"] = unsigned(data, value_pos, length)

    # -- segmentation (ASHRAE 135 clause 5.2) -------------------------------------------------
    def _segment(
        self, data: bytes, pos: int, pdu_type: int, invoke: int, service: int, npdu: int, origin: str | None
    ) -> bytes | None:
        """Collect one segment of a confirmed request (``pdu_type`` 0) or ComplexACK (3) whose APDU
        starts at ``pos``; the service data of the whole message once this segment completes it.

        A segment's position follows from its 8-bit sequence number and the proposed window size: a
        sender has at most a window of unacknowledged segments in flight, so a new segment lies within
        a window after the first one missing, a retransmission within a window before it. Out-of-order
        segments inside the window are kept; a segment beyond it means a whole window was not captured.
        A message is dropped, counting a decode error, on such a gap, after SEGMENT_TIMEOUT without a
        segment, past MAX_SEGMENTS or MAX_MESSAGE_BYTES, when a flow has more than MAX_OPEN_MESSAGES, or
        still incomplete when the flow ends; nothing of a dropped message is parsed. Within
        SEGMENT_TIMEOUT of a message's end (completed, dropped or aborted), its later segments and a
        repeated first segment are retransmissions: ignored; another first segment starts a new one."""
        session = self.session
        ts = session.ts
        head = pos + 2 if pdu_type == 3 else pos + 3  # sequence number, window size, service choice
        seq, window, more = data[head], data[head + 1] & 0x7F or 1, data[pos] & 0x04
        key = (pdu_type, session.src_ip, session.dst_ip, origin, npdu_addresses(data, npdu), invoke)
        messages = self._open
        if messages is None:
            messages = self._open = {}
        elif messages:
            for stale in [k for k, m in messages.items() if ts - m.seen > SEGMENT_TIMEOUT]:
                self._drop(stale, "bacnet: segmented message timed out (segment missing)")
        message = messages.get(key)
        if message is None:
            closed = self._closed
            ended = closed.get(key) if closed else None
            if ended is not None:
                if ts - ended[0] <= SEGMENT_TIMEOUT and (seq or hash(bytes(data[head + 3 :])) == ended[1]):
                    closed[key] = (ts, ended[1])  # type: ignore[index]
                    return None
                del closed[key]  # type: ignore[union-attr]
            if len(messages) >= MAX_OPEN_MESSAGES:
                oldest = min(messages, key=lambda k: messages[k].seen)
                self._drop(oldest, "bacnet: too many open segmented messages in a flow")
            message = messages[key] = _Segmented(service, ts)
        message.seen = ts
        ahead = (seq - message.next) & 0xFF
        if ahead >= window:
            if ((message.next - 1 - seq) & 0xFF) < min(window, message.next):
                return None  # a retransmission of a segment already received
            self._drop(key, "bacnet: segmented message: segment missing")
            return None
        index = message.next + ahead
        if service != message.service:
            self._drop(key, "bacnet: segmented message: service choice differs between segments")
            return None
        last = message.last
        if last is not None and (index > last or (not more and index != last)):
            self._drop(key, "bacnet: segmented message: segment after the last one")
            return None
        parts = message.parts
        if index in parts:
            return None  # a retransmission (the first copy stands)
        chunk = bytes(data[head + 3 :])
        message.size += len(chunk)
        if index >= MAX_SEGMENTS or message.size > MAX_MESSAGE_BYTES:
            self._drop(
                key, f"bacnet: segmented message over {MAX_SEGMENTS} segments or {MAX_MESSAGE_BYTES} bytes"
            )
            return None
        parts[index] = chunk
        if not more:
            message.last = last = index
        while message.next in parts:
            message.next += 1
        if last is None or message.next <= last:
            return None
        self._drop(key, None)
        return b"".join(parts[i] for i in range(last + 1))

    def _drop(self, key: tuple, reason: str | None) -> None:
        """End the open message ``key``: completed or aborted (``reason`` None), else given up with
        a decode error. Remembered a while, so its straggling segments are not taken for a new one."""
        message = self._open.pop(key)  # type: ignore[union-attr]
        closed = self._closed
        if closed is None:
            closed = self._closed = {}
        else:
            closed.pop(key, None)
            if len(closed) >= 2 * MAX_OPEN_MESSAGES:
                del closed[next(iter(closed))]
        first = message.parts.get(0)
        closed[key] = (self.session.ts, None if first is None else hash(first))
        if reason:
            self.session.error(reason)

    def _abort(self, invoke: int) -> None:
        """An Abort-PDU ends the transaction ``invoke`` between this packet's endpoints: its open
        segmented message, in either direction, is over (not a decode error)."""
        session = self.session
        ends = {session.src_ip, session.dst_ip}
        for key in [k for k in self._open if k[5] == invoke and {k[1], k[2]} == ends]:  # type: ignore[union-attr]
            self._drop(key, None)

    def on_close(self) -> None:
        messages = self._open
        if messages:
            for _ in range(len(messages)):
                self.session.error("bacnet: segmented message incomplete when the flow ended")
            messages.clear()

    # -- identities --------------------------------------------------------------------------
    def _i_am(self, data: bytes, pos: int, origin: str | None) -> None:
        number, context, length, value_pos, _ = read_tag(data, pos)
        if context or number != 12:
            return
        object_type, instance = object_id(unsigned(data, value_pos, length))
        pos = value_pos + length
        for _ in range(2):  # max APDU length, segmentation
            pos = read_tag(data, pos)[3] + read_tag(data, pos)[2]
        number, context, length, value_pos, _ = read_tag(data, pos)
        if object_type == DEVICE_OBJECT and number == 2 and not context:
            self._merge(instance, {"vendor_id": unsigned(data, value_pos, length)}, origin)

    def _complex_ack(self, service: int, data: bytes, pos: int, origin: str | None) -> None:
        if service == 12:  # readProperty-ACK: object, property, [index], {value}
            number, context, length, value_pos, _ = read_tag(data, pos)
            if not (context and number == 0):
                return
            object_type, instance = object_id(unsigned(data, value_pos, length))
            number, context, length, value_pos, _ = read_tag(data, value_pos + length)
            prop = unsigned(data, value_pos, length)
            number, context, length, value_pos, kind = read_tag(data, value_pos + length)
            if kind == "data":  # array index
                number, context, length, value_pos, kind = read_tag(data, value_pos + length)
            key = IDENTITY_PROPERTIES.get(prop)
            if object_type == DEVICE_OBJECT and key and kind == "open":
                text, _ = first_string(data, value_pos)
                if text is not None:
                    self._merge(instance, {key: text}, origin)
        elif service == 14:  # readPropertyMultiple-ACK: per object, a list of results
            end = len(data)
            while pos < end:
                number, context, length, value_pos, _ = read_tag(data, pos)
                if not (context and number == 0):
                    return
                object_type, instance = object_id(unsigned(data, value_pos, length))
                pos = read_tag(data, value_pos + length)[3]  # opening tag 1
                found: dict[str, Any] = {}
                while True:
                    number, context, length, value_pos, kind = read_tag(data, pos)
                    if kind == "close":
                        pos = value_pos
                        break
                    prop = unsigned(data, value_pos, length)
                    pos = value_pos + length
                    number, context, length, value_pos, kind = read_tag(data, pos)
                    if kind == "data":  # array index
                        number, context, length, value_pos, kind = read_tag(data, value_pos + length)
                    key = IDENTITY_PROPERTIES.get(prop)
                    if number == 4 and key:
                        text, _ = first_string(data, value_pos)
                        if text is not None:
                            found[key] = text
                    pos = skip_value(data, value_pos, number)
                if object_type == DEVICE_OBJECT and found:
                    self._merge(instance, found, origin)

    def _merge(self, instance: int, values: dict[str, Any], origin: str | None) -> None:
        """Merge what a device said into its identity per (sender, instance), replacing the older
        partial object in the per-protocol statistics so one merged object remains (as the truth)."""
        session = self.session
        recorder = session.recorder
        merged = _MERGED.setdefault(recorder, {})
        src = session.src_ip
        key = (src, instance)
        current = merged.get(key)
        if current is None:
            if len(merged) >= MAX_IDENTITIES:
                return
            current = {"src": src, "device_instance": instance}
        updated = {**current, **values}
        if updated == current and key in merged:
            return
        replaces = current if key in merged else None
        merged[key] = updated
        fields = {
            "vendor": updated.get("vendor_name"),
            "vendor_id": updated.get("vendor_id"),
            "model": updated.get("model_name"),
            "firmware": updated.get("firmware_revision"),
            "name": updated.get("object_name"),
            "software": updated.get("application_software_version"),
            "bacnet_device_instance": instance,
        }
        if origin:
            fields["bacnet_forwarded_from"] = origin
        session.identity(updated, fields, replaces=replaces)


DISSECTOR = BacnetDissector
