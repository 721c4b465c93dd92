"""Evidence + site model → DuckDB tables the checks query.

Every table row is enriched with what the site says about its addresses (zone, Purdue level, CSL,
safety, roles, conduit coverage) so a check is one readable SELECT. Loading passes each table's
columns to DuckDB as a JSON document in memory (msgspec encodes, from_json parses: no temporary files,
no per-row INSERT); afterwards external access is disabled and the configuration locked, so a check
reads nothing but the evidence.

Tables: flows, flow_functions, events, assets, services, identities, capture (one row), hosts, zones,
conduits, declared_assets, baseline_flows, baseline_assets, vulnerabilities (one row per asset,
advisory and CVE from the advisory matcher), vulnerability_assets (one row per asset: whether the
matcher could assess it: assessed | no-model | no-firmware | vendor-not-in-store).
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import duckdb
import msgspec

from icsaudit.engine.requires import SITE_LIST_NAMES, Facts
from icsaudit.engine.site import SiteModel
from icsaudit.evidence.model import OPERATION_CATEGORIES, Evidence

HOST_COLUMNS = {  # hosts table: what the site model says about one address
    "ip": "VARCHAR",
    "zone": "VARCHAR",
    "level": "DOUBLE",
    "csl": "INTEGER",
    "sl_t": "INTEGER",
    "safety": "BOOLEAN",
    "one_way": "BOOLEAN",
    "function": "VARCHAR",
    "zone_criticality": "INTEGER",
    "probe_allowed": "BOOLEAN",
    "is_master": "BOOLEAN",
    "is_ews": "BOOLEAN",
    "is_hmi": "BOOLEAN",
    "is_jump_host": "BOOLEAN",
    "is_log_collector": "BOOLEAN",
    "is_time_server": "BOOLEAN",
    "is_public": "BOOLEAN",
    "declared": "BOOLEAN",
    "declared_role": "VARCHAR",
    "role": "VARCHAR",
    "criticality": "VARCHAR",
    "vendor": "VARCHAR",
    "mac_vendor": "VARCHAR",
}
FLOW_COLUMNS = {
    "flow_id": "VARCHAR",
    "client_ip": "VARCHAR",
    "server_ip": "VARCHAR",
    "transport": "VARCHAR",
    "server_port": "INTEGER",
    "protocol": "VARCHAR",
    "client_mac": "VARCHAR",
    "server_mac": "VARCHAR",
    "packets": "BIGINT",
    "bytes": "BIGINT",
    "connections": "BIGINT",
    "first_seen": "DOUBLE",
    "last_seen": "DOUBLE",
    "ops": "MAP(VARCHAR, BIGINT)",
    "functions": "MAP(VARCHAR, BIGINT)",
    "exceptions": "BIGINT",
}
EVENT_COLUMNS = {
    "event_id": "VARCHAR",
    "kind": "VARCHAR",
    "category": "VARCHAR",
    "protocol": "VARCHAR",
    "function": "VARCHAR",
    "client_ip": "VARCHAR",
    "server_ip": "VARCHAR",
    "server_port": "INTEGER",
    "flow_id": "VARCHAR",
    "detail": "JSON",
    "ts": "DOUBLE",
    "frame": "BIGINT",
    "file": "VARCHAR",
    "source": "VARCHAR",
}
ASSET_COLUMNS = {
    "asset_id": "VARCHAR",
    "ip": "VARCHAR",
    "mac": "VARCHAR",
    "mac_vendor": "VARCHAR",
    "hostnames": "VARCHAR[]",
    "vendor": "VARCHAR",
    "model": "VARCHAR",
    "firmware": "VARCHAR",
    "serial": "VARCHAR",
    "device_type": "VARCHAR",
    "role": "VARCHAR",
    "role_reason": "VARCHAR",
    "purdue_level": "INTEGER",
    "protocols": "VARCHAR[]",
    "first_seen": "DOUBLE",
    "last_seen": "DOUBLE",
}
SERVICE_COLUMNS = {
    "service_id": "VARCHAR",
    "asset_id": "VARCHAR",
    "ip": "VARCHAR",
    "transport": "VARCHAR",
    "port": "INTEGER",
    "protocol": "VARCHAR",
    "banner": "VARCHAR",
    "details": "JSON",
    "first_seen": "DOUBLE",
    "last_seen": "DOUBLE",
}
IDENTITY_COLUMNS = {
    "identity_id": "VARCHAR",
    "asset_id": "VARCHAR",
    "ip": "VARCHAR",
    "mac": "VARCHAR",
    "protocol": "VARCHAR",
    "fields": "MAP(VARCHAR, VARCHAR)",
    "confidence": "VARCHAR",
    "source": "VARCHAR",
}
CAPTURE_COLUMNS = {
    "packets": "BIGINT",
    "bytes": "BIGINT",
    "first_ts": "DOUBLE",
    "last_ts": "DOUBLE",
    "decode_errors": "BIGINT",
    "tcp_gaps": "BIGINT",
    "tcp_gap_bytes": "BIGINT",
    "files": "INTEGER",
    "incomplete_files": "INTEGER",
    "loss_ratio": "DOUBLE",
    "sources": "VARCHAR[]",
    "loss_threshold": "DOUBLE",
}
ZONE_COLUMNS = {
    "zone": "VARCHAR",
    "name": "VARCHAR",
    "level": "DOUBLE",
    "csl": "INTEGER",
    "sl_t": "INTEGER",
    "safety": "BOOLEAN",
    "one_way": "BOOLEAN",
    "probe_allowed": "BOOLEAN",
    "function": "VARCHAR",
    "zone_criticality": "INTEGER",
    "cidrs": "VARCHAR[]",
    "assets": "VARCHAR[]",
}
CONDUIT_COLUMNS = {
    "conduit_id": "VARCHAR",
    "from_zone": "VARCHAR",
    "to_zone": "VARCHAR",
    "protocols": "VARCHAR[]",
    "ports": "INTEGER[]",
    "via": "VARCHAR[]",
    "one_way": "BOOLEAN",
    "profile_allowed": "BOOLEAN",
}
DECLARED_COLUMNS = {
    "ip": "VARCHAR",
    "mac": "VARCHAR",
    "name": "VARCHAR",
    "role": "VARCHAR",
    "zone": "VARCHAR",
    "criticality": "VARCHAR",
    "vendor": "VARCHAR",
    "model": "VARCHAR",
    "expected_firmware": "VARCHAR",
    "tags": "VARCHAR[]",
}
VULN_COLUMNS = {  # icsaudit.advisories.match.vulnerability_rows
    "asset_id": "VARCHAR",
    "ip": "VARCHAR",
    "cve": "VARCHAR",
    "advisory": "VARCHAR",
    "advisory_id": "VARCHAR",
    "title": "VARCHAR",
    "cvss": "DOUBLE",
    "cvss_vector": "VARCHAR",
    "kev": "BOOLEAN",
    "kev_date_added": "VARCHAR",
    "kev_required_action": "VARCHAR",
    "kev_due_date": "VARCHAR",
    "kev_ransomware": "VARCHAR",
    "confidence": "VARCHAR",  # high | medium | low (see icsaudit.advisories.match)
    "product": "VARCHAR",
    "firmware": "VARCHAR",
    "version_range": "VARCHAR",
    "fixed": "VARCHAR",
    "remediation": "VARCHAR",
    "url": "VARCHAR",
    "reason": "VARCHAR",
}
VULN_ASSET_COLUMNS = {  # icsaudit.advisories.match.vulnerability_coverage_rows
    "asset_id": "VARCHAR",
    "status": "VARCHAR",
    "vendor": "VARCHAR",
    "model": "VARCHAR",
    "firmware": "VARCHAR",
}
BASELINE_FLOW_COLUMNS = {
    "client_ip": "VARCHAR",
    "server_ip": "VARCHAR",
    "server_port": "INTEGER",
    "protocol": "VARCHAR",
    "functions": "MAP(VARCHAR, BIGINT)",
}
BASELINE_ASSET_COLUMNS = {
    "asset_id": "VARCHAR",
    "vendor": "VARCHAR",
    "model": "VARCHAR",
    "firmware": "VARCHAR",
    "protocols": "VARCHAR[]",
    "role": "VARCHAR",
}


@dataclass
class EvidenceDB:
    con: duckdb.DuckDBPyConnection
    facts: Facts
    model: SiteModel


LOAD_CHUNK = 200_000  # rows per JSON document: bounds one document (~25 MB of flows) and its parse


class _Loader:
    """Python column lists → typed tables, without temporary files or per-row INSERTs.

    msgspec encodes each chunk of columns as one JSON document ({"col": [values...]}), stored as a row
    of a staging table; from_json parses it into typed lists and UNNEST zips them back into rows. The
    documents sit in a table rather than being bound as a parameter because DuckDB constant-folds
    from_json of a parameter at bind time into nested Values, ~10x slower than parsing in the executor.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.encoder = msgspec.json.Encoder()

    def load(self, name: str, columns: dict[str, str], data: dict[str, list[Any]]) -> None:
        self.con.execute("CREATE TEMP TABLE load_doc (d VARCHAR)")
        count = len(data[next(iter(columns))])
        for start in range(0, count, LOAD_CHUNK):
            chunk = {c: data[c][start : start + LOAD_CHUNK] for c in columns}
            self.con.execute("INSERT INTO load_doc VALUES ($1)", [self.encoder.encode(chunk).decode()])
        spec = self.encoder.encode({c: f"{t}[]" for c, t in columns.items()}).decode().replace("'", "''")
        unnest = ", ".join(f'unnest(j."{c}") AS "{c}"' for c in columns)
        self.con.execute(
            f"CREATE TABLE {name} AS SELECT {unnest} FROM (SELECT from_json(d, '{spec}') AS j FROM load_doc)"
        )
        self.con.execute("DROP TABLE load_doc")

    def load_rows(self, name: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
        self.load(name, columns, {c: [r.get(c) for r in rows] for c in columns})


def _columns(rows: list[Any], columns: Any, paths: dict[str, str] | None = None) -> dict[str, list[Any]]:
    """Struct attributes as column lists, one C-level pass per column; ``paths`` maps a column to
    a dotted attribute (``ts`` → ``ref.ts``)."""
    paths = paths or {}
    return {c: list(map(attrgetter(paths.get(c, c)), rows)) for c in columns}


def _host_row(model: SiteModel, address: str, asset: Any) -> dict[str, Any]:
    host = model.host(address)
    zone = host.zone
    return {
        "ip": address,
        "zone": zone.id if zone else "",
        "level": zone.purdue_level if zone else None,
        "csl": zone.csl if zone else None,
        "sl_t": zone.sl_t if zone else None,
        "safety": zone.safety if zone else False,
        "one_way": zone.one_way if zone else False,
        "function": zone.function if zone else "",
        "zone_criticality": zone.criticality if zone else None,
        "probe_allowed": zone.probe_allowed if zone else False,
        "is_master": host.is_master,
        "is_ews": host.is_ews,
        "is_hmi": host.is_hmi,
        "is_jump_host": host.is_jump_host,
        "is_log_collector": host.is_log_collector,
        "is_time_server": host.is_time_server,
        "is_public": host.is_public,
        "declared": host.declared,
        "declared_role": host.declared_role,
        "role": asset.role if asset else "unknown",
        "criticality": host.criticality,
        "vendor": asset.vendor if asset else "",
        "mac_vendor": asset.mac_vendor if asset else "",
    }


def _end_columns(alias: str, end: str) -> str:
    """client_zone, client_level, client_is_master ... from the hosts row joined as ``alias``."""
    cols = []
    for col in HOST_COLUMNS:
        if col == "ip":
            continue
        name = f"{end}_{col}"
        cols.append(f'{alias}."{col}" AS {name}')
    return ", ".join(cols)


def _profile_allows(model: SiteModel, conduit: Any) -> bool:
    """Whether a declared conduit matches one of the profile's allowed conduit templates."""
    src = next((z for z in model.site.zones if z.id == conduit.from_zone), None)
    dst = next((z for z in model.site.zones if z.id == conduit.to_zone), None)
    if not src or not dst or not src.template or not dst.template:
        return True  # cannot judge zones without a template
    for template in model.profile.conduits:
        if template.from_zone == src.template and template.to_zone == dst.template:
            if not template.protocols:
                return True
            if conduit.protocols and set(conduit.protocols) <= set(template.protocols):
                return True  # a conduit for "any protocol" is wider than a protocol-limited template
    return src.template == dst.template


def build_database(
    evidence: Evidence,
    model: SiteModel,
    *,
    baseline: Evidence | None = None,
    vulnerabilities: list[dict[str, Any]] | None = None,
    vulnerability_assets: list[dict[str, Any]] | None = None,
) -> EvidenceDB:
    con = duckdb.connect(":memory:")
    con.execute("SET threads TO 4")
    con.execute("SET TimeZone = 'UTC'")  # hour() in checks is UTC whatever the host says
    flows = _columns(evidence.flows, FLOW_COLUMNS)
    refs = {"ts": "ref.ts", "frame": "ref.frame", "file": "ref.file", "source": "ref.source"}
    events = _columns(evidence.events, EVENT_COLUMNS, refs)
    identities = _columns(evidence.identities, IDENTITY_COLUMNS, {"source": "ref.source"})
    assets = _columns(evidence.assets, ASSET_COLUMNS)
    services = _columns(evidence.services, SERVICE_COLUMNS)

    # every address any table names, looked up in the site model once each; flows join hosts
    # inner, so their addresses are kept even when empty
    assets_by_id = {a.asset_id: a for a in evidence.assets}
    others = {*events["client_ip"], *events["server_ip"], *identities["ip"]}
    others.update(services["ip"])
    others.update(a.ip for a in model.site.assets)
    others.discard("")
    addresses = {*assets_by_id, *flows["client_ip"], *flows["server_ip"], *others}
    hosts = [_host_row(model, a, assets_by_id.get(a)) for a in sorted(addresses)]

    cap = evidence.capture
    loss = (cap.tcp_gaps + cap.ip_fragments_incomplete) / cap.packets if cap.packets else 0.0
    capture_row = {
        "packets": cap.packets,
        "bytes": cap.bytes,
        "first_ts": cap.first_ts,
        "last_ts": cap.last_ts,
        "decode_errors": cap.decode_errors,
        "tcp_gaps": cap.tcp_gaps,
        "tcp_gap_bytes": cap.tcp_gap_bytes,
        "files": len(cap.files),
        "incomplete_files": sum(1 for f in cap.files if not f.complete),
        "loss_ratio": loss,
        "sources": cap.sources,
        "loss_threshold": model.profile.capture_loss_threshold,
    }
    zone_rows = [
        {
            "zone": z.id,
            "name": z.name,
            "level": z.purdue_level,
            "csl": z.csl,
            "sl_t": z.sl_t,
            "safety": z.safety,
            "one_way": z.one_way,
            "probe_allowed": z.probe_allowed,
            "function": z.function,
            "zone_criticality": z.criticality,
            "cidrs": next(s.cidrs for s in model.site.zones if s.id == z.id),
            "assets": next(s.assets for s in model.site.zones if s.id == z.id),
        }
        for z in model.zones.values()
    ]
    conduit_rows = [
        {
            "conduit_id": c.id or f"{c.from_zone}->{c.to_zone}",
            "from_zone": c.from_zone,
            "to_zone": c.to_zone,
            "protocols": c.protocols,
            "ports": c.ports,
            "via": c.via,
            "one_way": c.one_way,
            "profile_allowed": _profile_allows(model, c),
        }
        for c in model.site.conduits
    ]
    declared_rows = [
        {
            "ip": a.ip,
            "mac": a.mac,
            "name": a.name,
            "role": a.role,
            "zone": a.zone or ((model.zone_of(a.ip).id if model.zone_of(a.ip) else "") if a.ip else ""),
            "criticality": a.criticality,
            "vendor": a.vendor,
            "model": a.model,
            "expected_firmware": a.expected_firmware,
            "tags": a.tags,
        }
        for a in model.site.assets
    ]
    loader = _Loader(con)
    loader.load_rows("hosts", HOST_COLUMNS, hosts)
    loader.load("raw_flows", FLOW_COLUMNS, flows)
    loader.load("raw_events", EVENT_COLUMNS, events)
    loader.load("raw_assets", ASSET_COLUMNS, assets)
    loader.load("raw_services", SERVICE_COLUMNS, services)
    loader.load("raw_identities", IDENTITY_COLUMNS, identities)
    loader.load_rows("capture", CAPTURE_COLUMNS, [capture_row])
    loader.load_rows("zones", ZONE_COLUMNS, zone_rows)
    loader.load_rows("conduits", CONDUIT_COLUMNS, conduit_rows)
    loader.load_rows("declared_assets", DECLARED_COLUMNS, declared_rows)
    loader.load_rows("vulnerabilities", VULN_COLUMNS, _vulnerability_rows(vulnerabilities or []))
    loader.load_rows("vulnerability_assets", VULN_ASSET_COLUMNS, vulnerability_assets or [])
    loader.load(
        "baseline_flows",
        BASELINE_FLOW_COLUMNS,
        _columns(baseline.flows if baseline else [], BASELINE_FLOW_COLUMNS),
    )
    loader.load(
        "baseline_assets",
        BASELINE_ASSET_COLUMNS,
        _columns(baseline.assets if baseline else [], BASELINE_ASSET_COLUMNS),
    )
    _enrich(con)
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    facts = _facts(con, evidence, model, baseline is not None, vulnerabilities is not None)
    if vulnerabilities is not None and vulnerability_assets is not None:
        # matching ran, but it assessed something only if some asset had vendor, model and firmware
        facts.vulnerabilities = any(a.get("status") == "assessed" for a in vulnerability_assets)
        facts.vulnerability_assets = len(vulnerability_assets)
    return EvidenceDB(con=con, facts=facts, model=model)


def _vulnerability_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of older vulnerability files name the advisory only as ``advisory`` (or ``advisory_id``)."""
    out = []
    for row in rows:
        advisory = row.get("advisory") or row.get("advisory_id") or ""
        out.append({**row, "advisory": advisory, "advisory_id": row.get("advisory_id") or advisory})
    return out


def _enrich(con: duckdb.DuckDBPyConnection) -> None:
    ops = ", ".join(f"coalesce(f.ops['{c}'], 0) AS ops_{c}" for c in OPERATION_CATEGORIES)
    # Conduit coverage as a hash join on the zone pair (a correlated EXISTS per flow is 10x slower),
    # over the key columns only rather than the wide enriched rows.
    con.execute(f"""
        CREATE TABLE flows AS
        WITH covered AS (
          SELECT DISTINCT f.flow_id
          FROM raw_flows f JOIN hosts c ON c.ip = f.client_ip JOIN hosts s ON s.ip = f.server_ip
               JOIN conduits k ON k.from_zone = c.zone AND k.to_zone = s.zone
          WHERE c.zone <> s.zone
            AND (len(k.protocols) = 0 OR list_contains(k.protocols, f.protocol))
            AND (len(k.ports) = 0 OR list_contains(k.ports, f.server_port))
            AND (len(k.via) = 0 OR list_contains(k.via, f.client_ip) OR list_contains(k.via, f.server_ip)))
        SELECT f.*, {ops}, {_end_columns("c", "client")}, {_end_columns("s", "server")},
               c.zone <> s.zone AS crosses_zone,
               c.zone = s.zone OR f.flow_id IN (SELECT flow_id FROM covered) AS conduit_allowed
        FROM raw_flows f JOIN hosts c ON c.ip = f.client_ip JOIN hosts s ON s.ip = f.server_ip""")
    con.execute("""
        CREATE TABLE flow_functions AS
        SELECT flow_id, client_ip, server_ip, protocol, server_port, client_zone, server_zone,
               unnest(map_keys(functions)) AS function, unnest(map_values(functions)) AS count
        FROM flows""")
    con.execute(f"""
        CREATE TABLE events AS
        SELECT e.*, {_end_columns("c", "client")}, {_end_columns("s", "server")},
               coalesce(c.zone, '') <> coalesce(s.zone, '') AS crosses_zone
        FROM raw_events e LEFT JOIN hosts c ON c.ip = e.client_ip LEFT JOIN hosts s ON s.ip = e.server_ip""")
    host_cols = (
        "zone",
        "level",
        "csl",
        "sl_t",
        "safety",
        "one_way",
        "function",
        "zone_criticality",
        "probe_allowed",
        "is_master",
        "is_ews",
        "is_hmi",
        "is_public",
        "declared",
        "declared_role",
        "criticality",
    )
    picked = ", ".join(f'h."{c}"' for c in host_cols)
    con.execute(f"""CREATE TABLE assets AS SELECT a.*, {picked}
                    FROM raw_assets a LEFT JOIN hosts h ON h.ip = coalesce(nullif(a.ip, ''), a.asset_id)""")
    con.execute(f"""CREATE TABLE services AS SELECT s.*, {picked}, h.role
                    FROM raw_services s LEFT JOIN hosts h ON h.ip = s.ip""")
    con.execute(f"""CREATE TABLE identities AS SELECT i.*, {picked}
                    FROM raw_identities i LEFT JOIN hosts h ON h.ip = coalesce(nullif(i.ip, ''), i.asset_id)""")
    for name in ("raw_flows", "raw_events", "raw_assets", "raw_services", "raw_identities"):
        con.execute(f"DROP TABLE {name}")


def _facts(
    con: duckdb.DuckDBPyConnection,
    evidence: Evidence,
    model: SiteModel,
    baseline: bool,
    vulnerabilities: bool,
) -> Facts:
    protocols = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT protocol FROM flows UNION SELECT DISTINCT protocol FROM services"
        ).fetchall()
    }
    observed = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT client_zone FROM flows UNION SELECT DISTINCT server_zone FROM flows"
        ).fetchall()
    }
    observed.discard("")

    def kinds(zone_ids: set[str]) -> set[str]:
        out: set[str] = set()
        for zid in zone_ids:
            zone = model.zones[zid]
            if zone.safety:
                out.add("safety")
            if zone.one_way:
                out.add("one_way")
            if zone.purdue_level is not None and zone.purdue_level >= 4:
                out.add("it")
            if zone.purdue_level is not None and zone.purdue_level <= 1:
                out.add("field")
            if zone.function:
                out.add(f"function:{zone.function}")
        return out

    zoned = con.execute("SELECT count(*) FROM hosts WHERE zone <> ''").fetchone()[0]
    site = model.site
    return Facts(
        protocols=protocols,
        counts={
            "flows": len(evidence.flows),
            "services": len(evidence.services),
            "identities": len(evidence.identities),
            "events": len(evidence.events),
        },
        probed=any(s.startswith("probe") for s in evidence.capture.sources),
        zoned_hosts=zoned,
        declared_zones=len(model.zones),
        observed_zone_kinds=kinds(observed & set(model.zones)),
        declared_zone_kinds=kinds(set(model.zones)),
        site_lists={name: len(getattr(site, name)) for name in SITE_LIST_NAMES},
        baseline=baseline,
        vulnerabilities=vulnerabilities,
    )
