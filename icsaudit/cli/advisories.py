"""`icsaudit advisories`: import CSAF ICS advisories and CISA KEV offline, show the store, match devices."""

from __future__ import annotations

from pathlib import Path

import click

from icsaudit.cli.common import FORMAT_CHOICE
from icsaudit.errors import InputError

STORE_OPTION = click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Advisory store (SQLite). Default: $ICSAUDIT_HOME/advisories.sqlite or "
    "~/.local/share/icsaudit/advisories.sqlite.",
)


def _store(path: Path | None) -> Path:
    from icsaudit.advisories.store import default_store_path

    return path or default_store_path()


@click.group()
def advisories() -> None:
    """Known vulnerabilities of identified devices, from CSAF ICS advisories and CISA KEV (offline).

    \b
    Example:
      icsaudit advisories import csaf_files/ known_exploited_vulnerabilities.json
      icsaudit advisories match --vendor Siemens --product "6ES7 511-1AK02-0AB0" --firmware V2.9.4
    """


@advisories.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@STORE_OPTION
def import_(paths: tuple[Path, ...], store: Path | None) -> None:
    """Load CSAF 2.0 advisories and KEV catalogs (files or directories of *.json) into the store.

    A KEV catalog is recognized by its shape and replaces the stored one. Re-importing an advisory
    replaces it unless the stored revision is newer. A bad file is reported on one line and the
    others are still imported; the exit status is then non-zero.

    \b
    Example:
      icsaudit advisories import ../shared/reference/csaf ../shared/reference/kev.json --store adv.sqlite
    """
    from icsaudit.advisories.store import import_files

    target = _store(store)
    report = import_files(paths, target)
    click.echo(
        f"imported {report.advisories} advisories ({report.replaced} replaced), {report.products} products, "
        f"{report.vulnerabilities} vulnerabilities"
        + (f", {report.kev_entries} KEV entries (catalog {report.kev_version})" if report.kev_version else "")
        + f" from {report.files - len(report.failures)} of {report.files} files -> {target}"
    )
    if report.unparsed_ranges:
        click.echo(
            f"note: {report.unparsed_ranges} affected-version expressions cannot be compared; "
            "devices with those products match with medium confidence"
        )
    for line in report.kept_newer:
        click.secho(f"warning: {line}", fg="yellow", err=True)
    for _path, message in report.failures:
        click.secho(f"error: {message}", fg="red", err=True)
    if report.failures:
        click.secho(
            f"error: {len(report.failures)} of {report.files} files could not be imported", fg="red", err=True
        )
        raise click.exceptions.Exit(InputError.exit_code)
    if not report.files:
        raise InputError("no .json files found in " + ", ".join(str(p) for p in paths))


@advisories.command()
@STORE_OPTION
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
def status(store: Path | None, fmt: str) -> None:
    """Show what the store holds and how old it is.

    \b
    Example:
      icsaudit advisories status --format json
    """
    from icsaudit.advisories.store import age_days, store_status
    from icsaudit.jsonio import dumps_json

    state = store_status(_store(store))
    if fmt == "json":
        click.echo(dumps_json(state).decode().rstrip())
        return
    newest_age = age_days(state.newest_advisory)
    kev_age = age_days(state.kev_released)
    click.echo(f"store: {state.path}")
    click.echo(
        f"advisories: {state.advisories} ({state.products} products, {state.vulnerabilities} vulnerabilities); "
        f"first released {state.oldest_advisory[:10] or '-'}, newest {state.newest_advisory[:10] or '-'} "
        f"({state.newest_advisory_id or '-'}"
        + (f", {newest_age} days old)" if newest_age is not None else ")")
    )
    if state.kev_version:
        click.echo(
            f"KEV: {state.kev_entries} entries, catalog {state.kev_version} released {state.kev_released[:10]}"
            + (f" ({kev_age} days old)" if kev_age is not None else "")
        )
    else:
        click.echo("KEV: not imported (no known-exploited flags)")
    click.echo(f"last import: {state.last_import or '-'}")


@advisories.command()
@click.option("--vendor", default="", help="Device vendor as identified (Siemens, Allen-Bradley, ...).")
@click.option(
    "--product", default="", help="Model, order or catalog number (6ES7 511-1AK02-0AB0, 1756-L83E/B)."
)
@click.option("--firmware", default="", help="Firmware version as the device reports it (V2.9.4, 33.11).")
@click.option(
    "--evidence",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Match every asset of an evidence file instead of one device.",
)
@click.option(
    "--min-confidence", type=click.Choice(["low", "medium", "high"]), default="low", show_default=True
)
@STORE_OPTION
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
def match(
    vendor: str,
    product: str,
    firmware: str,
    evidence: Path | None,
    min_confidence: str,
    store: Path | None,
    fmt: str,
) -> None:
    """Advisories that affect a device (or every asset of an evidence file), with CVEs, CVSS, KEV
    status, remediation and the confidence of the match.

    \b
    Example:
      icsaudit advisories match --vendor Siemens --product "SCALANCE XCM324" --firmware V2.3
      icsaudit advisories match --evidence evidence.json --min-confidence medium --format json
    """
    from icsaudit.advisories.match import CONFIDENCE_RANK, AdvisoryIndex
    from icsaudit.jsonio import dumps_json

    if not evidence and not product:
        raise InputError("give --product (with --vendor and --firmware) or --evidence")
    index = AdvisoryIndex.from_store(_store(store))
    if evidence:
        from icsaudit.evidence import load_evidence

        found = index.match_assets(load_evidence(evidence).assets)
    else:
        found = index.match_device(index.device("device", vendor, product, firmware))
    found = [m for m in found if CONFIDENCE_RANK[m.confidence] >= CONFIDENCE_RANK[min_confidence]]
    if fmt == "json":
        click.echo(dumps_json(found).decode().rstrip())
        return
    if not found:
        click.echo("no matching advisory")
        return
    for m in found:
        kev = " KEV" if m.kev else ""
        cvss = f"CVSS {m.cvss}" if m.cvss is not None else "CVSS -"
        head = f"{m.asset_id}: " if evidence else ""
        click.echo(f"{head}{m.advisory_id}  {m.confidence}  {cvss}{kev}  {m.product}  [{m.version_range}]")
        click.echo(f"  {m.title}")
        more = f" and {len(m.cves) - 10} more" if len(m.cves) > 10 else ""
        click.echo(f"  CVEs: {', '.join(m.cves[:10])}{more}")
        for d in m.details:
            if d.kev:
                click.echo(
                    f"  known exploited: {d.cve} (KEV since {d.kev_date_added}): {d.kev_required_action}"
                )
        click.echo(f"  why: {m.reason}")
        for line in m.remediation.splitlines()[:6]:
            click.echo(f"  fix: {line}")
        if m.url:
            click.echo(f"  {m.url}")
    high = sum(1 for m in found if m.confidence == "high")
    click.echo(f"{len(found)} advisories ({high} high confidence, {sum(m.kev for m in found)} with KEV)")


@advisories.command()
@click.argument("evidence_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("vulnerabilities.json"),
    show_default=True,
    help="JSON list, one row per asset, advisory and CVE (the check engine's vulnerabilities table).",
)
@click.option(
    "--coverage",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write one row per asset: assessed, no-model, no-firmware or vendor-not-in-store.",
)
@STORE_OPTION
def table(evidence_file: Path, output: Path, coverage: Path | None, store: Path | None) -> None:
    """Match every asset of an evidence file and write the rows `icsaudit assess --vulnerabilities` loads.

    \b
    Example:
      icsaudit advisories table evidence.json -o vulnerabilities.json --coverage vuln-assets.json
      icsaudit assess evidence.json --site site.yaml --vulnerabilities vulnerabilities.json
    """
    from icsaudit.advisories.match import AdvisoryIndex, vulnerability_coverage_rows, vulnerability_rows
    from icsaudit.evidence import load_evidence
    from icsaudit.jsonio import write_json_atomic

    evidence = load_evidence(evidence_file)
    index = AdvisoryIndex.from_store(_store(store))
    rows = vulnerability_rows(evidence, index=index)
    write_json_atomic(output, rows)
    states = vulnerability_coverage_rows(evidence, index=index)
    if coverage:
        write_json_atomic(coverage, states)
    counts: dict[str, int] = {}
    for state in states:
        counts[state["status"]] = counts.get(state["status"], 0) + 1
    affected = {r["asset_id"] for r in rows}
    click.echo(
        f"{len(rows)} rows: {len(affected)} of {len(states)} assets affected, "
        f"{len({r['asset_id'] for r in rows if r['kev']})} with KEV; assets "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + f" -> {output}"
    )


COMMANDS = [advisories]
