"""`icsaudit capture`: record an interface to pcapng (ring buffer), or analyze it live into evidence."""

from __future__ import annotations

from pathlib import Path

import click

from icsaudit.cli.common import byte_progress, want_progress
from icsaudit.errors import InputError


@click.command()
@click.option("-i", "--iface", help="Interface to capture on (see --list-interfaces).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Capture file to write (pcapng with dumpcap, pcap with tcpdump); with --analyze, the evidence file.",
)
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many packets.")
@click.option(
    "--ring-size",
    "ring_size",
    type=click.IntRange(min=1),
    help="Start a new file every this many MB (ring buffer).",
)
@click.option(
    "--ring-files",
    type=click.IntRange(min=1),
    help="Keep at most this many ring files (oldest overwritten); needs --ring-size.",
)
@click.option("-f", "--filter", "capture_filter", help="Capture filter in BPF syntax, e.g. 'not port 22'.")
@click.option(
    "--tool",
    type=click.Choice(["dumpcap", "tcpdump"]),
    help="Capturing process (default: dumpcap if present).",
)
@click.option(
    "--analyze",
    "analyze_now",
    is_flag=True,
    help="Analyze the traffic live through the passive pipeline and write evidence to -o.",
)
@click.option(
    "--stats-json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --analyze: also write per-protocol statistics (corpus truth shape).",
)
@click.option("--list-interfaces", is_flag=True, help="List the interfaces and exit.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def capture(
    iface: str | None,
    output: Path | None,
    duration: float | None,
    count: int | None,
    ring_size: int | None,
    ring_files: int | None,
    capture_filter: str | None,
    tool: str | None,
    analyze_now: bool,
    stats_json: Path | None,
    list_interfaces: bool,
    quiet: bool,
) -> None:
    """Capture traffic from a network interface (e.g. a SPAN/mirror port), or analyze it live.

    \b
    The capture runs in dumpcap or tcpdump, so only that tool needs capture rights
    (root, or the wireshark group / CAP_NET_RAW). Stop with --duration, --count or Ctrl-C.

    \b
    Examples:
      icsaudit capture -i eth1 --duration 3600 --ring-size 100 --ring-files 24 -o span.pcapng
      icsaudit capture -i eth1 --duration 600 --analyze -o evidence.json
    """
    from icsaudit.passive import live

    if list_interfaces:
        click.echo("\n".join(live.list_interfaces()))
        return
    if not iface:
        raise InputError("no interface given", hint="--iface NAME; list them with --list-interfaces")
    if output is None:
        raise InputError(
            "no output file given", hint="-o capture.pcapng (or -o evidence.json with --analyze)"
        )
    if ring_files and not ring_size:
        raise InputError("--ring-files needs --ring-size")
    live.check_interface(iface)
    if analyze_now:
        from icsaudit.evidence import save_evidence
        from icsaudit.jsonio import write_json_atomic
        from icsaudit.passive.pipeline import stats_document

        with byte_progress("analyzing", want_progress(quiet)) as progress:
            evidence = live.analyze_live(
                iface,
                duration=duration,
                count=count,
                progress=progress,
                capture_filter=capture_filter,
                tool=tool,
            )
        save_evidence(evidence, output)
        if stats_json:
            write_json_atomic(stats_json, stats_document(evidence))
        cap = evidence.capture
        click.echo(
            f"{cap.packets} packets from {iface}, {len(evidence.flows)} flows, {len(evidence.assets)} assets, "
            f"{len(evidence.events)} events ({', '.join(cap.protocols) or 'no known protocol'}) -> {output}"
        )
        return
    if not quiet:
        limit = " and ".join(
            x for x in (f"{duration:g} s" if duration else "", f"{count} packets" if count else "") if x
        )
        click.echo(f"capturing on {iface} ({'until ' + limit if limit else 'Ctrl-C to stop'})", err=True)
    files = live.capture(
        iface,
        output,
        duration=duration,
        count=count,
        ring_size_mb=ring_size,
        ring_files=ring_files,
        capture_filter=capture_filter,
        tool=tool,
    )
    total = sum(p.stat().st_size for p in files if p.exists())
    click.echo(f"{len(files)} file(s), {total} bytes: " + ", ".join(str(p) for p in files))


COMMANDS = [capture]
