"""The whole audit in one call: analyze → (probe) → (match advisories) → assess → report → bundle → verify.

Each stage writes its contract file into the output directory as soon as it has it (evidence.json,
assessment.json, reports, bundle), so a failure half-way loses nothing already done. The CLI's
`icsaudit audit` and `make demo` are thin layers over ``run_audit``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from icsaudit.engine.model import Assessment
from icsaudit.errors import InputError
from icsaudit.evidence import Evidence, merge_evidence, save_evidence

DEFAULT_FORMATS = ("html", "md", "json", "csv", "oscal")


@dataclass
class AuditOptions:
    site: Path
    captures: list[Path] = field(default_factory=list)
    output: Path = Path("out")
    probe: bool = False
    probe_rate: float | None = None  # packets per second cap (guard default when None)
    answers: Path | None = None
    key: Path | None = None  # signing key; a new one is made in OUTPUT/keys when absent
    formats: tuple[str, ...] = DEFAULT_FORMATS
    redact: str = "internal"
    advisories: bool = True  # match identities against the local advisory store when it exists
    extra_evidence: list[Path] = field(default_factory=list)  # evidence from earlier runs to merge


@dataclass
class AuditResult:
    evidence: Path
    assessment: Path
    reports: list[Path]
    bundle: Path
    key: Path
    public_key: Path
    verified: bool
    result: Assessment
    stages: list[tuple[str, str]] = field(default_factory=list)  # (stage, one-line summary)
    warnings: list[str] = field(default_factory=list)
    failed_inputs: list[str] = field(default_factory=list)


Step = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def run_audit(
    opts: AuditOptions, step: Step = _noop, progress: Callable[[int, int], None] | None = None
) -> AuditResult:
    """Run every stage; ``step(name)`` announces each stage, ``progress`` follows capture bytes."""
    from icsaudit.engine.site import parse_site
    from icsaudit.passive.pipeline import Analyzer

    out = Path(opts.output)
    out.mkdir(parents=True, exist_ok=True)
    model = parse_site(opts.site)  # first: a bad site model fails before hours of analysis
    if not opts.captures and not opts.probe and not opts.extra_evidence:
        raise InputError("nothing to audit: give captures (--pcap), --probe or --evidence")
    stages: list[tuple[str, str]] = []
    warnings: list[str] = []
    failed_inputs: list[str] = []  # captures that could not be read: reported, the rest goes on

    parts: list[Evidence] = []
    if opts.captures:
        step("analyze")
        analyzer = Analyzer(progress=progress)
        analyzer.analyze_files(opts.captures, keep_going=True)
        if len(analyzer.failures) == len(opts.captures):
            raise analyzer.failures[0][1]  # nothing readable: the first error, with its hint
        failed_inputs.extend(error.message for _path, error in analyzer.failures)
        passive = analyzer.finish()
        for f in passive.capture.files:
            warnings.extend(f"{f.path}: {p}" for p in f.problems)
        parts.append(passive)
        stages.append(
            (
                "analyze",
                f"{passive.capture.packets} packets, {len(passive.flows)} flows, "
                f"{len(passive.assets)} assets",
            )
        )
    if opts.probe:
        step("probe")
        probed, summary, probe_warnings = _probe(opts, model, parts)
        if probed is not None:
            parts.append(probed)
        stages.append(("probe", summary))
        warnings.extend(probe_warnings)
    if opts.extra_evidence:
        from icsaudit.evidence import load_evidence

        parts.extend(load_evidence(p) for p in opts.extra_evidence)
    if not parts:
        raise InputError("no evidence: nothing was captured and nothing could be probed")
    evidence = merge_evidence(parts) if len(parts) > 1 else parts[0]
    evidence_path = save_evidence(evidence, out / "evidence.json")

    vulnerabilities = vulnerability_assets = None
    if opts.advisories:
        vulnerabilities, vulnerability_assets, note = _match_advisories(evidence)
        if note:
            stages.append(("advisories", note))

    step("assess")
    from icsaudit.engine.assess import assess
    from icsaudit.engine.frameworks import load_answers
    from icsaudit.jsonio import write_json_atomic

    baseline = None
    if model.site.baseline:
        from icsaudit.evidence import load_evidence

        baseline = load_evidence(Path(opts.site).parent / model.site.baseline)
    result = assess(
        evidence,
        model,
        evidence_sha256=hashlib.sha256(evidence_path.read_bytes()).hexdigest(),
        answers=load_answers(opts.answers) if opts.answers else None,
        baseline=baseline,
        vulnerabilities=vulnerabilities,
        vulnerability_assets=vulnerability_assets,
    )
    assessment_path = write_json_atomic(out / "assessment.json", result)
    counts = result.summary.get("findings_by_severity", {})
    stages.append(
        (
            "assess",
            f"{len(result.findings)} findings "
            f"({', '.join(f'{k} {v}' for k, v in counts.items() if v) or 'none'})",
        )
    )

    step("report")
    from icsaudit.report.render import render

    reports = render(result, opts.formats, out / "report", redaction="internal")
    stages.append(("report", ", ".join(p.name for p in reports)))

    step("bundle")
    from icsaudit.report.bundle import bundle_files, verify_bundle, write_bundle
    from icsaudit.report.keys import load_private_key, load_public_key, new_keypair

    key = opts.key
    if key is None:
        key = out / "keys" / "audit.key"
        if not key.exists():
            new_keypair(key)
    public_key = Path(f"{key}.pub")
    signing = load_private_key(key)
    files = bundle_files(result, evidence, opts.redact, signing, None)
    bundle_path = write_bundle(files, out / "bundle", result.created, replace=True)  # a rerun replaces it
    step("verify")
    verification = verify_bundle(bundle_path, load_public_key(public_key) if public_key.exists() else None)
    stages.append(
        (
            "bundle",
            f"{len(files)} files, redaction {opts.redact}, "
            f"{'verified' if verification.ok else 'NOT VERIFIED'}",
        )
    )
    warnings.extend(verification.warnings)
    warnings.extend(verification.problems)
    return AuditResult(
        evidence=evidence_path,
        assessment=assessment_path,
        reports=reports,
        bundle=bundle_path,
        key=key,
        public_key=public_key,
        verified=verification.ok,
        result=result,
        stages=stages,
        warnings=warnings,
        failed_inputs=failed_inputs,
    )


def probe_targets(model: Any, observed: list[Evidence]) -> list[str]:
    """Listen first, ask second: probe the hosts the site declares and the traffic showed, never sweep
    whole zone ranges. The guard still decides which of them may be asked (zones, CSL, do-not-probe)."""
    addresses = {a.ip for a in model.site.assets if a.ip}
    for evidence in observed:
        addresses.update(a.ip for a in evidence.assets if a.ip)
    return sorted(addresses)


def _probe(
    opts: AuditOptions, model: Any, observed: list[Evidence]
) -> tuple[Evidence | None, str, list[str]]:
    """Safe identity probes of known hosts in the zones the site and profile allow, through the guard.

    A guard refusal of every target is an outcome to report, not a failure: the passive evidence stands.
    """
    from icsaudit.errors import SafetyRefusal
    from icsaudit.probes.session import ProbeRequest, probe

    targets = probe_targets(model, observed)
    if not targets:
        return None, "nothing probed: no declared or observed host", []
    request = ProbeRequest(
        site_model=model,
        targets=",".join(targets),
        rate=opts.probe_rate,
        transcript=Path(opts.output) / "probe.transcript.jsonl",
    )
    try:
        outcome = probe(request)
    except SafetyRefusal as exc:
        return (
            None,
            f"nothing probed: {exc.message}",
            [f"probe: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")],
        )
    save_evidence(outcome.evidence, Path(opts.output) / "probe-evidence.json")
    return outcome.evidence, f"{outcome.summary()}; transcript {outcome.transcript}", outcome.warnings


def _match_advisories(
    evidence: Evidence,
) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None, str]:
    """Vulnerability rows for AV-03 and which assets could be matched at all, from the local advisory
    store; (None, None, note) without one (AV-03 is then not assessed)."""
    try:
        from icsaudit.advisories.match import (
            AdvisoryIndex,
            vulnerability_coverage_rows,
            vulnerability_rows,
        )
    except ImportError:
        return None, None, ""
    try:
        index = AdvisoryIndex.from_store()  # loaded once for both tables
        rows = vulnerability_rows(evidence, index=index)
        coverage = vulnerability_coverage_rows(evidence, index=index)
    except InputError as exc:
        return None, None, f"not matched: {exc.message}"
    assessed = sum(1 for c in coverage if c["status"] == "assessed")
    return (
        rows,
        coverage,
        f"{len(rows)} advisory matches; {assessed} of {len(coverage)} assets identified well enough to match",
    )
