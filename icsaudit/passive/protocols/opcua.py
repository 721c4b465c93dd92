"""OPC UA binary (UA TCP, port 4840): message chunks, secure channel headers, service node ids.

Keys follow tshark: the numeric node id of a decoded message body (``631`` ReadRequest) for
MSG/OPN/CLO, else the transport type (HEL, ACK, ERR, RHE, or MSG/OPN/CLO when the body does not
decode: encrypted, intermediate or aborted chunks). Like tshark, the body's type id is read whatever
the channel's security policy; only its service contents are trusted from a channel known to be
unencrypted (security policy None) or a body whose type id decodes.
"""

from __future__ import annotations

import struct
from typing import Any
from urllib.parse import urlparse

from icsaudit.passive.protocols.base import Dissector, StreamBuffer

MESSAGE_TYPES = frozenset({b"HEL", b"ACK", b"ERR", b"RHE", b"OPN", b"MSG", b"CLO"})
SECURE_TYPES = frozenset({b"OPN", b"MSG", b"CLO"})
CHUNK_TYPES = frozenset({0x46, 0x43, 0x41})  # F (final), C (intermediate), A (abort)
MAX_PENDING_CHUNKS = 64  # intermediate chunks held per direction
MAX_MESSAGE = 1 << 20  # reassembled message bound
MAX_ITEMS = 16  # array elements walked in one service body
POLICY_NONE = "http://opcfoundation.org/UA/SecurityPolicy#None"

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")

# Binary encoding id of each request; its response is the id + 3.
REQUESTS: dict[int, tuple[str, str]] = {
    422: ("FindServers", "identify"),
    12208: ("FindServersOnNetwork", "identify"),
    428: ("GetEndpoints", "identify"),
    437: ("RegisterServer", "other"),
    12211: ("RegisterServer2", "other"),
    446: ("OpenSecureChannel", "auth"),
    452: ("CloseSecureChannel", "other"),
    461: ("CreateSession", "auth"),
    467: ("ActivateSession", "auth"),
    473: ("CloseSession", "auth"),
    479: ("Cancel", "other"),
    488: ("AddNodes", "program"),
    494: ("AddReferences", "program"),
    500: ("DeleteNodes", "program"),
    506: ("DeleteReferences", "program"),
    527: ("Browse", "read"),
    533: ("BrowseNext", "read"),
    554: ("TranslateBrowsePathsToNodeIds", "read"),
    560: ("RegisterNodes", "read"),
    566: ("UnregisterNodes", "read"),
    615: ("QueryFirst", "read"),
    621: ("QueryNext", "read"),
    631: ("Read", "read"),
    664: ("HistoryRead", "read"),
    673: ("Write", "write"),
    700: ("HistoryUpdate", "write"),
    712: ("Call", "control"),
    751: ("CreateMonitoredItems", "read"),
    763: ("ModifyMonitoredItems", "read"),
    769: ("SetMonitoringMode", "read"),
    775: ("SetTriggering", "read"),
    781: ("DeleteMonitoredItems", "read"),
    787: ("CreateSubscription", "read"),
    793: ("ModifySubscription", "read"),
    799: ("SetPublishingMode", "read"),
    826: ("Publish", "read"),
    832: ("Republish", "read"),
    841: ("TransferSubscriptions", "read"),
    847: ("DeleteSubscriptions", "read"),
}
RESPONSES: dict[int, tuple[str, str]] = {
    rid + 3: (name, category) for rid, (name, category) in REQUESTS.items()
}
SERVICE_FAULT = 397

# Requests kept as individual events, and under which kind.
EVENT_KINDS: dict[int, str] = {
    673: "write",
    700: "write",
    712: "control",
    488: "program",
    494: "program",
    500: "program",
    506: "program",
}

# ActivateSession user identity token (ExtensionObject binary encoding id) -> token type.
IDENTITY_TOKENS: dict[int, str] = {321: "anonymous", 324: "username", 327: "x509", 940: "issued"}
USER_TOKEN_TYPES: dict[int, str] = {0: "anonymous", 1: "username", 2: "x509", 3: "issued"}
SECURITY_MODES: dict[int, str] = {1: "None", 2: "Sign", 3: "SignAndEncrypt"}


class Truncated(Exception):
    """A body ended before the field being read (caught per message: never escapes the dissector)."""


class Reader:
    """Cursor over a UA binary body; raises Truncated when a field runs past the end."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise Truncated
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "little")

    def u32(self) -> int:
        return _U32.unpack(self.take(4))[0]

    def i32(self) -> int:
        return _I32.unpack(self.take(4))[0]

    def byte_string(self) -> bytes | None:
        length = self.i32()
        return None if length < 0 else self.take(length)

    def string(self) -> str | None:
        raw = self.byte_string()
        return None if raw is None else raw.decode("utf-8", "replace")

    def skip_strings(self) -> None:
        for _ in range(max(0, self.i32())):
            self.byte_string()

    def node_id(self) -> tuple[int | None, str]:
        """(numeric id in namespace 0 or None, text form) of a NodeId / ExpandedNodeId."""
        mask = self.u8()
        kind = mask & 0x0F
        if kind == 0:
            namespace, ident = 0, self.u8()
        elif kind == 1:
            namespace, ident = self.u8(), self.u16()
        elif kind == 2:
            namespace, ident = self.u16(), self.u32()
        elif kind in (3, 5):
            namespace = self.u16()
            raw = self.byte_string() or b""
            text = f"ns={namespace};{'s' if kind == 3 else 'b'}={raw[:64].decode('utf-8', 'replace')}"
            self._expanded(mask)
            return None, text
        elif kind == 4:
            namespace = self.u16()
            text = f"ns={namespace};g={self.take(16).hex()}"
            self._expanded(mask)
            return None, text
        else:
            raise Truncated
        self._expanded(mask)
        return (ident if namespace == 0 else None), (
            f"i={ident}" if namespace == 0 else f"ns={namespace};i={ident}"
        )

    def _expanded(self, mask: int) -> None:
        if mask & 0x80:
            self.byte_string()  # namespace URI
        if mask & 0x40:
            self.u32()  # server index

    def localized_text(self) -> str | None:
        mask = self.u8()
        if mask & 1:
            self.byte_string()
        return self.string() if mask & 2 else None

    def extension_object(self) -> tuple[int | None, bytes]:
        type_id, _ = self.node_id()
        encoding = self.u8()
        body = self.byte_string() if encoding in (1, 2) else None
        return type_id, body or b""

    def diagnostic_info(self, depth: int = 0) -> None:
        mask = self.u8()
        for bit in (0x01, 0x02, 0x08, 0x04):  # symbolic id, namespace, locale, localized text
            if mask & bit:
                self.i32()
        if mask & 0x10:
            self.byte_string()
        if mask & 0x20:
            self.u32()
        if mask & 0x40 and depth < 8:
            self.diagnostic_info(depth + 1)

    def request_header(self) -> None:
        self.node_id()  # authentication token
        self.take(8 + 4 + 4)  # timestamp, request handle, return diagnostics
        self.byte_string()  # audit entry id
        self.u32()  # timeout hint
        self.extension_object()

    def response_header(self) -> int:
        self.take(8 + 4)  # timestamp, request handle
        status = self.u32()
        self.diagnostic_info()
        self.skip_strings()
        self.extension_object()
        return status


def type_id_of(body: bytes) -> int | None:
    """The numeric type id of a message body, as tshark decodes it (two-byte, four-byte, numeric)."""
    if not body:
        return None
    mask = body[0] & 0x3F
    if mask == 0 and len(body) >= 2:
        return body[1]
    if mask == 1 and len(body) >= 4:
        return body[2] | (body[3] << 8)
    if mask == 2 and len(body) >= 7:
        return _U32.unpack_from(body, 3)[0]
    return None


# Interned keys: transport types, and the service node ids already seen (module-wide, bounded).
_TRANSPORT_KEYS = {message_type: message_type.decode() for message_type in MESSAGE_TYPES}
_SERVICE_KEYS: dict[int, str] = {}
MAX_SERVICE_KEYS = 4096


def chunk_length(buf: bytes) -> int | None:
    if len(buf) < 8:
        return None
    if buf[:3] not in MESSAGE_TYPES:
        return 0
    size = _U32.unpack_from(buf, 4)[0]
    return size if size >= 8 else 0


def vendor_from_uri(uri: str) -> str:
    """The host part of a product URI (http://open62541.org, urn:freeopcua.github.io:python:server)."""
    if uri.startswith("urn:"):
        return uri[4:].split(":", 1)[0]
    return urlparse(uri).hostname or ""


class _Direction:
    __slots__ = ("stream", "pending", "pending_size")

    def __init__(self) -> None:
        self.stream = StreamBuffer()
        self.pending: dict[int, list[bytes]] = {}  # request id -> bodies of intermediate chunks
        self.pending_size = 0


class OpcUaDissector(Dissector):
    name = "opcua"
    tcp_ports = frozenset({4840})
    sniff_priority = 50

    def __init__(self, session) -> None:
        super().__init__(session)
        self.dirs = (_Direction(), _Direction())
        self.policy = ""  # security policy of the current secure channel

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:  # noqa: ARG003
        return (
            len(data) >= 8
            and data[:3] in MESSAGE_TYPES
            and data[3] in CHUNK_TYPES
            and 8 <= _U32.unpack_from(data, 4)[0] <= 1 << 24
        )

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        direction = self.dirs[0 if from_client else 1]
        stream = direction.stream
        if not stream.buf:
            # Fast path: nothing buffered, so whole chunks are taken in place from the segment
            # (usually exactly one); only a partial or bad remainder goes through the stream buffer.
            off, size = 0, len(data)
            while size - off >= 8 and data[off : off + 3] in MESSAGE_TYPES:
                length = _U32.unpack_from(data, off + 4)[0]
                end = off + length
                if length < 8 or end > size:
                    break
                self._chunk(data if end == size and not off else data[off:end], direction)
                off = end
            if off == size:
                return
            if off:
                data = data[off:]
        dropped = stream.dropped
        for chunk in stream.feed(data, chunk_length):
            self._chunk(chunk, direction)
        if stream.dropped != dropped:
            self.session.error("opcua: bytes without a UA TCP message header dropped")

    def on_gap(self, from_client: bool) -> None:
        direction = self.dirs[0 if from_client else 1]
        direction.stream.reset()
        direction.pending.clear()
        direction.pending_size = 0

    # -- chunks ------------------------------------------------------------------------------
    def _chunk(self, chunk: bytes, direction: _Direction) -> None:
        session = self.session
        message_type = chunk[:3]
        transport = _TRANSPORT_KEYS.get(message_type) or message_type.decode()
        if message_type not in SECURE_TYPES:
            session.pdu(transport, "other", request=message_type == b"HEL")
            if message_type == b"HEL":
                self._hello(chunk)
            elif message_type == b"ERR" and len(chunk) >= 12:
                session.service(details={"transport_error": f"0x{_U32.unpack_from(chunk, 8)[0]:08x}"})
            return
        try:
            body, request_id = self._secure_body(chunk, message_type)
        except Truncated:
            session.pdu(transport, "other", request=False)
            session.error(f"opcua: truncated {transport} security header")
            return
        chunk_type = chunk[3]
        if chunk_type == 0x43:  # intermediate: held until the final chunk of the same request
            if (
                len(direction.pending) < MAX_PENDING_CHUNKS
                and direction.pending_size + len(body) <= MAX_MESSAGE
            ):
                direction.pending.setdefault(request_id, []).append(body)
                direction.pending_size += len(body)
            session.pdu(transport, "other", request=False)
            return
        parts = direction.pending.pop(request_id, None)
        if parts:
            direction.pending_size -= sum(len(p) for p in parts)
        if chunk_type == 0x41:  # abort: the parts are dropped
            session.pdu(transport, "other", request=False)
            return
        if parts:
            body = b"".join(parts) + body
        service = type_id_of(body)
        if service is None:
            session.pdu(transport, "other", request=False)
            return
        self._service(service, body)

    def _secure_body(self, chunk: bytes, message_type: bytes) -> tuple[bytes, int]:
        if message_type != b"OPN":  # MSG/CLO: fixed channel id, token id, sequence number, request id
            if len(chunk) < 24:
                raise Truncated
            return chunk[24:], _U32.unpack_from(chunk, 20)[0]
        reader = Reader(chunk, 8)
        reader.u32()  # secure channel id
        if message_type == b"OPN":
            policy = reader.string() or ""
            certificate = reader.byte_string()
            reader.byte_string()  # receiver certificate thumbprint
            self.policy = policy
            details: dict[str, Any] = {"security_policy": policy.rsplit("#", 1)[-1] or policy}
            details[
                "secure_channel_none_seen" if policy == POLICY_NONE else "secure_channel_secured_seen"
            ] = True
            if certificate:
                details["sender_certificate_seen"] = True
            self.session.service(details=details)
        reader.u32()  # sequence number
        request_id = reader.u32()
        return chunk[reader.pos :], request_id

    def _hello(self, chunk: bytes) -> None:
        reader = Reader(chunk, 8 + 20)
        try:
            url = reader.string()
        except Truncated:
            return
        if url:
            self.session.service(banner=url[:256])

    # -- services ----------------------------------------------------------------------------
    def _service(self, service: int, body: bytes) -> None:
        session = self.session
        key = _SERVICE_KEYS.get(service)
        if key is None:
            key = str(service)
            if len(_SERVICE_KEYS) < MAX_SERVICE_KEYS:
                _SERVICE_KEYS[service] = key
        if service in REQUESTS:
            name, category = REQUESTS[service]
            session.pdu(key, category, request=True)
        elif service in RESPONSES:
            name, category = RESPONSES[service]
            session.pdu(key, category, request=False, exception=service == SERVICE_FAULT)
        else:
            name, category = "", "other"
            session.pdu(key, category, request=False, exception=service == SERVICE_FAULT)
        handler = self.HANDLERS.get(service)
        if handler is None:
            return
        reader = Reader(body)
        try:
            reader.node_id()
            handler(self, reader)
        except Truncated:
            session.error(f"opcua: truncated {name or key} body")

    def _open_request(self, reader: Reader) -> None:
        reader.request_header()
        reader.take(8)  # client protocol version, request type
        mode = SECURITY_MODES.get(reader.u32(), "Invalid")
        self.session.service(details={"security_mode": mode, f"security_mode_{mode.lower()}_seen": True})

    def _endpoints_response(self, reader: Reader) -> None:
        session = self.session
        reader.response_header()
        modes: set[str] = set()
        policies: set[str] = set()
        token_types: set[str] = set()
        for _ in range(min(max(0, reader.i32()), 64)):
            raw: dict[str, Any] = {"src": session.src_ip}
            url = reader.string()
            application_uri = reader.string()
            product_uri = reader.string()
            application_name = reader.localized_text()
            reader.u32()  # application type
            reader.byte_string()  # gateway server uri
            reader.byte_string()  # discovery profile uri
            reader.skip_strings()  # discovery urls
            reader.byte_string()  # server certificate
            mode = reader.u32()
            policy = reader.string()
            for _ in range(max(0, reader.i32())):
                reader.byte_string()  # policy id
                token_types.add(USER_TOKEN_TYPES.get(reader.u32(), "unknown"))
                reader.byte_string()
                reader.byte_string()
                reader.byte_string()
            reader.byte_string()  # transport profile uri
            reader.u8()  # security level
            for field, value in (
                ("endpoint_url", url),
                ("application_uri", application_uri),
                ("product_uri", product_uri),
                ("application_name", application_name),
                ("security_mode", mode),
                ("security_policy_uri", policy),
            ):
                if value is not None:
                    raw[field] = value.strip(" \x00") if isinstance(value, str) else value
            modes.add(SECURITY_MODES.get(mode, str(mode)))
            if policy:
                policies.add(policy.rsplit("#", 1)[-1])
            session.identity(
                raw,
                {
                    "model": application_name,
                    "vendor": vendor_from_uri(product_uri or ""),
                    "name": application_uri,
                    "product_uri": product_uri,
                    "endpoint_url": url,
                },
            )
        if modes:
            session.service(
                details={
                    "endpoint_security_modes": sorted(modes),
                    "endpoint_security_policies": sorted(policies),
                    "endpoint_none_offered": "None" in modes,
                    "endpoint_user_token_types": sorted(token_types),
                }
            )

    def _activate_request(self, reader: Reader) -> None:
        session = self.session
        reader.request_header()
        reader.byte_string()  # client signature: algorithm
        reader.byte_string()  # signature
        for _ in range(max(0, reader.i32())):  # client software certificates
            reader.byte_string()
            reader.byte_string()
        reader.skip_strings()  # locale ids
        token_id, token = reader.extension_object()
        token_type = IDENTITY_TOKENS.get(token_id or -1, f"unknown_{token_id}")
        session.event(
            "auth", "auth", "467", {"token_type": token_type, "security_policy": self.policy or "unknown"}
        )
        if token_type == "anonymous":
            session.service(details={"anonymous_session": True})
        elif token_type == "username":
            token_reader = Reader(token)
            token_reader.byte_string()  # policy id
            user = token_reader.byte_string() or b""
            password = token_reader.byte_string() or b""
            algorithm = token_reader.string() or ""
            session.service(details={"username_session": True})
            if self.policy == POLICY_NONE:
                # The password is in clear unless the token policy encrypted it (algorithm set).
                method = "opcua-username" if not algorithm else "opcua-username-encrypted"
                session.credential(method, user, password)

    def _node_event(self, reader: Reader, service: int) -> None:
        """Write / HistoryUpdate / Call / node management: the first targets, kept in the event."""
        reader.request_header()
        targets: list[str] = []
        count = max(0, reader.i32())
        detail: dict[str, Any] = {"service": REQUESTS[service][0], "items": count}
        try:
            if service == 673:  # WriteValue: node id, attribute id, index range, value...
                _, node = reader.node_id()
                targets.append(node)
                detail["attribute_id"] = reader.u32()
            elif service == 712:  # CallMethodRequest: object id, method id
                _, obj = reader.node_id()
                _, method = reader.node_id()
                targets.append(f"{obj}/{method}")
            elif service in (500, 506):  # DeleteNodesItem / DeleteReferencesItem: a node id first
                _, node = reader.node_id()
                targets.append(node)
        except Truncated:
            detail["truncated"] = True
        if targets:
            detail["targets"] = targets[:MAX_ITEMS]
        self.session.event(EVENT_KINDS[service], REQUESTS[service][1], str(service), detail)

    HANDLERS: dict[int, Any] = {
        446: _open_request,
        431: _endpoints_response,
        467: _activate_request,
        **{sid: (lambda self, reader, sid=sid: self._node_event(reader, sid)) for sid in EVENT_KINDS},
    }


DISSECTOR = OpcUaDissector
