"""`icsaudit audit`: the whole chain in one command, fit for a scheduled job."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from icsaudit.cli.common import want_progress
from icsaudit.cli.engine import EXIT_FINDINGS, FAIL_ON_OPTION

FILE = click.Path(dir_okay=False, path_type=Path)
REDACT = click.Choice(["internal", "regulator", "regional"])


@click.command()
@click.option("--site", "site", type=FILE, required=True, help="Site model (site.yaml).")
@click.option("--pcap", "captures", type=FILE, multiple=True, help="Capture to analyze (repeatable).")
@click.option("--evidence", "extra", type=FILE, multiple=True, help="Earlier evidence to merge (repeatable).")
@click.option("--probe", is_flag=True, help="Also run safe read-only identity probes where the site allows.")
@click.option("--rate", type=click.FloatRange(min=0.1), help="Probe packets-per-second cap.")
@click.option("--answers", type=FILE, help="Manual answers (YAML) for requirements traffic cannot show.")
@click.option("--key", type=FILE, help="Ed25519 signing key (default: a new one in OUT/keys/).")
@click.option("--redact", type=REDACT, default="internal", show_default=True, help="Redaction of the bundle.")
@click.option(
    "--format",
    "formats",
    default="html,md,json,csv,oscal",
    show_default=True,
    help="Report formats, comma-separated.",
)
@FAIL_ON_OPTION
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Output directory.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def audit(
    site: Path,
    captures: tuple[Path, ...],
    extra: tuple[Path, ...],
    probe: bool,
    rate: float | None,
    answers: Path | None,
    key: Path | None,
    redact: str,
    formats: str,
    fail_on: str,
    output: Path,
    quiet: bool,
) -> None:
    """Run the whole audit: analyze → probe → assess → report → signed bundle → verify.

    \b
    Exit status: 0 ok, 4 when a finding reaches --fail-on, 2 bad input, 3 safety refusal.
    \b
    Example:
      icsaudit audit --site site.yaml --pcap span-monday.pcapng --pcap span-tuesday.pcapng \\
          --answers answers.yaml --key facility.key -o out/2026q4
    """
    from icsaudit.audit import AuditOptions, run_audit
    from icsaudit.cli.common import byte_progress
    from icsaudit.engine.severity import RANK
    from icsaudit.report.render import parse_formats

    opts = AuditOptions(
        site=site,
        captures=list(captures),
        output=output,
        probe=probe,
        probe_rate=rate,
        answers=answers,
        key=key,
        formats=tuple(parse_formats(formats)),
        redact=redact,
        extra_evidence=list(extra),
    )
    show = want_progress(quiet)
    with byte_progress("analyzing", show) as progress:
        result = run_audit(
            opts,
            step=(lambda s: click.echo(f"· {s}", err=True)) if not quiet else (lambda s: None),
            progress=progress,
        )
    for warning in result.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    for stage, summary in result.stages:
        click.echo(f"{stage:>10}: {summary}")
    click.echo(f"  evidence: {result.evidence}")
    click.echo(f"assessment: {result.assessment}")
    html = [p for p in result.reports if p.suffix == ".html"]
    if html:
        click.echo(f"    report: {html[0]}")
    click.echo(
        f"    bundle: {result.bundle} ({'verified' if result.verified else 'NOT VERIFIED'} "
        f"with {result.public_key})"
    )
    for failed in result.failed_inputs:
        click.secho(f"error: {failed} (the other captures were audited)", fg="red", err=True)
    if not result.verified:
        sys.exit(1)
    if result.failed_inputs:
        sys.exit(2)
    if fail_on != "none" and any(RANK[f.severity] >= RANK[fail_on] for f in result.result.findings):
        sys.exit(EXIT_FINDINGS)


COMMANDS = [audit]
