"""OSCAL assessment-plan, assessment-results and POA&M from one assessment.

Every UUID is derived from the assessment (``stable_uuid``) and every time from the capture window,
so a rerun reproduces the files byte for byte. Observations (one per finding) link to risks (with
ATT&CK for ICS technique ids as threat-ids) and to OSCAL findings (one per judged requirement).
"""

from __future__ import annotations

from datetime import UTC, datetime

from icsaudit.engine.model import Assessment, Finding, RequirementResult
from icsaudit.report.catalog import OSCAL_VERSION, control_id

NS = "urn:icsaudit:oscal"  # our namespace for props that are not OSCAL's own
ATTACK = "https://attack.mitre.org/"
PLAN_FILE = "assessment-plan.json"
NOT_MAPPED = ("attack-ics",)  # technique ids are threats, not controls
SATISFIED = {
    "satisfied": "satisfied",
    "answered-yes": "satisfied",
    "not-satisfied": "not-satisfied",
    "answered-no": "not-satisfied",
    "answered-partial": "not-satisfied",
}


def _time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts or 0.0, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(value: object, fallback: str) -> str:
    """OSCAL strings must be non-empty and not start or end with whitespace."""
    text = " ".join(str(value or "").split())
    return text or fallback


def _prop(name: str, value: object, ns: str | None = NS) -> dict:
    prop = {"name": name, "value": _text(value, "-")}
    if ns:
        prop["ns"] = ns
    return prop


class _Ids:
    """UUIDs scoped by the assessment id, so two facilities never share one and reruns repeat them."""

    def __init__(self, a: Assessment) -> None:
        self.scope = a.assessment_id or a.evidence_sha256 or a.site.name

    def __call__(self, *parts: object) -> str:
        from icsaudit.ids import stable_uuid

        return stable_uuid("oscal", self.scope, *parts)


def _metadata(a: Assessment, ids: _Ids, kind: str) -> dict:
    org = ids("party", "facility")
    tool = ids("party", "tool")
    return {
        "title": f"{kind}: {a.site.name}",
        "last-modified": _time(a.created),
        "version": _text(a.assessment_id, "1"),
        "oscal-version": OSCAL_VERSION,
        "roles": [
            {"id": "assessor", "title": "Assessor (icsaudit)"},
            {"id": "facility", "title": "Assessed facility"},
        ],
        "parties": [
            {
                "uuid": org,
                "type": "organization",
                "name": _text(a.site.name, "facility"),
                **({"short-name": a.site.facility_id} if a.site.facility_id.strip() else {}),
            },
            {"uuid": tool, "type": "organization", "name": _text(a.generator, "icsaudit")},
        ],
        "responsible-parties": [
            {"role-id": "assessor", "party-uuids": [tool]},
            {"role-id": "facility", "party-uuids": [org]},
        ],
        "props": [
            _prop("profile", a.site.profile),
            _prop("assessment-id", a.assessment_id),
            _prop("evidence-sha256", a.evidence_sha256),
        ],
    }


def _control_selections(a: Assessment) -> list[dict]:
    ids = sorted(
        {control_id(r.id) for fw in a.frameworks if fw.framework not in NOT_MAPPED for r in fw.requirements}
    )
    if not ids:
        return [{"include-all": {}}]
    return [
        {
            "description": "Requirements of the frameworks mapped for this facility profile",
            "include-controls": [{"control-id": cid} for cid in ids],
        }
    ]


def _activities(ids: _Ids) -> list[dict]:
    return [
        {
            "uuid": ids("activity", "passive"),
            "title": "Passive analysis of captured OT traffic",
            "description": "Captured traffic (SPAN/TAP) is dissected per industrial protocol into assets, flows and "
            "operations; SQL checks judge it against the site model and the facility profile.",
            "props": [_prop("method", "TEST", None)],
        },
        {
            "uuid": ids("activity", "probe"),
            "title": "Safe read-only identity probes",
            "description": "Where the profile allows, one read-only identity request per device; never in CSL 1-2 or "
            "safety zones.",
            "props": [_prop("method", "TEST", None)],
        },
        {
            "uuid": ids("activity", "answers"),
            "title": "Manual answers for requirements no check covers",
            "description": "Questionnaire answers from the facility for requirements that traffic cannot show.",
            "props": [_prop("method", "INTERVIEW", None)],
        },
    ]


def assessment_plan(a: Assessment) -> dict:
    ids = _Ids(a)
    return {
        "assessment-plan": {
            "uuid": ids("assessment-plan"),
            "metadata": _metadata(a, ids, "ICS security assessment plan"),
            "import-ssp": {
                "href": "site.yaml",
                "remarks": "The facility's icsaudit site model stands in for a system security plan.",
            },
            "local-definitions": {"activities": _activities(ids)},
            "reviewed-controls": {"control-selections": _control_selections(a)},
            "assessment-subjects": [
                {
                    "type": "inventory-item",
                    "description": "Every asset observed or declared in the site model",
                    "include-all": {},
                }
            ],
            "tasks": [
                {
                    "uuid": ids("task", "capture"),
                    "type": "action",
                    "title": "Capture and analyse OT traffic",
                    "timing": {
                        "within-date-range": {
                            "start": _time(a.capture.first_ts or a.created),
                            "end": _time(a.capture.last_ts or a.created),
                        }
                    },
                    "associated-activities": [
                        {
                            "activity-uuid": ids("activity", "passive"),
                            "subjects": [{"type": "inventory-item", "include-all": {}}],
                        }
                    ],
                }
            ],
        }
    }


def _inventory(a: Assessment, ids: _Ids) -> list[dict]:
    items = []
    for x in sorted(a.assets, key=lambda x: x.asset_id):
        props = [_prop("asset-id", x.asset_id, None)]
        props += [
            _prop(name, value, None)
            for name, value in (
                ("ipv4-address" if ":" not in x.ip else "ipv6-address", x.ip),
                ("mac-address", x.mac),
                ("fqdn", x.name),
                ("serial-number", x.serial),
                ("vendor-name", x.vendor),
                ("model", x.model),
                ("version", x.firmware),
            )
            if value.strip()
        ]
        props += [_prop(name, value) for name, value in (("zone", x.zone), ("role", x.role)) if value.strip()]
        items.append(
            {
                "uuid": ids("asset", x.asset_id),
                "description": _text(
                    f"{x.role or 'asset'} {x.name or x.asset_id} in zone {x.zone or 'none'}", "asset"
                ),
                "props": props,
            }
        )
    return items


def _subjects(f: Finding, ids: _Ids, known: set[str]) -> list[dict]:
    return [
        {"subject-uuid": ids("asset", asset_id), "type": "inventory-item", "title": asset_id}
        for asset_id in f.asset_ids
        if asset_id in known
    ]


def _observation(a: Assessment, f: Finding, ids: _Ids, known: set[str]) -> dict:
    evidence = [f"flow {x}" for x in f.evidence.flow_ids] + [f"event {x}" for x in f.evidence.event_ids]
    evidence += [f"frame {fr.get('file', '')}#{fr.get('frame', '')}" for fr in f.evidence.frames]
    obs = {
        "uuid": ids("observation", f.finding_id),
        "title": _text(f"{f.check_id}: {f.title}", f.check_id),
        "description": _text(f.message, f.title),
        "props": [
            _prop("finding-id", f.finding_id),
            _prop("check-id", f.check_id),
            _prop("severity", f.severity),
        ]
        + ([_prop("zone", f.zone)] if f.zone.strip() else []),
        "methods": ["TEST"],
        "types": ["finding"],
        "collected": _time(f.first_seen if f.first_seen is not None else a.created),
    }
    subjects = _subjects(f, ids, known)
    if subjects:
        obs["subjects"] = subjects
    if evidence:
        obs["relevant-evidence"] = [{"description": _text("; ".join(evidence), "evidence")}]
    return obs


def _risk(a: Assessment, f: Finding, ids: _Ids, attack: list[str]) -> dict:
    risk = {
        "uuid": ids("risk", f.finding_id),
        "title": _text(f.title, f.check_id),
        "description": _text(f.message, f.title),
        "statement": _text(
            "; ".join(f.risk.factors)
            if f.risk and f.risk.factors
            else f"{f.severity} finding of check {f.check_id}",
            "risk",
        ),
        "props": [_prop("finding-id", f.finding_id)],
        "status": "open",
        "related-observations": [{"observation-uuid": ids("observation", f.finding_id)}],
    }
    if attack:
        # threat-id ids are URIs in OSCAL: the technique's ATT&CK page carries its id (T0855)
        risk["threat-ids"] = [
            {"system": ATTACK, "id": f"{ATTACK}techniques/{t}/", "href": f"{ATTACK}techniques/{t}/"}
            for t in attack
        ]
    if f.risk:
        risk["characterizations"] = [
            {
                "origin": {"actors": [{"type": "tool", "actor-uuid": ids("party", "tool")}]},
                "facets": [
                    {"name": "likelihood", "system": NS, "value": str(f.risk.likelihood)},
                    {"name": "impact", "system": NS, "value": str(f.risk.consequence)},
                    {"name": "risk-score", "system": NS, "value": str(f.risk.score)},
                    {"name": "risk-level", "system": NS, "value": f.risk.level},
                ],
            }
        ]
    if f.remediation.strip():
        risk["remediations"] = [
            {
                "uuid": ids("remediation", f.finding_id),
                "lifecycle": "recommendation",
                "title": _text(f"Fix {f.check_id}", "Fix"),
                "description": _text(f.remediation, "-"),
            }
        ]
    return risk


def _requirement_finding(
    fw: str, req: RequirementResult, ids: _Ids, by_check: dict[str, list[Finding]]
) -> dict:
    related = sorted({f.finding_id for c in req.checks for f in by_check.get(c, [])})
    state = SATISFIED[req.status]
    finding = {
        "uuid": ids("finding", fw, req.id),
        "title": _text(f"{fw} {req.id}: {req.title}", req.id),
        "description": _text(
            f"{req.id} is {req.status}"
            + (f" (checks {', '.join(req.checks)})" if req.checks else "")
            + (
                f"; answer: {req.answer.get('value', '')} {req.answer.get('comment', '')}"
                if req.answer
                else ""
            ),
            req.id,
        ),
        "props": [_prop("framework", fw), _prop("requirement-status", req.status)],
        "target": {
            "type": "objective-id",
            "target-id": f"{control_id(req.id)}_obj",
            "status": {
                "state": state,
                **({"reason": "answered"} if req.status.startswith("answered") else {}),
            },
        },
    }
    if related:
        finding["related-observations"] = [{"observation-uuid": ids("observation", x)} for x in related]
        finding["related-risks"] = [{"risk-uuid": ids("risk", x)} for x in related]
    return finding


def _observations_and_risks(a: Assessment, ids: _Ids) -> tuple[list[dict], list[dict]]:
    known = {x.asset_id for x in a.assets}
    maps = {r.check_id: r.maps for r in a.results}
    findings = sorted(a.findings, key=lambda f: f.finding_id)
    observations = [_observation(a, f, ids, known) for f in findings]
    risks = [_risk(a, f, ids, list(maps.get(f.check_id, {}).get("attack-ics", []))) for f in findings]
    return observations, risks


def assessment_results(a: Assessment) -> dict:
    ids = _Ids(a)
    observations, risks = _observations_and_risks(a, ids)
    by_check: dict[str, list[Finding]] = {}
    for f in a.findings:
        by_check.setdefault(f.check_id, []).append(f)
    oscal_findings = [
        _requirement_finding(fw.framework, req, ids, by_check)
        for fw in a.frameworks
        if fw.framework not in NOT_MAPPED
        for req in fw.requirements
        if req.status in SATISFIED
    ]
    linked = {link["observation-uuid"] for f in oscal_findings for link in f.get("related-observations", [])}
    for f in sorted(a.findings, key=lambda f: f.finding_id):  # findings no requirement covers keep a link too
        if ids("observation", f.finding_id) not in linked:
            oscal_findings.append(
                {
                    "uuid": ids("finding", "check", f.finding_id),
                    "title": _text(f"{f.check_id}: {f.title}", f.check_id),
                    "description": _text(f.message, f.title),
                    "target": {
                        "type": "objective-id",
                        "target-id": f"{control_id(f.check_id)}_obj",
                        "status": {"state": "not-satisfied"},
                    },
                    "related-observations": [{"observation-uuid": ids("observation", f.finding_id)}],
                    "related-risks": [{"risk-uuid": ids("risk", f.finding_id)}],
                }
            )
    result = {
        "uuid": ids("result"),
        "title": _text(f"Assessment of {a.site.name}", "Assessment"),
        "description": _text(
            f"Passive OT security assessment against the {a.site.profile_title or a.site.profile} "
            f"profile: {len(a.findings)} findings from {len(a.results)} checks.",
            "Assessment",
        ),
        "start": _time(a.capture.first_ts if a.capture.first_ts is not None else a.created),
        "end": _time(a.capture.last_ts if a.capture.last_ts is not None else a.created),
        "reviewed-controls": {"control-selections": _control_selections(a)},
    }
    check_counts = _count(r.status for r in a.results)
    if check_counts:  # OSCAL forbids empty arrays
        result["props"] = [_prop("checks-" + status, n) for status, n in sorted(check_counts.items())]
    inventory = _inventory(a, ids)
    if inventory:
        result["local-definitions"] = {"inventory-items": inventory}
    if observations:
        result["observations"] = observations
        result["risks"] = risks
    if oscal_findings:
        result["findings"] = oscal_findings
    return {
        "assessment-results": {
            "uuid": ids("assessment-results"),
            "metadata": _metadata(a, ids, "ICS security assessment results"),
            "import-ap": {"href": PLAN_FILE},
            "results": [result],
        }
    }


def poam(a: Assessment) -> dict:
    """Plan of action and milestones for every open finding."""
    ids = _Ids(a)
    observations, risks = _observations_and_risks(a, ids)
    items = [
        {
            "uuid": ids("poam-item", f.finding_id),
            "title": _text(f"{f.check_id}: {f.title}", f.check_id),
            "description": _text(f.remediation or f.message, f.title),
            "props": [_prop("severity", f.severity)]
            + ([_prop("risk-score", f.risk.score)] if f.risk else []),
            "related-observations": [{"observation-uuid": ids("observation", f.finding_id)}],
            "related-risks": [{"risk-uuid": ids("risk", f.finding_id)}],
        }
        for f in sorted(a.findings, key=lambda f: f.finding_id)
    ]
    body: dict = {
        "uuid": ids("poam"),
        "metadata": _metadata(a, ids, "ICS security plan of action and milestones"),
        "import-ssp": {"href": "site.yaml"},
    }
    inventory = _inventory(a, ids)
    if inventory:
        body["local-definitions"] = {"inventory-items": inventory}
    if observations:
        body["observations"] = observations
        body["risks"] = risks
    # poam-items needs at least one entry: with nothing open, say so explicitly
    body["poam-items"] = items or [
        {"title": "No open findings", "description": "The assessment produced no findings to remediate."}
    ]
    return {"plan-of-action-and-milestones": body}


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def oscal_documents(a: Assessment) -> dict[str, dict]:
    return {
        PLAN_FILE: assessment_plan(a),
        "assessment-results.json": assessment_results(a),
        "poam.json": poam(a),
    }
