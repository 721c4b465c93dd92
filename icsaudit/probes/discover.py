"""Which allowed hosts have which TCP ports open: python-nmap with polite timing when nmap is
installed, else the guard's own connect scan. Both run through the guard: every host is checked
before nmap sees it, and nmap gets exactly the allowed addresses (never a range wider than the
allowlist) with the guard's packet rate as --max-rate. UDP ICS ports are not scanned (nmap -sU
would send foreign payloads to them); their identity probes are the discovery."""

from __future__ import annotations

import shutil

from icsaudit.probes.guard import Guard

NMAP_TIMING = "-sT -Pn -n -T2 --max-retries 1"


def nmap_available() -> bool:
    return shutil.which("nmap") is not None


def nmap_arguments(guard: Guard) -> str:
    return f"{NMAP_TIMING} --max-rate {guard.pps:g} --host-timeout {max(30, int(guard.timeout * 15))}s"


def discover(
    guard: Guard, hosts: list[str], tcp_ports: list[int], method: str = "auto"
) -> dict[str, set[int]]:
    """{host: open TCP ports} of the allowed hosts; ``method``: auto, nmap or connect."""
    for ip in hosts:
        guard.check_target(ip, probe="discover")
    if not hosts or not tcp_ports:
        return {}
    if method == "nmap" or (method == "auto" and nmap_available()):
        return _nmap(guard, hosts, tcp_ports)
    return _connect_scan(guard, hosts, tcp_ports)


def _nmap(guard: Guard, hosts: list[str], tcp_ports: list[int]) -> dict[str, set[int]]:
    import nmap

    scanner = nmap.PortScanner()
    arguments = nmap_arguments(guard)
    ports = ",".join(str(p) for p in sorted(set(tcp_ports)))
    guard.transcript.record(
        event="discover",
        probe="discover",
        tool="nmap",
        note=f"nmap {arguments} -p {ports} {' '.join(hosts)}",
        targets=hosts,
    )
    scanner.scan(hosts=" ".join(hosts), ports=ports, arguments=arguments)
    found: dict[str, set[int]] = {}
    for ip in scanner.all_hosts():
        if ip not in hosts:  # nmap never reports outside what it was given; refuse to believe otherwise
            continue
        tcp = scanner[ip].get("tcp", {})
        open_ports = {int(p) for p, state in tcp.items() if state.get("state") == "open"}
        if open_ports:
            found[ip] = open_ports
    guard.transcript.record(
        event="discovered",
        probe="discover",
        tool="nmap",
        note=", ".join(f"{ip}:{sorted(p)}" for ip, p in sorted(found.items())),
    )
    return found


def _connect_scan(guard: Guard, hosts: list[str], tcp_ports: list[int]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for ip in hosts:
        for port in sorted(set(tcp_ports)):
            if ip in guard.backed_off:
                break
            if guard.port_open(ip, port):
                found.setdefault(ip, set()).add(port)
    return found
