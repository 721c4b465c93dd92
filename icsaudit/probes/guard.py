"""The one gate every probe byte passes (DESIGN.md, "Probes: safe by construction").

Probe modules never open sockets: they ask the Guard for a GuardedConnection, and the Guard
- checks the target against the allowlist (site zones that allow probing, or --target) and refuses
  CSL 1-2 zones, safety zones, zones without probe permission and the do-not-probe list by name;
- allows one connection at a time per target, and one outstanding request per connection;
- paces every send (connection attempt or request) under one global packets-per-second cap;
- refuses timeouts below 2 s;
- parses every outgoing request (icsaudit.probes.readonly) and refuses anything that is not a
  recognized read-only identity request, whatever the caller claims;
- backs a target off after its first error (timeout, reset, garbage, exception reply): no retries;
- writes a transcript line for every connection, request, reply and verdict.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import math
import os
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from icsaudit.errors import IcsauditError, InputError, SafetyRefusal
from icsaudit.probes.readonly import RequestDenied, check_request

DEFAULT_RATE = 10.0  # packets (connection attempts + requests) per second, for the whole run
MIN_TIMEOUT = 2.0
MAX_REPLY = 65536  # a reply larger than this is garbage: the target is backed off
MAX_HOSTS = 4096  # widest allowlist expanded into single addresses (a /20)
BURST_GAP = 0.002  # least time between two sends inside a burst (at most 500 packets/s on the wire)

FrameLength = Callable[
    [bytes], int | None
]  # total reply length once known, None: need more; ValueError: garbage


class ProbeStopped(IcsauditError):
    """The guard stopped talking to a target (backed off, unreachable, closed port); not a user error."""

    def __init__(self, message: str, closed_port: bool = False) -> None:
        super().__init__(message)
        self.closed_port = closed_port


class GuardViolation(RuntimeError):
    """A probe module broke the guard's contract (a second connection or request in flight)."""


# --------------------------------------------------------------------------------------------- targets
def _network(text: str, what: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise InputError(
            f"{what} {text!r} is not an IP address or CIDR",
            hint="write addresses such as 192.0.2.10 or 192.0.2.0/28 (no host names)",
        ) from None


def parse_targets(spec: str | Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Networks of a --target value: comma-separated addresses and CIDRs (no names, no ranges)."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    networks = [_network(item, "target") for item in items if item.strip()]
    if not networks:
        raise InputError("no target given", hint="--target 192.0.2.10[,192.0.2.0/28] or --site site.yaml")
    return networks


@dataclass
class TargetPolicy:
    """Which addresses may be probed, and the named rule refusing the others."""

    allowed: list[Any] = field(default_factory=list)  # networks from --target or allowed site zones
    do_not_probe: list[Any] = field(default_factory=list)
    site: Any = None  # icsaudit.engine.site.SiteModel, for zone rules
    site_allowed: list[Any] = field(default_factory=list)  # networks of zones that allow probing

    @classmethod
    def from_targets(cls, spec: str | Iterable[str]) -> TargetPolicy:
        return cls(allowed=parse_targets(spec))

    @classmethod
    def from_site(cls, site_model: Any, targets: str | None = None) -> TargetPolicy:
        site = site_model.site
        zone_allowed: list[Any] = []
        for zone in site.zones:
            if site_model.zones[zone.id].probe_allowed:
                zone_allowed += [_network(c, f"zone {zone.id} CIDR") for c in zone.cidrs]
                zone_allowed += [_network(a, f"zone {zone.id} asset") for a in zone.assets]
        for asset in site.assets:
            if (
                asset.ip
                and asset.zone
                and site_model.zones.get(asset.zone)
                and site_model.zones[asset.zone].probe_allowed
            ):
                zone_allowed.append(_network(asset.ip, "site asset"))
        dnp = [_network(item, "do_not_probe entry") for item in site.do_not_probe]
        allowed = parse_targets(targets) if targets else zone_allowed
        return cls(allowed=allowed, do_not_probe=dnp, site=site_model, site_allowed=zone_allowed)

    def refusal(self, address: str) -> str | None:
        """None when ``address`` may be probed, else the rule that refuses it."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return f"{address!r} is not a literal IP address (names could resolve anywhere)"
        for net in self.do_not_probe:
            if ip.version == net.version and ip in net:
                return f"{ip} is on the site's do-not-probe list ({net})"
        if self.site is not None:
            zone = self.site.zone_of(str(ip))
            if zone is not None and not zone.probe_allowed:
                return f"{ip} is in zone {zone.id}: {zone_rule(zone, self.site.profile)}"
            if not any(ip.version == n.version and ip in n for n in self.site_allowed):
                return f"{ip} is in no site zone that allows probing"
        if not any(ip.version == n.version and ip in n for n in self.allowed):
            return f"{ip} is outside the allowlist"
        return None

    def hosts(self) -> tuple[list[str], list[tuple[str, str]]]:
        """(addresses that may be probed, [(address, rule)] refused) of the allowlist, expanded."""
        allowed: list[str] = []
        refused: list[tuple[str, str]] = []
        seen: set[str] = set()
        for net in self.allowed:
            if net.num_addresses > MAX_HOSTS:
                raise InputError(
                    f"target {net} has {net.num_addresses} addresses; at most {MAX_HOSTS} per run",
                    hint="split the range, or probe the zone's declared assets",
                )
            members = [net.network_address] if net.num_addresses == 1 else list(net.hosts())
            for ip in members:
                text = str(ip)
                if text in seen:
                    continue
                seen.add(text)
                rule = self.refusal(text)
                if rule is None:
                    allowed.append(text)
                else:
                    refused.append((text, rule))
        return allowed, refused


def zone_rule(zone: Any, profile: Any) -> str:
    if zone.safety:
        return "a safety zone (probes are never sent to safety zones)"
    if zone.csl is not None and zone.csl <= 2:
        return f"CSL {zone.csl} (probes are never sent to CSL 1-2 zones)"
    if profile is not None and not profile.probe_policy.get("allowed", False):
        return f"profile {profile.id} does not allow probes"
    min_csl = profile.probe_policy.get("min_csl") if profile is not None else None
    if min_csl is not None and zone.csl is not None and zone.csl < min_csl:
        return f"CSL {zone.csl} (profile {profile.id} allows probes only from CSL {min_csl}: min_csl)"
    return "probe_allowed is false for this zone"


# --------------------------------------------------------------------------------------------- pacing
class RateLimiter:
    """The global cap: at most ``rate`` sends in any 1-s window (below 1/s: one send per 1/rate s).

    The cap is a sliding window, not strict 1/rate spacing: the sends a second allows may leave as a
    short burst, so a probe's round trips are not each delayed by a whole slot, while no 1-s window
    ever holds more than the cap (the test of a cap is a count per second, on the transcript and on
    the devices' journals). Inside a burst consecutive sends still stay BURST_GAP apart, and each
    target has at most one request outstanding (GuardedConnection), so no device sees a flood.

    The send itself runs under the lock, so no other thread slips a packet in between: the transcript
    timestamps (taken just before each send) prove the cap."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise InputError(f"rate {rate} must be a positive number of packets per second")
        self.per_window = max(1, math.floor(rate))  # a fractional rate rounds down: the cap is a count
        self.window = max(1.0, 1.0 / rate)
        self.gap = min(BURST_GAP, self.window / self.per_window)
        self._sent: deque[float] = deque(maxlen=self.per_window)  # times of the last per_window sends
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()

    def paced(self, send: Callable[[], Any]) -> Any:
        with self._lock:
            start = self._clock()
            if self._sent:
                start = max(start, self._sent[-1] + self.gap)
            if len(self._sent) == self.per_window:  # the send per_window sends ago must leave the window
                start = max(start, self._sent[0] + self.window)
            while (delay := start - self._clock()) > 0:
                self._sleep(delay)
            try:
                return send()
            finally:
                # stamped when the send has returned: the packet left before this, so the spacing
                # of the next sends holds on the wire and on the transcript, not only at slot starts
                self._sent.append(self._clock())


# --------------------------------------------------------------------------------------------- transcript
class Transcript:
    """JSONL of every connection, request, reply and verdict; line numbers are evidence frames."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._handle = None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", encoding="utf-8")

    def record(self, **entry: Any) -> int:
        with self._lock:
            entry = {"line": len(self.records) + 1, "ts": round(time.time(), 6), **entry}
            self.records.append(entry)
            if self._handle:
                self._handle.write(json.dumps(entry, sort_keys=True) + "\n")
                self._handle.flush()
            return entry["line"]

    def close(self) -> None:
        with self._lock:
            if self._handle:
                self._handle.close()
                self._handle = None


# --------------------------------------------------------------------------------------------- guard
@dataclass
class Reply:
    data: bytes
    line: int  # transcript line of the reply
    ts: float


class Guard:
    def __init__(
        self,
        policy: TargetPolicy,
        rate: float = DEFAULT_RATE,
        timeout: float = MIN_TIMEOUT,
        transcript: Transcript | None = None,
    ) -> None:
        if timeout < MIN_TIMEOUT:
            raise InputError(
                f"timeout {timeout:g} s is below the {MIN_TIMEOUT:g} s minimum",
                hint="slow field devices must not be hurried; use --timeout 2 or more",
            )
        self.policy = policy
        self.rate = RateLimiter(rate)
        self.pps = rate
        self.timeout = timeout
        self.transcript = transcript or Transcript()
        self.backed_off: dict[str, str] = {}
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    # -- verdicts ---------------------------------------------------------------------------------
    def check_target(self, ip: str, port: int = 0, probe: str = "") -> None:
        rule = self.policy.refusal(ip)
        if rule is not None:
            self.transcript.record(
                event="refused", target=ip, port=port, probe=probe, verdict=f"refused: {rule}"
            )
            raise SafetyRefusal(f"guard refused target {ip}: {rule}")

    def check_bytes(self, protocol: str, payload: bytes, ip: str, port: int, probe: str) -> str:
        try:
            return check_request(protocol, payload)
        except RequestDenied as exc:
            self.transcript.record(
                event="denied",
                target=ip,
                port=port,
                probe=probe,
                protocol=protocol,
                hex=payload.hex(),
                verdict=f"denied: {exc.message}",
            )
            raise

    def plan(
        self,
        ip: str,
        port: int,
        transport: str,
        probe: str,
        protocol: str,
        payload: bytes | None,
        purpose: str,
    ) -> dict[str, Any]:
        """Dry run: check target and bytes exactly as a send would, record and return the line; send nothing."""
        self.check_target(ip, port, probe)
        verdict = (
            "allowed: receive only"
            if payload is None
            else f"allowed: {self.check_bytes(protocol, payload, ip, port, probe)}"
        )
        line = self.transcript.record(
            event="planned",
            target=ip,
            port=port,
            transport=transport,
            probe=probe,
            protocol=protocol,
            purpose=purpose,
            hex=(payload or b"").hex(),
            verdict=verdict,
        )
        return self.transcript.records[line - 1]

    def backoff(self, ip: str, reason: str, port: int = 0, probe: str = "") -> None:
        with self._lock:
            if ip in self.backed_off:
                return
            self.backed_off[ip] = reason
        self.transcript.record(event="backoff", target=ip, port=port, probe=probe, note=reason)

    # -- connections --------------------------------------------------------------------------------
    def connect(self, ip: str, port: int, transport: str, probe: str) -> GuardedConnection:
        self.check_target(ip, port, probe)
        if ip in self.backed_off:
            raise ProbeStopped(f"{ip} is backed off: {self.backed_off[ip]}")
        with self._lock:
            if ip in self._busy:
                raise GuardViolation(f"a second connection to {ip} while one is open (one per target)")
            self._busy.add(ip)
        try:
            return self._open(ip, port, transport, probe)
        except BaseException:
            with self._lock:
                self._busy.discard(ip)
            raise

    def _open(self, ip: str, port: int, transport: str, probe: str) -> GuardedConnection:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        if transport == "udp":
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.settimeout(self.timeout)
            sock.connect((ip, port))  # no packet: only replies from the target reach us
            self.transcript.record(event="open", target=ip, port=port, transport="udp", probe=probe)
            return GuardedConnection(self, sock, ip, port, transport, probe)
        lines: list[int] = []
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)

        def connect() -> int:
            lines.append(
                self.transcript.record(event="connect", target=ip, port=port, transport="tcp", probe=probe)
            )
            return sock.connect_ex((ip, port))  # the SYN leaves now, inside the paced slot

        try:
            # Only the SYN runs under the rate lock; the handshake is awaited outside it, so a target
            # that never answers holds up its own thread for the timeout, not every other target's.
            _handshake(sock, self.rate.paced(connect), self.timeout)
        except ConnectionRefusedError:
            sock.close()
            self.transcript.record(
                event="closed", target=ip, port=port, probe=probe, note="connection refused"
            )
            raise ProbeStopped(f"{ip}:{port}/tcp closed", closed_port=True) from None
        except OSError as exc:
            sock.close()
            note = "connect timeout" if isinstance(exc, TimeoutError) else f"connect failed: {exc}"
            self.transcript.record(event="unreachable", target=ip, port=port, probe=probe, note=note)
            self.backoff(ip, note, port, probe)
            raise ProbeStopped(f"{ip}:{port}/tcp unreachable ({note})") from None
        except BaseException:
            sock.close()
            raise
        sock.settimeout(self.timeout)
        self.transcript.records[lines[0] - 1]["connected"] = True
        return GuardedConnection(self, sock, ip, port, transport, probe)

    def port_open(self, ip: str, port: int) -> bool:
        """Built-in connect scan of one port: paced, checked, closed at once; nothing is sent."""
        try:
            conn = self.connect(ip, port, "tcp", "discover")
        except ProbeStopped:
            return False
        conn.close()
        return True

    def _release(self, ip: str) -> None:
        with self._lock:
            self._busy.discard(ip)


def _handshake(sock: socket.socket, started: int, timeout: float) -> None:
    """Finish a non-blocking connect whose connect_ex returned ``started``; raise OSError (refused,
    unreachable) or TimeoutError as a blocking connect would."""
    if started not in (0, errno.EINPROGRESS):
        raise OSError(started, os.strerror(started))  # OSError picks the subclass (ConnectionRefusedError)
    if started == errno.EINPROGRESS:
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_WRITE)
            if not selector.select(timeout):
                raise TimeoutError("timed out")
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, os.strerror(error))


class GuardedConnection:
    """A connection to one target port, handed out by the Guard; its only way to send is request()."""

    def __init__(
        self, guard: Guard, sock: socket.socket, ip: str, port: int, transport: str, probe: str
    ) -> None:
        self._guard, self._sock = guard, sock
        self.ip, self.port, self.transport, self.probe = ip, port, transport, probe
        self._in_flight = False
        self._closed = False
        self._fallback_used = False
        self.requests = 0

    def __enter__(self) -> GuardedConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log(self, **entry: Any) -> int:
        return self._guard.transcript.record(
            target=self.ip, port=self.port, transport=self.transport, probe=self.probe, **entry
        )

    def request(
        self,
        protocol: str,
        payload: bytes,
        frame: FrameLength | None,
        purpose: str,
        expect_reply: bool = True,
    ) -> Reply:
        """Send one checked request and wait for its reply (frame: TCP reply framing; None for UDP)."""
        if self._closed or self.ip in self._guard.backed_off:
            raise ProbeStopped(f"{self.ip} is backed off: {self._guard.backed_off.get(self.ip, 'closed')}")
        if self._in_flight:
            raise GuardViolation(f"a second request to {self.ip} while one is outstanding")
        verdict = self._guard.check_bytes(protocol, payload, self.ip, self.port, self.probe)
        self._in_flight = True
        try:

            def send() -> None:
                self._log(
                    event="request",
                    protocol=protocol,
                    purpose=purpose,
                    hex=payload.hex(),
                    verdict=f"allowed: {verdict}",
                )
                self.requests += 1
                self._sock.sendall(payload)

            try:
                self._guard.rate.paced(send)
            except OSError as exc:
                self._stop(f"send failed: {exc}")
            if not expect_reply:
                return Reply(b"", 0, 0.0)
            return self._receive(frame, protocol)
        finally:
            self._in_flight = False

    def receive(self, frame: FrameLength, purpose: str) -> Reply:
        """Read what the device says first (banners): nothing is sent."""
        if self._closed or self.ip in self._guard.backed_off:
            raise ProbeStopped(f"{self.ip} is backed off")
        self._log(event="listen", purpose=purpose, verdict="allowed: receive only")
        return self._receive(frame, "banner")

    def _receive(self, frame: FrameLength | None, protocol: str) -> Reply:
        deadline = time.monotonic() + self._guard.timeout
        buf = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._stop("reply timeout", buf)
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(MAX_REPLY if frame is None else 4096)
            except TimeoutError:
                self._stop("reply timeout", buf)
            except ConnectionRefusedError:
                if self.transport != "udp":
                    self._stop("connection refused mid-exchange", buf)
                self._log(
                    event="closed", note="port unreachable (ICMP)"
                )  # a closed UDP port, not a device error
                self.close()
                raise ProbeStopped(f"{self.ip}:{self.port}/udp closed", closed_port=True) from None
            except OSError as exc:
                self._stop(f"receive failed: {exc}", buf)
            if frame is None:  # one datagram is one reply
                buf = chunk
                break
            if not chunk:
                if buf and protocol == "banner":  # a text banner may end with the connection
                    break
                self._stop("connection closed by the device before a complete reply", buf)
            buf += chunk
            if len(buf) > MAX_REPLY:
                self._stop(f"oversized reply (more than {MAX_REPLY} bytes)", buf[:256])
            try:
                needed = frame(buf)
            except ValueError as exc:
                self._stop(f"malformed reply: {exc}", buf)
            if needed is not None and needed > MAX_REPLY:
                self._stop(f"oversized reply ({needed} bytes announced)", buf[:256])
            if needed is not None and len(buf) >= needed:
                buf = buf[:needed]
                break
        line = self._log(event="reply", protocol=protocol, hex=buf.hex())
        return Reply(buf, line, self._guard.transcript.records[line - 1]["ts"])

    def _stop(self, reason: str, partial: bytes = b"") -> None:
        self._log(event="error", note=reason, hex=partial.hex())
        self._guard.backoff(self.ip, reason, self.port, self.probe)
        self.close()
        raise ProbeStopped(f"{self.ip}:{self.port}: {reason}")

    def negative(self, reason: str, fallback: bool = False) -> None:
        """The device answered with an error or exception: back the target off (one declared fallback excepted)."""
        if fallback and not self._fallback_used:
            self._fallback_used = True
            self._log(event="negative", note=f"{reason}; one fallback request allowed")
            return
        self._log(event="negative", note=reason)
        self._guard.backoff(self.ip, reason, self.port, self.probe)
        self.close()
        raise ProbeStopped(f"{self.ip}:{self.port}: {reason}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.close()
        finally:
            self._log(event="close", requests=self.requests)
            self._guard._release(self.ip)


# --------------------------------------------------------------------------------------------- windows
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def in_probe_window(windows: list[str], now: Any) -> bool:
    """Whether ``now`` (a datetime) falls in one of the site's windows, e.g. "Sat 02:00-04:00" or
    "daily 01:00-03:00"; an empty list means the site sets no window."""
    if not windows:
        return True
    minute = now.hour * 60 + now.minute
    for window in windows:
        try:
            day, span = window.split()
            start, end = (int(t[:2]) * 60 + int(t[3:5]) for t in span.split("-"))
        except ValueError:
            raise InputError(
                f"probe window {window!r} is not like 'Sat 02:00-04:00' or 'daily 01:00-03:00'"
            ) from None
        day = day.lower()[:3]
        if day not in DAYS and day != "dai":
            raise InputError(f"probe window {window!r}: unknown day {day!r}")
        if day != "dai" and DAYS.index(day) != now.weekday():
            continue
        if start <= minute < end or (end < start and (minute >= start or minute < end)):
            return True
    return False
