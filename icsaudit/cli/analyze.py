"""`icsaudit analyze` and `icsaudit merge`: captures → evidence."""

from __future__ import annotations

from pathlib import Path

import click

from icsaudit.cli.common import byte_progress, want_progress
from icsaudit.errors import InputError
from icsaudit.evidence import load_evidence, merge_evidence, save_evidence
from icsaudit.jsonio import write_json_atomic


@click.command()
@click.argument("captures", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("evidence.json"),
    show_default=True,
    help="Evidence file to write (atomically).",
)
@click.option(
    "--stats-json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write per-protocol statistics in the shape of the corpus truth files.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, only the summary line.")
def analyze(captures: tuple[Path, ...], output: Path, stats_json: Path | None, quiet: bool) -> None:
    """Analyze pcap/pcapng captures passively and write evidence.

    A capture that cannot be read is reported on one line and the others are still analyzed and
    written; the exit status is then non-zero.

    \b
    Example:
      icsaudit analyze span-port-*.pcapng -o evidence.json --stats-json stats.json
    """
    from icsaudit.passive.pipeline import Analyzer, stats_document

    with byte_progress("analyzing", want_progress(quiet)) as progress:
        analyzer = Analyzer(progress=progress)
        analyzer.analyze_files(captures, keep_going=True)
        failures = analyzer.failures
        if failures and len(failures) == len(captures) and len(failures) == 1:
            raise failures[0][1]  # nothing else to keep: the one error, with its hint
        evidence = analyzer.finish()
    if len(failures) < len(captures):
        save_evidence(evidence, output)
        if stats_json:
            write_json_atomic(stats_json, stats_document(evidence))
    cap = evidence.capture
    failed = {str(path) for path, _error in failures}
    for f in cap.files:
        if f.path in failed:
            continue  # reported as an error below
        for problem in f.problems:
            click.secho(f"warning: {f.path}: {problem}", fg="yellow", err=True)
    for _path, error in failures:
        click.secho(f"error: {error.message}", fg="red", err=True)
    if len(failures) == len(captures):
        raise click.exceptions.Exit(InputError.exit_code)
    click.echo(
        f"{cap.packets} packets, {len(evidence.flows)} flows, {len(evidence.assets)} assets, "
        f"{len(evidence.events)} events, {sum(s.pdus for s in cap.protocols.values())} ICS/IT PDUs "
        f"({', '.join(cap.protocols) or 'no known protocol'}) -> {output}"
    )
    if failures:
        click.secho(
            f"error: {len(failures)} of {len(captures)} captures could not be analyzed; "
            f"evidence of the others written to {output}",
            fg="red",
            err=True,
        )
        raise click.exceptions.Exit(InputError.exit_code)


@click.command()
@click.argument("evidence_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def merge(evidence_files: tuple[Path, ...], output: Path) -> None:
    """Merge several evidence files (from captures or probe runs) into one.

    \b
    Example:
      icsaudit merge monday.json tuesday.json probes.json -o week.json
    """
    merged = merge_evidence(load_evidence(p) for p in evidence_files)
    save_evidence(merged, output)
    click.echo(
        f"merged {len(evidence_files)} files: {len(merged.flows)} flows, {len(merged.assets)} assets -> {output}"
    )


COMMANDS = [analyze, merge]
