"""`icsaudit report|keys|bundle|verify|diff|aggregate`: assessments → reports, signed bundles, overviews."""

from __future__ import annotations

import json
from pathlib import Path

import click

from icsaudit.errors import InputError

FILE = click.Path(dir_okay=False, path_type=Path)


@click.command()
@click.argument("assessment", type=FILE)
@click.option(
    "-f",
    "--format",
    "formats",
    default="html,md,json,csv,oscal",
    show_default=True,
    help="Comma-separated: html, md, json, csv, oscal, pdf (pdf needs `pip install icsaudit[pdf]`).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("report"),
    show_default=True,
    help="Directory to write into (each file atomically).",
)
def report(assessment: Path, formats: str, output: Path) -> None:
    """Render an assessment as HTML, Markdown, JSON, CSV, OSCAL or PDF.

    \b
    Example:
      icsaudit report assessment.json --format html,md,csv,oscal -o out/
    """
    from icsaudit.report.io import load_assessment
    from icsaudit.report.render import parse_formats, render

    wanted = parse_formats(formats)
    a = load_assessment(assessment)
    for path in render(a, wanted, output):
        click.echo(str(path))


@click.group()
def keys() -> None:
    """Manage Ed25519 keys that sign bundles.

    \b
    Example:
      icsaudit keys new -o facility.key
    """


@keys.command("new")
@click.option(
    "-o",
    "--output",
    type=FILE,
    required=True,
    help="Private key file (mode 0600); KEYFILE.pub is written too.",
)
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
def keys_new(output: Path, force: bool) -> None:
    """Create a signing key pair: KEYFILE (private, 0600) and KEYFILE.pub.

    \b
    Example:
      icsaudit keys new -o facility.key     # give facility.key.pub to the regulator
    """
    from icsaudit.report.keys import new_keypair

    private, public, kid = new_keypair(output, force)
    click.echo(f"key {kid}: private {private} (0600), public {public}")


@click.command()
@click.argument("assessment", type=FILE)
@click.option("--key", "key_file", type=FILE, required=True, help="Private signing key (icsaudit keys new).")
@click.option("--evidence", type=FILE, help="Evidence file to include (internal and regulator levels).")
@click.option(
    "--redact",
    "redaction",
    type=click.Choice(["internal", "regulator", "regional"]),
    default="internal",
    show_default=True,
    help="internal: everything; regulator: keyed pseudonyms, no credentials; regional: counts only.",
)
@click.option(
    "--pseudonym-key",
    type=FILE,
    help="Secret for pseudonyms (default: derived from --key), so bundles "
    "of one facility stay comparable when the signing key rotates.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Bundle directory, or a file ending in .tar.gz.",
)
def bundle(
    assessment: Path,
    key_file: Path,
    evidence: Path | None,
    redaction: str,
    pseudonym_key: Path | None,
    output: Path,
) -> None:
    """Write a signed bundle: reports, assessment, evidence, SHA-256 manifest, Ed25519 signature.

    \b
    Example:
      icsaudit bundle assessment.json --key facility.key --evidence evidence.json \\
          --redact regulator -o riverbend-2026q1.tar.gz
    """
    from icsaudit.evidence import load_evidence
    from icsaudit.report.bundle import bundle_files, write_bundle
    from icsaudit.report.io import load_assessment
    from icsaudit.report.keys import key_id, load_private_key

    a = load_assessment(assessment)
    ev = load_evidence(evidence) if evidence else None
    signing = load_private_key(key_file)
    files = bundle_files(a, ev, redaction, signing, pseudonym_key)
    write_bundle(files, output, a.created)
    click.echo(f"{len(files)} files ({redaction}), signed by key {key_id(signing.public_key())} -> {output}")


@click.command()
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(path_type=Path))
@click.option(
    "--key", "key_file", type=FILE, help="Signer's public key; without it only the bundle's own key is used."
)
@click.pass_context
def verify(ctx: click.Context, bundle_path: Path, key_file: Path | None) -> None:
    """Verify a bundle: signature, and every file against the manifest (changed, missing, added).

    \b
    Example:
      icsaudit verify riverbend-2026q1.tar.gz --key facility.key.pub
    """
    from icsaudit.report.bundle import verify_bundle
    from icsaudit.report.keys import load_public_key

    result = verify_bundle(bundle_path, load_public_key(key_file) if key_file else None)
    for warning in result.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if not result.ok:
        for problem in result.problems:
            click.secho(f"error: {problem}", fg="red", err=True)
        ctx.exit(1)
    m = result.manifest
    click.echo(
        f"OK {bundle_path}: {len(m['files'])} files, redaction {m.get('redaction')}, "
        f"signed by key {m.get('key_id')}"
    )


@click.command()
@click.argument("old", type=FILE)
@click.argument("new", type=FILE)
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text", show_default=True)
def diff(old: Path, new: Path, fmt: str) -> None:
    """Compare two assessments: new, fixed and still-open findings, assets, coverage per framework.

    \b
    Example:
      icsaudit diff 2026q1/assessment.json 2026q2/assessment.json --format md > changes.md
    """
    from icsaudit.report.diff import diff_assessments, diff_text
    from icsaudit.report.io import load_assessment

    d = diff_assessments(load_assessment(old), load_assessment(new))
    click.echo(
        json.dumps(d, indent=1, sort_keys=True) if fmt == "json" else diff_text(d, fmt == "md"),
        nl=fmt == "json",
    )


@click.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--key",
    "key_files",
    multiple=True,
    type=FILE,
    help="Accepted signer public keys (repeat). With keys, bundles signed by any other key are refused.",
)
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.pass_context
def aggregate(
    ctx: click.Context, bundles: tuple[Path, ...], key_files: tuple[Path, ...], output: Path
) -> None:
    """Verify many facilities' bundles and compare those of the same profile (HTML + CSV).

    \b
    Example:
      icsaudit aggregate inbox/*.tar.gz --key keys/*.pub -o overview/
    """
    from icsaudit.report.aggregate import aggregate as run
    from icsaudit.report.aggregate import write_overview
    from icsaudit.report.keys import load_public_key

    summaries, statuses = run(list(bundles), [load_public_key(k) for k in key_files])
    for path in write_overview(summaries, statuses, output):
        click.echo(str(path))
    for s in statuses:
        if s.status == "unpinned":
            click.secho(
                f"warning: {s.name}: signer not pinned ({s.key_id}); pass --key to authenticate it",
                fg="yellow",
                err=True,
            )
    refused = [s for s in statuses if s.status == "refused"]
    for s in refused:
        click.secho(f"error: REFUSED {s.detail}", fg="red", err=True)
    if not summaries:
        raise InputError("no bundle verified; the overview lists why each was refused")
    if refused:
        ctx.exit(1)


COMMANDS = [report, keys, bundle, verify, diff, aggregate]
