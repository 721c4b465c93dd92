"""BACnet/IP (UDP 47808-47823): BVLC, NPDU routing and network-layer messages, APDU services.

One ``pdu()`` per APDU, else per NPDU (network-layer message), else per BVLC message, keyed as tshark
does: ``confirmed/<service>``, ``unconfirmed/<service>``, ``apdu/<type>``, ``nl/<message type>``,
``bvlc/0x<function>``. Device identities come from I-Am and from ReadProperty(-Multiple) acks of
the device object; they are merged per (sender, device instance) as the corpus truth is.
"""

from __future__ import annotations

import struct
import weakref
from typing import Any

from icsaudit.passive.protocols.base import Dissector

PORTS = frozenset(range(47808, 47824))
BVLC_TYPE = 0x81
MAX_IDENTITIES = 4096  # merged device identities kept per analysis

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


class BacnetDissector(Dissector):
    name = "bacnet"
    udp_ports = PORTS
    sniff_priority = 60

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
            self._apdu(data, pos, origin)
        except (Malformed, IndexError):
            session.error("bacnet: malformed APDU")

    # -- application layer -------------------------------------------------------------------
    def _apdu(self, data: bytes, pos: int, origin: str | None) -> None:
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
            session.pdu(f"confirmed/{service}", category, request=True)
            if not segmented or data[pos + 3] == 0:  # a later segment does not start the service data
                self._confirmed(service, category, data, pos + header)
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
                segmented = data[pos] & 0x08
                header = 5 if segmented else 3
                if pos + header <= len(data) and (not segmented or data[pos + 2] == 0):
                    self._complex_ack(data[pos + header - 1], data, pos + header, origin)
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
