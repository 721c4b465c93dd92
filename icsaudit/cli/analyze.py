"""`icsaudit analyze` and `icsaudit merge`: captures → evidence."""

from __future__ import annotations

from pathlib import Path

import click

from icsaudit.cli.common import byte_progress, want_progress
from icsaudit.errors import InputError
from icsaudit.evidence import load_evidence, merge_evidence, save_evidence
from icsaudit.jsonio import write_json_atomic

# Default --jobs: a process per this many capture bytes, up to every core (starting a process costs
# more than analyzing a small capture in it). The evidence is the same for any number of jobs.
BYTES_PER_JOB = 16 << 20


@click.command()
@click.argument("captures", nargs=-1, type=click.Path(path_type=Path))
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
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Processes to analyze with [default: every core, fewer for small captures]. "
    "The evidence is the same for any number.",
)
@click.option(
    "--dask",
    "dask_address",
    metavar="ADDRESS",
    help="Analyze on a Dask cluster (scheduler address, e.g. tcp://10.0.0.5:8786) instead of locally.",
)
@click.option("-i", "--iface", metavar="IF", help="Capture and analyze this interface live (no CAPTURES).")
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), metavar="S", help="Live: stop after S seconds."
)
@click.option("--count", type=click.IntRange(min=1), metavar="N", help="Live: stop after N packets.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, only the summary line.")
def analyze(
    captures: tuple[Path, ...],
    output: Path,
    stats_json: Path | None,
    jobs: int | None,
    dask_address: str | None,
    iface: str | None,
    duration: float | None,
    count: int | None,
    quiet: bool,
) -> None:
    """Analyze pcap/pcapng captures (or a live interface) passively and write evidence.

    Captures are read as one continuous capture (a connection cut by a ring-buffer file boundary is
    reassembled across it) and split by address pair over --jobs processes or a --dask cluster.
    A capture that cannot be read is reported on one line and the others are still analyzed and
    written; the exit status is then non-zero.

    \b
    Examples:
      icsaudit analyze span-port-*.pcapng -o evidence.json --stats-json stats.json
      icsaudit analyze big.pcapng -j 8                        # 8 processes
      icsaudit analyze /data/ring-*.pcapng --dask tcp://10.0.0.5:8786
      icsaudit analyze -i eth1 --duration 600 -o evidence.json   # 10 minutes live (needs capture rights)
      icsaudit analyze -i eth1 --count 100000
    """
    from icsaudit.passive.pipeline import stats_document

    if iface:
        if captures:
            raise click.UsageError("give capture files or --iface, not both")
        if dask_address or jobs:
            raise click.UsageError("--jobs/--dask apply to capture files, not to --iface")
        if not duration and not count:
            raise click.UsageError("--iface needs a limit: --duration SECONDS or --count PACKETS")
    else:
        if not captures:
            raise click.UsageError("give capture files, or --iface IF for live analysis")
        if duration or count:
            raise click.UsageError("--duration/--count apply to live analysis (--iface)")
        if dask_address and jobs:
            raise click.UsageError("--jobs is for local processes; --dask uses the cluster's workers")

    failures: list[tuple[str, InputError]] = []
    with byte_progress("analyzing", want_progress(quiet)) as progress:
        if iface:
            from icsaudit.passive.live import analyze_live

            evidence = analyze_live(iface, duration, count, progress)
        else:
            if dask_address:
                from icsaudit.passive.distributed import run_dask

                outcome = run_dask(captures, dask_address)
            else:
                from icsaudit.passive.parallel import default_jobs, run_parallel

                if jobs is None:
                    # Every core, but not more processes than captures worth starting one for.
                    size = sum(p.stat().st_size for p in captures if p.is_file())
                    jobs = max(1, min(default_jobs(), size // BYTES_PER_JOB + 1))
                outcome = run_parallel(captures, jobs, progress)
            failures = [(f.path, f.error()) for f in outcome.failures]
            if failures and len(failures) == len(captures) == 1:
                raise failures[0][1]  # nothing else to keep: the one error, with its hint
            evidence = outcome.evidence
    total = len(captures) if captures else 1
    if len(failures) < total:
        save_evidence(evidence, output)
        if stats_json:
            write_json_atomic(stats_json, stats_document(evidence))
    cap = evidence.capture
    failed = {path for path, _error in failures}
    for f in cap.files:
        if f.path in failed:
            continue  # reported as an error below
        for problem in f.problems:
            click.secho(f"warning: {f.path}: {problem}", fg="yellow", err=True)
    for _path, error in failures:
        click.secho(f"error: {error.message}", fg="red", err=True)
    if len(failures) == total:
        raise click.exceptions.Exit(InputError.exit_code)
    click.echo(
        f"{cap.packets} packets, {len(evidence.flows)} flows, {len(evidence.assets)} assets, "
        f"{len(evidence.events)} events, {sum(s.pdus for s in cap.protocols.values())} ICS/IT PDUs "
        f"({', '.join(cap.protocols) or 'no known protocol'}) -> {output}"
    )
    if failures:
        click.secho(
            f"error: {len(failures)} of {total} captures could not be analyzed; "
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
