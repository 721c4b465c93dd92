"""`icsaudit assess`, `checks`, `profiles`, `site`, `answers`: the judging half of the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from icsaudit.cli.common import FORMAT_CHOICE
from icsaudit.errors import InputError

FAIL_ON = click.Choice(["none", "info", "low", "medium", "high", "critical"])
EXIT_FINDINGS = 4  # --fail-on threshold reached (distinct from 2 = bad input, 3 = safety refusal)
PATH = click.Path(dir_okay=False, path_type=Path)
FAIL_ON_OPTION = click.option(
    "--fail-on",
    type=FAIL_ON,
    default="critical",
    show_default=True,
    help=f"Exit {EXIT_FINDINGS} when a finding reaches this severity ('none': never).",
)


def _json_list(path: Path, what: str) -> list[dict]:
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a JSON list of {what}: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError(f"{path}: not a JSON list of {what}")
    return rows


@click.command()
@click.argument("evidence_file", type=PATH)
@click.option("--site", "site_file", type=PATH, help="Site model (site.yaml).")
@click.option("--profile", help="Facility profile id when there is no site model (nothing is zoned).")
@click.option("--answers", "answers_file", type=PATH, help="Manual answers (YAML) for requirements.")
@click.option(
    "--vulnerabilities",
    "vulns_file",
    type=PATH,
    help="JSON list of firmware/advisory matches for AV-03 (icsaudit advisories table -o FILE).",
)
@click.option(
    "--vulnerability-coverage",
    "coverage_file",
    type=PATH,
    help="JSON list of per-asset match coverage (icsaudit advisories table --coverage FILE): "
    "controllers that could not be matched make a clean AV-03 not-assessed instead of pass.",
)
@click.option("-o", "--output", type=PATH, default=Path("assessment.json"), show_default=True)
@FAIL_ON_OPTION
@click.option("-q", "--quiet", is_flag=True, help="Only the one-line summary.")
def assess(
    evidence_file: Path,
    site_file: Path | None,
    profile: str | None,
    answers_file: Path | None,
    vulns_file: Path | None,
    coverage_file: Path | None,
    output: Path,
    fail_on: str,
    quiet: bool,
) -> None:
    """Judge evidence against the checks of the site's profile and write the assessment.

    \b
    Exit status: 0 ok, 4 when a finding reaches --fail-on, 2 bad input.
    \b
    Example:
      icsaudit assess evidence.json --site site.yaml --answers answers.yaml -o assessment.json
      icsaudit assess evidence.json --profile water-chlorine --fail-on high
      icsaudit assess evidence.json --site site.yaml --vulnerabilities vulns.json \\
          --vulnerability-coverage vuln-assets.json
    """
    from rich.console import Console

    from icsaudit.engine.assess import assess as run_assess
    from icsaudit.engine.frameworks import load_answers
    from icsaudit.engine.severity import RANK
    from icsaudit.engine.site import parse_site, site_from_profile
    from icsaudit.engine.summary import print_summary
    from icsaudit.evidence import load_evidence
    from icsaudit.jsonio import write_json_atomic

    if site_file is None and profile is None:
        raise InputError("give --site site.yaml or --profile ID", hint="icsaudit profiles list shows the ids")
    model = parse_site(site_file) if site_file else site_from_profile(profile)
    if site_file and profile and profile != model.profile.id:
        raise InputError(f"--profile {profile} contradicts {site_file}: profile {model.profile.id}")
    evidence = load_evidence(evidence_file)
    baseline = None
    if model.site.baseline:
        base_path = (Path(site_file).parent / model.site.baseline) if site_file else Path(model.site.baseline)
        baseline = load_evidence(base_path)
    vulnerabilities = _json_list(vulns_file, "vulnerability matches") if vulns_file else None
    coverage = _json_list(coverage_file, "per-asset match coverage rows") if coverage_file else None
    if coverage is not None and vulnerabilities is None:
        raise InputError("--vulnerability-coverage needs --vulnerabilities (the same matcher run)")
    import hashlib

    digest = hashlib.sha256(evidence_file.read_bytes()).hexdigest()
    result = run_assess(
        evidence,
        model,
        evidence_sha256=digest,
        baseline=baseline,
        vulnerabilities=vulnerabilities,
        vulnerability_assets=coverage,
        answers=load_answers(answers_file) if answers_file else None,
    )
    write_json_atomic(output, result)
    if not quiet:
        print_summary(result, Console())
    counts = result.summary["findings_by_severity"]
    click.echo(
        f"{len(result.findings)} findings ({', '.join(f'{k} {v}' for k, v in counts.items() if v) or 'none'}) "
        f"-> {output}"
    )
    if fail_on != "none" and any(RANK[f.severity] >= RANK[fail_on] for f in result.findings):
        sys.exit(EXIT_FINDINGS)


@click.group()
def checks() -> None:
    """List, show, test and validate the checks.

    \b
    Example:
      icsaudit checks list --format json
    """


@checks.command("list")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
def checks_list(fmt: str) -> None:
    """List the shipped checks.

    \b
    Example:
      icsaudit checks list
    """
    from icsaudit.engine.checks import load_checks

    items = load_checks()
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "id": c.id,
                        "title": c.title,
                        "area": c.area,
                        "severity": c.severity,
                        "source": c.source,
                        "requires": c.requires,
                        "maps": c.maps,
                    }
                    for c in items
                ],
                indent=1,
            )
        )
        return
    for c in items:
        click.echo(f"{c.id}  {c.severity:<8} {c.area:<24} {c.title}")
    click.echo(f"{len(items)} checks")


@checks.command("show")
@click.argument("check_id")
def checks_show(check_id: str) -> None:
    """Show one check file.

    \b
    Example:
      icsaudit checks show IC-01
    """
    from icsaudit.engine.checks import find_check

    click.echo(Path(find_check(check_id).path).read_text(), nl=False)


@checks.command("test")
@click.argument("check_ids", nargs=-1)
def checks_test(check_ids: tuple[str, ...]) -> None:
    """Run every check's fixtures: it must fail on its fail fixtures and pass on its pass fixtures.

    \b
    Example:
      icsaudit checks test            # all checks
      icsaudit checks test IC-01 CB-03
    """
    from rich.console import Console
    from rich.table import Table

    from icsaudit.engine.checks import find_check, load_checks
    from icsaudit.engine.fixtures import test_checks

    selected = [find_check(c) for c in check_ids] if check_ids else load_checks()
    results = test_checks(selected)
    table = Table()
    for col in ("check", "fixture", "expected", "got", "rows", ""):
        table.add_column(col)
    for r in results:
        table.add_row(
            r.check_id,
            Path(r.fixture).name,
            r.expected,
            r.status,
            str(r.rows),
            "[green]ok[/]" if r.ok else f"[red]MISMATCH[/] {r.reason}",
        )
    Console().print(table)
    bad = sum(not r.ok for r in results)
    click.echo(f"{len(selected)} checks, {len(results)} fixtures, {bad} mismatches")
    if bad:
        sys.exit(1)


@checks.command("validate")
@click.argument("files", nargs=-1, required=True, type=PATH)
def checks_validate(files: tuple[Path, ...]) -> None:
    """Validate check YAML files (schema, requires vocabulary, fixtures exist).

    \b
    Example:
      icsaudit checks validate checks/cbrn/CB-03.yaml my-check.yaml
    """
    from icsaudit.engine.checks import load_check
    from icsaudit.errors import IcsauditError

    failed = 0
    for path in files:
        try:
            check = load_check(path)
            click.echo(f"{path}: ok ({check.id})")
        except IcsauditError as exc:
            failed += 1
            click.secho(f"error: {exc.message}", fg="red", err=True)
    if failed:
        sys.exit(2)


@click.group()
def profiles() -> None:
    """Facility profiles.

    \b
    Example:
      icsaudit profiles list
    """


@profiles.command("list")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
def profiles_list(fmt: str) -> None:
    """List the facility profiles.

    \b
    Example:
      icsaudit profiles list --format json
    """
    from icsaudit.engine.profiles import load_profiles

    items = load_profiles()
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "id": p.id,
                        "title": p.title,
                        "zones": [t.id for t in p.zone_templates],
                        "frameworks": p.frameworks,
                    }
                    for p in items
                ],
                indent=1,
            )
        )
        return
    for p in items:
        click.echo(f"{p.id:<20} {p.title}")


@profiles.command("show")
@click.argument("profile_id")
def profiles_show(profile_id: str) -> None:
    """Show one profile file.

    \b
    Example:
      icsaudit profiles show chemical-toxic
    """
    from icsaudit.engine.profiles import load_profile

    click.echo(Path(load_profile(profile_id).path).read_text(), nl=False)


@click.group()
def site() -> None:
    """Site models.

    \b
    Example:
      icsaudit site init evidence.json --profile water-chlorine -o site.yaml
    """


@site.command("init")
@click.argument("evidence_file", type=PATH)
@click.option("--profile", required=True, help="Facility profile id.")
@click.option("--name", default="", help="Site name.")
@click.option("-o", "--output", type=PATH, default=Path("site.yaml"), show_default=True)
def site_init(evidence_file: Path, profile: str, name: str, output: Path) -> None:
    """Draft a site model from observed evidence, with comments saying what to review.

    \b
    Example:
      icsaudit site init evidence.json --profile nuclear-power -o site.yaml
    """
    from icsaudit.engine.profiles import load_profile
    from icsaudit.engine.siteinit import draft_site
    from icsaudit.evidence import load_evidence
    from icsaudit.jsonio import write_bytes_atomic

    text = draft_site(load_evidence(evidence_file), load_profile(profile), name)
    write_bytes_atomic(output, text.encode())
    click.echo(f"draft site model -> {output} (review the comments before use)")


@site.command("validate")
@click.argument("site_file", type=PATH)
def site_validate(site_file: Path) -> None:
    """Validate a site model.

    \b
    Example:
      icsaudit site validate site.yaml
    """
    from icsaudit.engine.site import parse_site

    model = parse_site(site_file)
    click.echo(f"{site_file}: ok ({model.profile.id}, {len(model.zones)} zones)")


@click.group()
def answers() -> None:
    """Manual answers for framework requirements no check can observe.

    \b
    Example:
      icsaudit answers template --framework iaea-nss17 -o answers.yaml
    """


@answers.command("template")
@click.option(
    "--framework",
    required=True,
    type=click.Choice(["iec62443-3-3", "nist-800-53r5", "iaea-nss17", "attack-ics"]),
)
@click.option("-o", "--output", type=PATH, default=Path("answers.yaml"), show_default=True)
def answers_template(framework: str, output: Path) -> None:
    """Write a questionnaire: requirements not covered by any check first.

    \b
    Example:
      icsaudit answers template --framework iec62443-3-3 -o answers.yaml
    """
    from icsaudit.engine.checks import load_checks
    from icsaudit.engine.frameworks import answers_template as template
    from icsaudit.jsonio import write_bytes_atomic

    text = template(framework, {c.id: c.maps for c in load_checks()})
    write_bytes_atomic(output, text.encode())
    click.echo(f"questionnaire for {framework} -> {output}")


COMMANDS = [assess, checks, profiles, site, answers]
