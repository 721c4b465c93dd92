"""`icsaudit probe`: safe, read-only identity probes through the guard, into evidence."""

from __future__ import annotations

from pathlib import Path

import click

from icsaudit.cli.common import want_progress
from icsaudit.errors import InputError, SafetyRefusal


@click.command()
@click.option(
    "--site",
    "site_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Site model: probe only zones that allow probing, minus the do-not-probe list.",
)
@click.option("--target", "targets", help="Allowlist: addresses and CIDRs, comma-separated (narrows --site).")
@click.option(
    "--ports",
    default=None,
    help="Ports to probe: standard ports name their probe; others as PORT:PROBE "
    "(e.g. 10502:modbus). Default: the standard ICS/IT ports.",
)
@click.option(
    "--rate",
    type=float,
    default=None,
    help="Global cap in packets per second (default 10; never above the profile's max_pps).",
)
@click.option(
    "--timeout", type=float, default=2.0, show_default=True, help="Reply timeout in seconds (at least 2)."
)
@click.option(
    "--discover",
    "discover_method",
    type=click.Choice(["auto", "nmap", "connect", "none"]),
    default="auto",
    show_default=True,
    help="TCP discovery before probing: nmap if installed, else a connect scan; "
    "auto skips it when every target is a single address (the probe's connection is the discovery).",
)
@click.option(
    "--unit-id",
    "unit_ids",
    type=click.IntRange(0, 255),
    multiple=True,
    help="Modbus unit id for targets the site does not declare (default 1; repeat for more).",
)
@click.option(
    "--dnp3-address",
    "dnp3_addresses",
    type=click.IntRange(0, 65519),
    multiple=True,
    help="DNP3 outstation address for targets the site does not declare (none: DNP3 not probed).",
)
@click.option(
    "--snmp-credentials",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file with 'community: ...' (credentials never go on the command line).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print every request (target, port, protocol, hex, purpose); send nothing.",
)
@click.option(
    "--transcript",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL of every request and reply (default: next to -o as <name>.transcript.jsonl).",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Evidence file to write."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def probe(
    site_path: Path | None,
    targets: str | None,
    ports: str | None,
    rate: float | None,
    timeout: float,
    discover_method: str,
    unit_ids: tuple[int, ...],
    dnp3_addresses: tuple[int, ...],
    snmp_credentials: Path | None,
    dry_run: bool,
    transcript: Path | None,
    output: Path | None,
    quiet: bool,
) -> None:
    """Ask devices who they are with safe, read-only identity requests.

    \b
    Every byte passes the guard: only allowlisted targets (zones that allow probing, or --target),
    never CSL 1-2 or safety zones or the do-not-probe list; one connection per target, a global
    packet-rate cap, timeouts of at least 2 s, no retries after an error; each request is parsed
    and refused unless it is a recognized read-only identity request. With --site, only inside the
    site's probe_windows (required when its profile sets windows_required).

    \b
    Example:
      icsaudit probe --site site.yaml -o probe-evidence.json
      icsaudit probe --target 192.0.2.10,192.0.2.32/28 --ports 502,102,44818 --rate 5 -o ev.json
      icsaudit probe --target 192.0.2.10 --dry-run
    """
    from icsaudit.evidence import save_evidence
    from icsaudit.probes import discover as discovery
    from icsaudit.probes.run import plan_probes
    from icsaudit.probes.session import ProbeRequest, prepare
    from icsaudit.probes.session import probe as run_probe

    if not site_path and not targets:
        raise InputError("nothing to probe", hint="--site site.yaml or --target ADDR[,CIDR...]")
    if not dry_run and output is None:
        raise InputError("no output file given", hint="-o probe-evidence.json (or --dry-run)")
    site_model = None
    if site_path:
        from icsaudit.engine.site import parse_site

        site_model = parse_site(site_path)
    transcript_path = transcript or (output.with_name(output.stem + ".transcript.jsonl") if output else None)
    req = ProbeRequest(
        site_model=site_model,
        targets=targets,
        ports=ports,
        rate=rate,
        timeout=timeout,
        discover=discover_method,
        unit_ids=unit_ids,
        dnp3_addresses=dnp3_addresses,
        snmp_community=_community(snmp_credentials) if snmp_credentials else None,
        transcript=None if dry_run and transcript is None else transcript_path,
    )
    if dry_run:
        prep = prepare(req, dry_run=True)
        if prep.window_refusal is not None:
            click.echo(f"refused: a real run now: {prep.window_refusal.message}", err=True)
        for line in _refusal_lines(prep.refused):
            click.echo(f"refused: {line}", err=True)
        if not prep.hosts:
            raise SafetyRefusal("no target left that may be probed", hint="see the refusals above")
        lines, notes = plan_probes(prep.guard, prep.host_specs, prep.make)
        wide = any(net.num_addresses > 1 for net in prep.policy.allowed)
        sweep = [ip for ip in prep.hosts if ip not in prep.declared_hosts]
        if sweep and (discover_method in ("nmap", "connect") or (discover_method == "auto" and wide)):
            tcp = sorted({s.port for ip in sweep for s in prep.host_specs[ip] if s.transport == "tcp"})
            tool = "nmap" if discover_method != "connect" and discovery.nmap_available() else "connect scan"
            click.echo(
                f"discovery ({tool}, {len(sweep)} hosts, tcp {','.join(map(str, tcp))}): "
                f"{discovery.nmap_arguments(prep.guard) if tool == 'nmap' else 'one paced connect per port'}"
            )
        for rec in lines:
            click.echo(
                f"{rec['target']}:{rec['port']}/{rec['transport']} {rec['protocol']:<7} "
                f"{rec['hex'] or '(listen only)'}  {rec['purpose']}"
            )
        for note in prep.notes + notes:
            click.echo(f"note: {note}", err=True)
        verdict = "; a real run now would be refused (see above)" if prep.window_refusal is not None else ""
        click.echo(
            f"{len(lines)} requests to {len(prep.hosts)} hosts planned; nothing sent{verdict}", err=True
        )
        prep.log.close()
        return

    outcome = run_probe(req, progress_factory=_progress_factory(want_progress(quiet)))
    for line in _refusal_lines(outcome.refused):
        click.echo(f"refused: {line}", err=True)
    save_evidence(outcome.evidence, output)
    for warning in outcome.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not quiet:
        for note in outcome.notes:
            click.echo(f"note: {note}", err=True)
    click.echo(f"{outcome.summary()} -> {output} (transcript {outcome.transcript})")


def _community(path: Path) -> str:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read SNMP credentials: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("community"), str):
        if isinstance(data, dict) and ("user" in data or "v3" in data):
            raise InputError(
                f"{path}: SNMPv3 users (auth/priv) are not supported yet; give a v1/v2c 'community' "
                "(the SNMPv3 engine discovery runs without any credentials file)"
            )
        raise InputError(f"{path}: expected a mapping with 'community: <string>'")
    return data["community"]


def _refusal_lines(refused: list[tuple[str, str]]) -> list[str]:
    """One line per refused address, or per rule when a range was refused wholesale."""
    if len(refused) <= 10:
        return [rule for _ip, rule in refused]
    by_rule: dict[str, int] = {}
    for ip, rule in refused:
        key = rule.replace(ip, "<addr>")
        by_rule[key] = by_rule.get(key, 0) + 1
    return [f"{count} addresses: {rule}" for rule, count in by_rule.items()]


def _progress_factory(enabled: bool):
    """A rich progress bar over the planned probes (stderr), or None when not wanted."""
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    def factory(total: int):
        progress = Progress(
            TextColumn("[bold]probing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        progress.start()
        task = progress.add_task("probing", total=total)

        def advance() -> None:
            progress.advance(task)
            if progress.tasks[0].finished:
                progress.stop()

        return advance

    return factory


COMMANDS = [probe]
