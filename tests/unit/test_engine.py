"""Engine behaviour: enrichment, not-assessed reasons, SQL errors, locked DuckDB, determinism, schema."""

from __future__ import annotations

import json

import duckdb
import jsonschema
import msgspec
import pytest

from icsaudit.engine.assess import assess
from icsaudit.engine.checks import Check, CheckTests, load_check, load_checks
from icsaudit.engine.fixtures import load_fixture
from icsaudit.engine.runner import run_check
from icsaudit.engine.schema import SCHEMA_PATH, schema_text
from icsaudit.engine.tables import build_database
from icsaudit.jsonio import dumps_json
from icsaudit.paths import data_dir

BASE = data_dir("checks") / "fixtures" / "base.yaml"


def _check(query: str, requires: list[str] | None = None) -> Check:
    return Check(
        id="XX-99",
        title="t",
        area="discovery",
        severity="high",
        source=["passive"],
        requires=requires or ["flows"],
        query=query,
        message="m",
        maps={},
        remediation="r",
        tests=CheckTests(fail=[], pass_=[]),
        path="XX-99.yaml",
        query_line=10,
    )


def test_flows_are_enriched_with_the_site() -> None:
    f = load_fixture(BASE)
    db = build_database(f.evidence, f.site)
    row = db.con.execute("""SELECT client_zone, server_zone, client_level, server_level, crosses_zone,
                                   conduit_allowed, client_is_hmi, ops_read, ops_write
                            FROM flows WHERE protocol = 'modbus'""").fetchone()
    assert row == ("control", "field", 2.0, 1.0, True, True, True, 500, 0)


def test_external_access_is_locked() -> None:
    f = load_fixture(BASE)
    db = build_database(f.evidence, f.site)
    run = run_check(db, _check("SELECT * FROM read_csv('/etc/passwd')"))
    assert run.status == "error"
    with pytest.raises(duckdb.Error):
        db.con.execute("SET enable_external_access = true")


def test_sql_error_names_check_and_line() -> None:
    f = load_fixture(BASE)
    db = build_database(f.evidence, f.site)
    run = run_check(db, _check("SELECT flow_id\nFROM flows\nWHERE no_such_column > 1"))
    assert run.status == "error"
    assert run.reason.startswith("XX-99: XX-99.yaml:")
    assert "no_such_column" in run.reason


def test_missing_protocol_is_not_assessed_never_pass() -> None:
    f = load_fixture(BASE)
    db = build_database(f.evidence, f.site)
    run = run_check(db, _check("SELECT 1 WHERE false", requires=["dnp3"]))
    assert (run.status, run.reason) == ("not-assessed", "no dnp3 traffic or service observed")


def test_capture_loss_turns_pass_into_not_assessed() -> None:
    f = load_fixture(BASE)
    lossy = msgspec.structs.replace(
        f.evidence, capture=msgspec.structs.replace(f.evidence.capture, tcp_gaps=50_000)
    )
    db = build_database(lossy, f.site)
    run = run_check(db, _check("SELECT 1 WHERE false"))
    assert run.status == "not-assessed" and "capture loss" in run.reason


def test_assessment_is_deterministic_and_valid() -> None:
    f = load_fixture(data_dir("checks") / "cbrn" / "fixtures" / "CB-05-fail.yaml")
    first = assess(f.evidence, f.site)
    second = assess(f.evidence, f.site)
    assert dumps_json(first) == dumps_json(second)
    assert first.created == f.evidence.capture.last_ts
    cb05 = [x for x in first.findings if x.check_id == "CB-05"]
    assert len(cb05) == 1 and cb05[0].severity == "critical" and cb05[0].zone == "sis"
    assert cb05[0].evidence.flow_ids and cb05[0].evidence.frames[0]["file"] == "fixture.pcap"
    assert cb05[0].risk.score == cb05[0].risk.likelihood * cb05[0].risk.consequence
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(json.loads(dumps_json(first)), schema)
    assert sum(map(sum, first.risk_matrix)) == len(first.findings)
    assert first.remediations[0].risk_reduction >= first.remediations[-1].risk_reduction


def test_shipped_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), "run python -m icsaudit.engine.schema"


def test_all_checks_run_without_error_on_every_fixture_base() -> None:
    f = load_fixture(BASE)
    db = build_database(f.evidence, f.site)
    statuses = {c.id: run_check(db, c).status for c in load_checks()}
    assert "error" not in statuses.values()


def _tie_check(tmp_path) -> Check:
    """A check whose ORDER BY ties on every row (all flows go to one server)."""
    (tmp_path / "fx.yaml").write_text("base: x\n")
    path = tmp_path / "XX-98.yaml"
    path.write_text(
        "id: XX-98\ntitle: tied rows\narea: discovery\nseverity: low\nsource: [passive]\n"
        "requires: [flows]\nquery: |\n  SELECT flow_id, client_ip, server_ip, packets FROM flows\n"
        "  WHERE server_ip = '10.1.0.5' ORDER BY server_ip\nmessage: '{client_ip} polls {server_ip}'\n"
        "maps: {}\nremediation: nothing to remediate\ntests: {fail: [fx.yaml], pass: [fx.yaml]}\n"
    )
    return load_check(path)


def test_tied_rows_over_the_cap_give_the_same_assessment_in_any_insertion_order(tmp_path) -> None:
    from icsaudit.engine.assess import MAX_FINDINGS_PER_CHECK
    from icsaudit.evidence.model import Flow, Ref
    from icsaudit.ids import digest_id

    f = load_fixture(BASE)
    extra = []
    for n in range(MAX_FINDINGS_PER_CHECK + 300):
        client = f"10.4.{n // 250}.{n % 250 + 1}"  # IT hosts polling a field PLC: ties and findings
        flow_id = digest_id(client, "10.1.0.5", "tcp", 502, "modbus")
        ref = Ref(source="passive:modbus", file="big.pcap", frame=n + 1, ts=1_700_000_000.0 + n)
        extra.append(
            Flow(
                flow_id=flow_id,
                client_ip=client,
                server_ip="10.1.0.5",
                transport="tcp",
                server_port=502,
                protocol="modbus",
                packets=n % 3,
                ops={"read": 1},
                first_ref=ref,
            )
        )
    checks = [*load_checks(), _tie_check(tmp_path)]
    outputs = []
    for order in (extra, extra[::-1], extra[1::2] + extra[0::2]):
        evidence = msgspec.structs.replace(f.evidence, flows=[*f.evidence.flows, *order])
        outputs.append(dumps_json(assess(evidence, f.site, checks=checks, evidence_sha256="same")))
    assert outputs[0] == outputs[1] == outputs[2]
    result = json.loads(outputs[0])
    tied = next(r for r in result["results"] if r["check_id"] == "XX-98")
    assert tied["findings"] == MAX_FINDINGS_PER_CHECK + 301  # the base's own HMI poll too
    assert tied["reason"].startswith(f"{MAX_FINDINGS_PER_CHECK} of ")
    ids = [x["finding_id"] for x in result["findings"]]
    assert len(ids) == len(set(ids))


def test_canonical_order_keeps_the_query_order_and_sorts_each_tie_by_the_row() -> None:
    from icsaudit.engine.ordering import canonical_sort, unresolved_key

    con = duckdb.connect()
    query = "SELECT t.a, b FROM t ORDER BY t.a DESC NULLS FIRST"
    results = []
    for values in ("(2, 'b'), (1, 'y'), (NULL, 'x'), (2, 'a')", "(2, 'a'), (NULL, 'x'), (1, 'y'), (2, 'b')"):
        con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM (VALUES {values}) v(a, b)")
        rows = [dict(zip(["a", "b"], r, strict=True)) for r in con.execute(query).fetchall()]
        results.append([r["b"] for r in canonical_sort(rows, query, ["a", "b"])])
    assert results[0] == results[1] == ["x", "a", "b", "y"]
    assert unresolved_key(query, ["a", "b"]) == ""
    assert unresolved_key("SELECT a FROM t GROUP BY a ORDER BY count(*) DESC", ["a"]) == "count(*)"
    assert unresolved_key("SELECT a AS b FROM t ORDER BY 2", ["b"]) == "2"


def test_every_shipped_check_orders_by_its_output_columns() -> None:
    """The canonical order can only honour ORDER BY terms that are output columns."""
    from icsaudit.engine.ordering import unresolved_key

    for check in load_checks():
        fixture = load_fixture(check.fixture_paths("fail")[0])
        db = build_database(
            fixture.evidence, fixture.site, baseline=fixture.baseline, vulnerabilities=fixture.vulnerabilities
        )
        try:
            names = [d[0] for d in db.con.execute(check.query).description]
        finally:
            db.con.close()
        assert not unresolved_key(check.query, names), (check.id, unresolved_key(check.query, names))
