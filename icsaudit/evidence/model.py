"""The Evidence model: what was observed, by passive analysis or by probes.

One JSON document with a versioned schema (``evidence/evidence.schema.json`` is generated from these
structs by ``python -m icsaudit.evidence.schema`` and checked in; a test proves it matches). Every table the check engine queries
(assets, services, flows, events, identities, capture) is a list here.

Field conventions shared by every protocol module (as Zeek's ICSNPP logs share theirs):
- ``protocol`` is the corpus/tshark protocol name (modbus, s7comm, enip, cip, dnp3, ...);
- ``function`` is the function key in the corpus truth format (``fc3``, ``job/0x04``, ``svc/0x4c``);
- ``category`` is one of OPERATION_CATEGORIES;
- times are float seconds since the epoch; ``frame`` is the 1-based frame number in ``file``.
"""

from __future__ import annotations

from typing import Any

import msgspec

SCHEMA_VERSION = "1.0"

OPERATION_CATEGORIES = (
    "read",
    "write",
    "control",
    "program",
    "mode",
    "firmware",
    "diagnostic",
    "identify",
    "auth",
    "other",
)

ROLES = (
    "plc",
    "rtu",
    "ied",
    "hmi",
    "ews",
    "historian",
    "master",
    "server",
    "it-host",
    "network",
    "unknown",
)


class Ref(msgspec.Struct, frozen=True, kw_only=True):
    """Where a fact was seen: a capture file and frame, or a probe transcript line."""

    source: str  # "passive:<protocol>" or "probe:<name>"
    file: str = ""  # capture file name (basename) or transcript path
    frame: int = 0  # 1-based frame number, or transcript line
    ts: float = 0.0


class FieldValue(msgspec.Struct, kw_only=True):
    """An identity field of an asset with its provenance."""

    value: str
    ref: Ref
    confidence: str = "high"  # high (device said so), medium (inferred), low (guess)


class Asset(msgspec.Struct, kw_only=True):
    asset_id: str  # the IP address, or the MAC for layer-2-only devices
    ip: str = ""
    mac: str = ""
    mac_vendor: str = ""
    hostnames: list[str] = []
    vendor: str = ""
    model: str = ""  # product name / model / order number (MLFB)
    firmware: str = ""
    serial: str = ""
    device_type: str = ""
    role: str = "unknown"  # one of ROLES
    role_reason: str = ""  # why the role was inferred
    purdue_level: int | None = None  # guess from role and protocols
    protocols: list[str] = []
    first_seen: float = 0.0
    last_seen: float = 0.0
    # field name -> provenance, for vendor/model/firmware/serial/device_type/hostnames/mac_vendor
    provenance: dict[str, FieldValue] = {}


class Service(msgspec.Struct, kw_only=True):
    """A server-side endpoint seen answering (or probed) on an asset."""

    service_id: str
    asset_id: str
    ip: str
    transport: str  # tcp | udp | eth
    port: int
    protocol: str
    banner: str = ""
    details: dict[str, Any] = {}  # e.g. tls_version, snmp_version, smb_dialect, security_mode
    first_seen: float = 0.0
    last_seen: float = 0.0
    ref: Ref | None = None


class Flow(msgspec.Struct, kw_only=True):
    """An aggregated conversation. Client is the side that opened the connection or sent the request."""

    flow_id: str  # stable digest of (client_ip, server_ip, transport, server_port, protocol)
    client_ip: str
    server_ip: str
    transport: str  # tcp | udp | eth
    server_port: int  # for eth: the EtherType
    protocol: str  # "unknown" when no dissector claimed it
    client_mac: str = ""
    server_mac: str = ""
    packets: int = 0
    bytes: int = 0
    connections: int = 0  # TCP connections opened (SYN seen) or UDP sessions
    first_seen: float = 0.0
    last_seen: float = 0.0
    ops: dict[str, int] = {}  # operation category -> request count
    functions: dict[str, int] = {}  # function key -> PDU count (requests and responses)
    exceptions: int = 0  # exception / error replies
    first_ref: Ref | None = None


class Event(msgspec.Struct, kw_only=True):
    """A single operation worth keeping: write, program, mode, firmware, credentials, scan ..."""

    event_id: str
    kind: str  # write, control, program, mode, firmware, force, credential, scan, arp-conflict, ...
    category: str  # operation category
    protocol: str
    function: str = ""
    client_ip: str = ""
    server_ip: str = ""
    server_port: int = 0
    flow_id: str = ""
    detail: dict[str, Any] = {}
    ref: Ref


class Identity(msgspec.Struct, kw_only=True):
    """An identity statement a device made about itself (or a probe obtained)."""

    identity_id: str
    asset_id: str
    ip: str = ""
    mac: str = ""
    protocol: str
    fields: dict[str, str] = {}  # normalized: vendor, model, firmware, serial, name, device_type, ...
    raw: dict[str, Any] = {}  # protocol-shaped object as in the corpus truth (for --stats-json)
    confidence: str = "high"
    ref: Ref


class CaptureFile(msgspec.Struct, kw_only=True):
    path: str
    sha256: str
    size: int = 0
    format: str = ""  # pcap | pcapng | live | probe
    link_types: list[str] = []
    packets: int = 0
    bytes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    complete: bool = True  # False when the file ended mid-record or a corrupt block stopped reading
    problems: list[str] = []


class DecodeError(msgspec.Struct, frozen=True, kw_only=True):
    protocol: str
    message: str
    file: str = ""
    frame: int = 0


class ProtocolStats(msgspec.Struct, kw_only=True):
    """Per-protocol statistics in the shape of ../shared/corpus truth files."""

    frames: int = 0
    pdus: int = 0
    functions: dict[str, int] = {}
    conversations: list[tuple[str, str, int, str]] = []
    identities: list[dict[str, Any]] = []


class Capture(msgspec.Struct, kw_only=True):
    files: list[CaptureFile] = []
    packets: int = 0
    bytes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    decode_errors: int = 0
    decode_error_samples: list[DecodeError] = []  # the first few, for the report
    tcp_gaps: int = 0  # holes in TCP streams (missing segments)
    tcp_gap_bytes: int = 0
    ip_fragments_incomplete: int = 0
    flows_expired: int = 0
    events_dropped: int = 0  # events beyond the per-flow / total caps (flow operation counts stay exact)
    identities_dropped: int = 0  # identity statements beyond the cap (hostile or fuzzed traffic)
    sources: list[str] = []  # "passive", "probe:<name>", ...
    protocols: dict[str, ProtocolStats] = {}


class Evidence(msgspec.Struct, kw_only=True):
    schema_version: str = SCHEMA_VERSION
    generator: str = ""  # "icsaudit <version>"
    capture: Capture = msgspec.field(default_factory=Capture)
    assets: list[Asset] = []
    services: list[Service] = []
    flows: list[Flow] = []
    events: list[Event] = []
    identities: list[Identity] = []
