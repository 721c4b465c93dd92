"""IEC 61850: MMS (ISO 9506 over TPKT/COTP/session/presentation/ACSE, TCP 102), GOOSE and SV (layer 2).

MMS shares TCP 102 with S7comm, so ``Mms`` registers no port: it claims a flow by ``sniff`` (a COTP DT
payload that is an ISO session SPDU or a bare MMS PDU, never S7's 0x32 / S7+'s 0x72). Function keys
follow the corpus truth (tshark): ``confirmed/<service number>``, ``confirmed_resp/<n>``,
``unconfirmed/<n>``, ``pdu/<MMSpdu choice>``; a PDU whose service element is missing keys without it.
GOOSE and SV count one ``pdu`` per frame; a GOOSE stNum increment is a state change (event "control").
"""

from __future__ import annotations

from icsaudit.passive.protocols.base import MAX_BUFFER, Dissector
from icsaudit.passive.protocols.ber import (
    APPLICATION,
    CONSTRUCTED,
    CONTEXT,
    UNIVERSAL,
    BerError,
    children,
    find,
    read_tlv,
    to_int,
    to_text,
    to_uint,
)

# -- MMS services as data -------------------------------------------------------------------------
# ConfirmedServiceRequest/Response CHOICE tag -> (tshark service name, operation category).
MMS_CONFIRMED: dict[int, tuple[str, str]] = {
    0: ("status", "diagnostic"),
    1: ("getNameList", "read"),
    2: ("identify", "identify"),
    3: ("rename", "write"),
    4: ("read", "read"),
    5: ("write", "write"),
    6: ("getVariableAccessAttributes", "read"),
    7: ("defineNamedVariable", "write"),
    8: ("defineScatteredAccess", "write"),
    9: ("getScatteredAccessAttributes", "read"),
    10: ("deleteVariableAccess", "write"),
    11: ("defineNamedVariableList", "write"),
    12: ("getNamedVariableListAttributes", "read"),
    13: ("deleteNamedVariableList", "write"),
    14: ("defineNamedType", "write"),
    15: ("getNamedTypeAttributes", "read"),
    16: ("deleteNamedType", "write"),
    17: ("input", "read"),
    18: ("output", "write"),
    19: ("takeControl", "control"),
    20: ("relinquishControl", "control"),
    21: ("defineSemaphore", "write"),
    22: ("deleteSemaphore", "write"),
    23: ("reportSemaphoreStatus", "read"),
    24: ("reportPoolSemaphoreStatus", "read"),
    25: ("reportSemaphoreEntryStatus", "read"),
    26: ("initiateDownloadSequence", "program"),
    27: ("downloadSegment", "program"),
    28: ("terminateDownloadSequence", "program"),
    29: ("initiateUploadSequence", "program"),
    30: ("uploadSegment", "program"),
    31: ("terminateUploadSequence", "program"),
    32: ("requestDomainDownload", "program"),
    33: ("requestDomainUpload", "program"),
    34: ("loadDomainContent", "program"),
    35: ("storeDomainContent", "program"),
    36: ("deleteDomain", "program"),
    37: ("getDomainAttributes", "read"),
    38: ("createProgramInvocation", "mode"),
    39: ("deleteProgramInvocation", "mode"),
    40: ("start", "mode"),
    41: ("stop", "mode"),
    42: ("resume", "mode"),
    43: ("reset", "mode"),
    44: ("kill", "mode"),
    45: ("getProgramInvocationAttributes", "read"),
    46: ("obtainFile", "program"),
    47: ("defineEventCondition", "write"),
    48: ("deleteEventCondition", "write"),
    49: ("getEventConditionAttributes", "read"),
    50: ("reportEventConditionStatus", "read"),
    51: ("alterEventConditionMonitoring", "write"),
    52: ("triggerEvent", "control"),
    53: ("defineEventAction", "write"),
    54: ("deleteEventAction", "write"),
    55: ("getEventActionAttributes", "read"),
    56: ("reportEventActionStatus", "read"),
    57: ("defineEventEnrollment", "write"),
    58: ("deleteEventEnrollment", "write"),
    59: ("alterEventEnrollment", "write"),
    60: ("reportEventEnrollmentStatus", "read"),
    61: ("getEventEnrollmentAttributes", "read"),
    62: ("acknowledgeEventNotification", "control"),
    63: ("getAlarmSummary", "read"),
    64: ("getAlarmEnrollmentSummary", "read"),
    65: ("readJournal", "read"),
    66: ("writeJournal", "write"),
    67: ("initializeJournal", "write"),
    68: ("reportJournalStatus", "read"),
    69: ("createJournal", "write"),
    70: ("deleteJournal", "write"),
    71: ("getCapabilityList", "read"),
    72: ("fileOpen", "read"),
    73: ("fileRead", "read"),
    74: ("fileClose", "read"),
    75: ("fileRename", "program"),
    76: ("fileDelete", "program"),
    77: ("fileDirectory", "read"),
}
# UnconfirmedService CHOICE tag -> (name, category): reports pushed by the server.
MMS_UNCONFIRMED: dict[int, tuple[str, str]] = {
    0: ("informationReport", "read"),
    1: ("unsolicitedStatus", "diagnostic"),
    2: ("eventNotification", "other"),
}
# MMSpdu CHOICE tag -> (tshark element name, category, is a request, is an error reply).
MMS_PDUS: dict[int, tuple[str, str, bool, bool]] = {
    0: ("confirmed_RequestPDU", "other", True, False),
    1: ("confirmed_ResponsePDU", "other", False, False),
    2: ("confirmed_ErrorPDU", "other", False, True),
    3: ("unconfirmed_PDU", "other", False, False),
    4: ("rejectPDU", "other", False, True),
    5: ("cancel_RequestPDU", "other", True, False),
    6: ("cancel_ResponsePDU", "other", False, False),
    7: ("cancel_ErrorPDU", "other", False, True),
    8: ("initiate_RequestPDU", "other", True, False),
    9: ("initiate_ResponsePDU", "other", False, False),
    10: ("initiate_ErrorPDU", "other", False, True),
    11: ("conclude_RequestPDU", "other", True, False),
    12: ("conclude_ResponsePDU", "other", False, False),
    13: ("conclude_ErrorPDU", "other", False, True),
}
# Categories whose requests are kept as single events (kind = category).
EVENT_CATEGORIES = frozenset({"write", "control", "program", "mode", "firmware"})
# IEC 61850-8-1 functional constraint (2nd "$" component of an item id) -> category of a write to it.
FC_WRITE_CATEGORY: dict[str, str] = {
    "CO": "control",
    "SP": "control",
    "SE": "write",
    "SG": "write",
    "CF": "write",
}
# ACSE mechanism-name OIDs (encoded) -> authentication name.
ACSE_MECHANISMS: dict[bytes, str] = {b"\x52\x03\x01": "password", b"\x52\x03\x02": "strong"}

MAX_OBJECT_NAMES = 8  # object names kept per event
ISO_SESSION_TYPES = frozenset({0x01, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x0E, 0x19, 0x1A})
S7_PROTOCOL_IDS = (0x32, 0x72)


def _cotp_dt_payload(data: bytes) -> bytes | None:
    """The user data of the first TPKT + COTP DT TPDU in ``data`` (skipping CR/CC ...), else None."""
    off, size = 0, len(data)
    while size - off >= 7 and data[off] == 3 and data[off + 1] == 0:
        length = (data[off + 2] << 8) | data[off + 3]
        li = data[off + 4]
        if length < 7 or li < 2:
            return None
        if data[off + 5] & 0xF0 == 0xF0:
            start = off + 5 + li
            return data[start : off + length] if start < size else None
        off += length
    return None


def _bare_mms(data: bytes, start: int = 0) -> bool:
    """tshark's MMS-over-COTP heuristic: context-class tag 0..13 with a non-zero, fitting length."""
    if len(data) - start < 2:
        return False
    ident = data[start]
    if ident & 0xC0 != CONTEXT or (ident & 0x1F) > 13 or not data[start + 1] & 0x7F:
        return False
    try:
        read_tlv(data, start, len(data))
    except BerError:
        return False
    return True


def _names(buf: bytes, start: int, end: int, out: list[str], depth: int = 0) -> None:
    """Collect object names (Identifiers; domain-specific as "domain/item") inside a service element."""
    for bits, number, vstart, vend in children(buf, start, end):
        if len(out) >= MAX_OBJECT_NAMES:
            return
        if bits & CONSTRUCTED:
            parts = list(children(buf, vstart, vend))
            if (
                bits == CONTEXT | CONSTRUCTED
                and number == 1
                and len(parts) == 2
                and all(p[0] == UNIVERSAL and p[1] == 26 for p in parts)
            ):
                out.append(
                    f"{to_text(buf, parts[0][2], parts[0][3])}/{to_text(buf, parts[1][2], parts[1][3])}"
                )
            elif depth < 6:
                _names(buf, vstart, vend, out, depth + 1)
        elif (bits == UNIVERSAL and number == 26) or (
            bits == CONTEXT
            and vend > vstart
            and vend - vstart <= 129
            and buf[vstart:vend].isascii()
            and buf[vstart] >= 0x20
        ):
            text = to_text(buf, vstart, vend)
            if text and text.isprintable():
                out.append(text)


def _write_category(names: list[str]) -> tuple[str, str]:
    """Category of a write from the IEC 61850 functional constraint of its variables, and the operation."""
    for name in names:
        parts = name.split("$")
        if len(parts) >= 3:
            category = FC_WRITE_CATEGORY.get(parts[1])
            if category == "control":
                return category, parts[-1]  # Oper, SBOw, Cancel, or the setpoint attribute
    return "write", ""


class Mms(Dissector):
    name = "mms"
    server_ports = frozenset({102})  # no tcp_ports: port 102 belongs to s7comm, MMS is claimed by sniff
    sniff_priority = 40  # before generic sniffers; the check below never claims S7/S7+ payloads

    def __init__(self, session) -> None:
        super().__init__(session)
        self._tpkt = [b"", b""]  # unparsed stream bytes per direction (client, server)
        self._tsdu = [b"", b""]  # COTP DT user data waiting for the end-of-TSDU mark

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:  # noqa: ARG003
        payload = _cotp_dt_payload(data)
        if not payload or payload[0] in S7_PROTOCOL_IDS:
            return False
        if payload[0] in ISO_SESSION_TYPES and len(payload) >= 2:
            return True
        return _bare_mms(payload)

    # -- TPKT / COTP ----------------------------------------------------------------------------
    def on_tcp(self, data: bytes, from_client: bool) -> None:
        index = 0 if from_client else 1
        buf = self._tpkt[index] + data if self._tpkt[index] else bytes(data)
        off, size = 0, len(buf)
        while size - off >= 4:
            length = (buf[off + 2] << 8) | buf[off + 3]
            if buf[off] != 3 or buf[off + 1] != 0 or length < 5:
                # Lost sync: resume at the next plausible TPKT header.
                self.session.error("TPKT: bad header, resynchronizing")
                nxt = buf.find(b"\x03\x00", off + 1)
                off = nxt if nxt >= 0 else size - (1 if buf[-1] == 3 else 0)
                continue
            if size - off < length:
                break
            self._tpdu(buf[off + 4 : off + length], index)
            off += length
        rest = buf[off:]
        if len(rest) > MAX_BUFFER:
            self.session.error("TPKT: oversized PDU dropped")
            rest = b""
        self._tpkt[index] = rest

    def on_gap(self, from_client: bool) -> None:
        index = 0 if from_client else 1
        self._tpkt[index] = b""
        self._tsdu[index] = b""

    def _tpdu(self, tpdu: bytes, index: int) -> None:
        if len(tpdu) < 2 or tpdu[0] == 0 or tpdu[0] + 1 > len(tpdu):
            self.session.error("COTP: bad length indicator")
            return
        li = tpdu[0]
        if tpdu[1] & 0xF0 != 0xF0:
            return  # CR, CC, DR, DC, AK ...: connection management, no MMS inside
        if li < 2:
            self.session.error("COTP: DT TPDU too short")
            return
        eot = tpdu[2 if li == 2 else min(li, 4)] & 0x80
        data = self._tsdu[index] + tpdu[1 + li :] if self._tsdu[index] else tpdu[1 + li :]
        if not eot:
            if len(data) > MAX_BUFFER:
                self.session.error("COTP: TSDU too long, dropped")
                data = b""
            self._tsdu[index] = data
            return
        self._tsdu[index] = b""
        if data:
            try:
                self._spdu(data)
            except BerError as exc:
                self.session.error(f"MMS: malformed BER: {exc}")

    # -- ISO 8327 session ---------------------------------------------------------------------------
    def _spdu(self, data: bytes) -> None:
        si = data[0]
        if si not in ISO_SESSION_TYPES:
            if _bare_mms(data):  # MMS straight over COTP (no session/presentation), as tshark allows
                self._mms(data, 0, len(data))
            return
        off, size = 0, len(data)
        header = self._spdu_header(data, off)
        if header is None:
            return
        params, off = header
        if si == 0x01:
            # Give Tokens (category 0) concatenated with Data Transfer: user data follows the DT header.
            if off < size and data[off] == 0x01:
                header = self._spdu_header(data, off)
                if header is None:
                    return
                _, off = header
            if off < size:
                self._ppdu(data, off, size)
            return
        # CN, AC, FN, DN, AB ...: user data is the Session User Data parameter (193, or 194 extended).
        for start, end in self._user_data_params(data, params[0], params[1]):
            self._ppdu(data, start, end)

    def _spdu_header(self, data: bytes, off: int) -> tuple[tuple[int, int], int] | None:
        """((parameters start, end), offset after the SPDU header) of the SPDU at ``off``."""
        if off + 2 > len(data):
            self.session.error("session: truncated SPDU header")
            return None
        length, start = data[off + 1], off + 2
        if length == 0xFF:
            if off + 4 > len(data):
                self.session.error("session: truncated SPDU length")
                return None
            length, start = (data[off + 2] << 8) | data[off + 3], off + 4
        if start + length > len(data):
            self.session.error("session: SPDU parameters overrun the TSDU")
            return None
        return (start, start + length), start + length

    def _user_data_params(self, data: bytes, start: int, end: int) -> list[tuple[int, int]]:
        found = []
        off = start
        while off + 2 <= end:
            code, length, value = data[off], data[off + 1], off + 2
            if length == 0xFF:
                if off + 4 > end:
                    break
                length, value = (data[off + 2] << 8) | data[off + 3], off + 4
            if value + length > end:
                self.session.error("session: parameter overruns the SPDU")
                break
            if code in (0xC1, 0xC2) and length:
                found.append((value, value + length))
            off = value + length
        return found

    # -- ISO 8823 presentation and ACSE -------------------------------------------------------------
    def _ppdu(self, data: bytes, start: int, end: int) -> None:
        bits, number, vstart, vend = read_tlv(data, start, end)
        if bits == UNIVERSAL | CONSTRUCTED and number == 17:  # CP-type / CPA-type SET
            normal = find(data, vstart, vend, CONTEXT | CONSTRUCTED, 2)
            if normal is not None:
                user = find(data, normal[0], normal[1], APPLICATION | CONSTRUCTED, 1)
                if user is not None:
                    self._pdv_list(data, *user)
        elif bits == APPLICATION | CONSTRUCTED and number == 1:  # P-DATA: fully-encoded user data
            self._pdv_list(data, vstart, vend)

    def _pdv_list(self, data: bytes, start: int, end: int) -> None:
        for bits, number, vstart, vend in children(data, start, end):
            if bits != UNIVERSAL | CONSTRUCTED or number != 16:
                continue
            for pbits, pnumber, pstart, pend in children(data, vstart, vend):
                if pbits & CONTEXT and pnumber in (0, 1):  # single-ASN1-type or octet-aligned
                    self._user_pdu(data, pstart, pend)

    def _user_pdu(self, data: bytes, start: int, end: int) -> None:
        if start >= end:
            return
        if data[start] & 0xC0 == APPLICATION:
            self._acse(data, start, end)
        else:
            self._mms(data, start, end)

    def _acse(self, data: bytes, start: int, end: int) -> None:
        _, number, vstart, vend = read_tlv(data, start, end)
        mechanism = ""
        for bits, tag, fstart, fend in children(data, vstart, vend):
            if number == 0 and bits == CONTEXT and tag == 11:  # AARQ mechanism-name
                mechanism = ACSE_MECHANISMS.get(data[fstart:fend], data[fstart:fend].hex())
            elif number == 0 and bits == CONTEXT | CONSTRUCTED and tag == 12:  # calling-authentication-value
                self._authentication(data, fstart, fend, mechanism)
                mechanism = mechanism or "unknown"
            elif bits == CONTEXT | CONSTRUCTED and tag == 30:  # user-information: EXTERNALs
                for xbits, xtag, xstart, xend in children(data, fstart, fend):
                    if xbits == UNIVERSAL | CONSTRUCTED and xtag == 8:
                        for ebits, etag, estart, eend in children(data, xstart, xend):
                            if ebits & CONTEXT and etag in (0, 1):
                                self._mms(data, estart, eend)
        if number == 0:
            self.session.service(details={"acse_authentication": mechanism or "none"})

    def _authentication(self, data: bytes, start: int, end: int, mechanism: str) -> None:
        for bits, tag, vstart, vend in children(data, start, end):
            if bits == CONTEXT and tag == 0:  # charstring: a password in clear
                self.session.credential("mms-acse-password", secret=data[vstart:vend])
            else:
                self.session.credential(f"mms-acse-{mechanism or 'authentication'}", secret=data[vstart:vend])
            return

    # -- MMS ------------------------------------------------------------------------------------
    def _mms(self, data: bytes, start: int, end: int) -> None:
        for bits, number, vstart, vend in children(data, start, end):
            if bits & 0xC0 != CONTEXT or number not in MMS_PDUS:
                self.session.error(f"MMS: unknown PDU tag {number}")
                return
            self._mms_pdu(data, number, bits, vstart, vend)

    def _mms_pdu(self, data: bytes, number: int, bits: int, start: int, end: int) -> None:
        session = self.session
        pdu_name, category, is_request, is_error = MMS_PDUS[number]
        if number in (0, 1, 3) and bits & CONSTRUCTED:
            invoke_id = None
            service = None
            for fbits, tag, fstart, fend in children(data, start, end):
                if fbits == UNIVERSAL and tag == 2 and invoke_id is None:
                    invoke_id = to_uint(data, fstart, fend)
                elif fbits & 0xC0 == CONTEXT:
                    service = (tag, fbits, fstart, fend)
                    break
            prefix = ("confirmed", "confirmed_resp", "unconfirmed")[
                0 if number == 0 else 1 if number == 1 else 2
            ]
            table = MMS_UNCONFIRMED if number == 3 else MMS_CONFIRMED
            if service is None or service[0] not in table:
                session.pdu(prefix, category, request=is_request)
                return
            tag, fbits, fstart, fend = service
            service_name, category = table[tag]
            key = f"{prefix}/{tag}"
            if number == 0:
                self._request(data, key, tag, service_name, category, fbits, fstart, fend, invoke_id)
            else:
                session.pdu(key, category, request=False)
                if number == 1 and tag == 2:
                    self._identify_response(data, fstart, fend)
            return
        session.pdu(f"pdu/{pdu_name}", category, request=is_request, exception=is_error)
        if number == 9 and bits & CONSTRUCTED:
            detail = find(data, start, end, CONTEXT | CONSTRUCTED, 4)  # mmsInitResponseDetail
            version = find(data, detail[0], detail[1], CONTEXT, 0) if detail else None
            if version is not None:
                session.service(details={"mms_version": to_int(data, *version)})

    def _request(
        self,
        data: bytes,
        key: str,
        tag: int,
        service_name: str,
        category: str,
        bits: int,
        start: int,
        end: int,
        invoke_id: int | None,
    ) -> None:
        names: list[str] = []
        operation = ""
        if bits & CONSTRUCTED:
            if tag == 5:  # write: variable names are in the first element (variableAccessSpecification)
                spec = next(children(data, start, end), None)
                if spec is not None and spec[0] & CONSTRUCTED:
                    _names(data, spec[2], spec[3], names)
                category, operation = _write_category(names)
            elif category in EVENT_CATEGORIES:
                _names(data, start, end, names)
        elif category in EVENT_CATEGORIES:
            text = to_text(data, start, end)  # a bare Identifier (deleteDomain) or an integer id
            if text.isprintable() and text:
                names.append(text)
        self.session.pdu(key, category, request=True)
        if category in EVENT_CATEGORIES:
            detail: dict = {"service": service_name, "invoke_id": invoke_id, "objects": names}
            if operation:
                detail["operation"] = operation
            self.session.event(category, category, key, detail)

    def _identify_response(self, data: bytes, start: int, end: int) -> None:
        values = {}
        for bits, tag, vstart, vend in children(data, start, end):
            if bits == CONTEXT and tag in (0, 1, 2):
                values[("vendor_name", "model_name", "revision")[tag]] = to_text(data, vstart, vend)
        if not values:
            return
        session = self.session
        session.identity(
            {"src": session.src_ip, **values},
            {
                "vendor": values.get("vendor_name"),
                "model": values.get("model_name"),
                "firmware": values.get("revision"),
                "device_type": "ied",
            },
        )
        banner = " ".join(
            v for v in (values.get("vendor_name"), values.get("model_name"), values.get("revision")) if v
        )
        session.service(banner=banner)


# -- GOOSE and SV (layer 2) ---------------------------------------------------------------------------
MAX_TRACKED = 1024  # GOOSE control blocks / SV streams remembered per publisher session


def _apdu(session, data: bytes, expected_tag: int) -> tuple[int, int, int] | None:
    """(APPID, APDU value start, end) of a GOOSE/SV frame: APPID, Length, Reserved1, Reserved2, APDU."""
    if len(data) < 10:
        session.error("frame shorter than the IEC 61850-8-1 header")
        return None
    appid = (data[0] << 8) | data[1]
    length = (data[2] << 8) | data[3]
    end = min(len(data), length) if length >= 8 else len(data)  # Ethernet padding beyond Length
    bits, number, vstart, vend = read_tlv(data, 8, end)
    if bits != APPLICATION | CONSTRUCTED or number != expected_tag:
        session.error(f"unexpected APDU tag 0x{data[8]:02x}")
        return None
    return appid, vstart, vend


class Goose(Dissector):
    name = "goose"
    ethertypes = frozenset({0x88B8})

    def __init__(self, session) -> None:
        super().__init__(session)
        self._st_num: dict[str, int] = {}  # gocbRef -> last stNum
        self._simulated: set[str] = set()

    def on_frame(self, data: bytes) -> None:
        session = self.session
        try:
            header = _apdu(session, data, 1)
        except BerError as exc:
            session.error(f"GOOSE: malformed APDU: {exc}")
            return
        if header is None:
            return
        appid, start, end = header
        session.pdu("pdu", "other")
        fields: dict[int, tuple[int, int]] = {}
        try:
            for bits, tag, vstart, vend in children(data, start, end):
                if bits == CONTEXT:
                    fields[tag] = (vstart, vend)
        except BerError as exc:
            session.error(f"GOOSE: malformed APDU: {exc}")
        if 0 not in fields or 5 not in fields:
            return
        gocb_ref = to_text(data, *fields[0])
        st_num = to_uint(data, *fields[5])
        sq_num = to_uint(data, *fields[6]) if 6 in fields else None
        simulation = bool(data[fields[7][0]]) if 7 in fields and fields[7][1] > fields[7][0] else False
        simulation = simulation or bool(data[4] & 0x80)  # Reserved1 bit 15: simulation (Ed. 2)
        previous = self._st_num.get(gocb_ref)
        if previous is None:
            if len(self._st_num) >= MAX_TRACKED:
                return
            go_id = to_text(data, *fields[3]) if 3 in fields else ""
            session.identity(
                None,
                {"device_type": "ied", "goose_gocb_ref": gocb_ref, "goose_id": go_id},
                ip="",
                mac=session.src_mac,
            )
        elif st_num > previous or (previous == 0xFFFFFFFF and st_num == 1):
            detail = {
                "gocb_ref": gocb_ref,
                "appid": appid,
                "st_num": st_num,
                "previous_st_num": previous,
                "sq_num": sq_num,
            }
            if 2 in fields:
                detail["dat_set"] = to_text(data, *fields[2])
            session.event("control", "control", "pdu", detail)
        self._st_num[gocb_ref] = st_num
        if simulation and gocb_ref not in self._simulated and len(self._simulated) < MAX_TRACKED:
            self._simulated.add(gocb_ref)
            session.event("goose-simulation", "other", "pdu", {"gocb_ref": gocb_ref, "appid": appid})


class Sv(Dissector):
    name = "sv"
    ethertypes = frozenset({0x88BA})

    def __init__(self, session) -> None:
        super().__init__(session)
        self._streams: set[str] = set()

    def on_frame(self, data: bytes) -> None:
        session = self.session
        try:
            header = _apdu(session, data, 0)
            if header is None:
                return
            appid, start, end = header
            session.pdu("pdu", "other")
            asdus = find(data, start, end, CONTEXT | CONSTRUCTED, 2)  # seqASDU
            if asdus is None:
                return
            first = next(children(data, asdus[0], asdus[1]), None)
            if first is None:
                return
            sv_id = find(data, first[2], first[3], CONTEXT, 0)
            if sv_id is None:
                return
            name = to_text(data, *sv_id)
            if name in self._streams or len(self._streams) >= MAX_TRACKED:
                return
            self._streams.add(name)
            synch = find(data, first[2], first[3], CONTEXT, 5)
            fields = {"device_type": "merging-unit", "sv_id": name, "sv_appid": f"0x{appid:04x}"}
            if synch is not None:
                fields["sv_smp_synch"] = str(to_uint(data, *synch))
            session.identity(None, fields, ip="", mac=session.src_mac)
        except BerError as exc:
            session.error(f"SV: malformed APDU: {exc}")


DISSECTORS = [Mms, Goose, Sv]
