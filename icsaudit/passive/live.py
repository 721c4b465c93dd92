"""Live capture: dumpcap (pcapng) or tcpdump (pcap) as the capturing process, and live analysis.

We never open a raw socket ourselves: the capture runs in dumpcap/tcpdump, which hold the capture
privileges (root, or CAP_NET_RAW/CAP_NET_ADMIN via the wireshark group), so icsaudit itself needs none.
``analyze_live`` captures into a private ring of files and analyzes each file as soon as the capturer
has moved on to the next one, then deletes it: disk use stays at about one ring file however long the
capture runs, and the result is the same Evidence as ``icsaudit analyze`` on the saved capture.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from icsaudit.errors import IcsauditError, InputError
from icsaudit.evidence.model import Evidence

TOOLS = ("dumpcap", "tcpdump")
READY_MARKERS = ("Capturing on", "listening on")  # dumpcap / tcpdump, printed once capture starts
PERMISSION_MARKERS = ("permission", "Operation not permitted", "not permitted")
NO_DEVICE_MARKERS = ("No such device", "no device named", "doesn't exist", "does not exist")
STOP_GRACE = 10.0  # seconds given to the capturer to flush and exit after SIGINT
ANALYZE_RING_MB = 64  # ring file size for live analysis
POLL_INTERVAL = 0.5


def find_tool(preferred: str | None = None) -> tuple[str, str]:
    """(tool name, executable path): dumpcap (writes pcapng) first, else tcpdump (writes pcap)."""
    names = (preferred,) if preferred else TOOLS
    for name in names:
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
        if path:
            return name, path
    raise IcsauditError(
        f"no capture tool found ({' or '.join(names)})",
        hint="install dumpcap (apt-get install wireshark-common or tshark) or tcpdump",
    )


def list_interfaces() -> list[str]:
    """Network interfaces of this host (Linux sysfs), plus the pseudo-interface "any"."""
    net = Path("/sys/class/net")
    names = sorted(p.name for p in net.iterdir()) if net.is_dir() else []
    return [*names, "any"]


def check_interface(iface: str) -> None:
    if not iface:
        raise InputError("no interface given", hint="--iface NAME; list them with --list-interfaces")
    known = list_interfaces()
    if len(known) > 1 and iface not in known:
        raise InputError(f"interface {iface!r} does not exist", hint="available: " + ", ".join(known))


def capture_command(
    tool: str,
    executable: str,
    iface: str,
    output: Path,
    *,
    duration: float | None = None,
    count: int | None = None,
    ring_size_mb: int | None = None,
    ring_files: int | None = None,
    capture_filter: str | None = None,
) -> list[str]:
    """The capturer's command line (pure, so tests can check it without capturing)."""
    if tool == "dumpcap":
        cmd = [executable, "-i", iface, "-q", "-w", str(output)]
        if duration:
            cmd += ["-a", f"duration:{max(1, round(duration))}"]
        if count:
            cmd += ["-c", str(count)]
        if ring_size_mb:
            cmd += ["-b", f"filesize:{ring_size_mb * 1000}"]  # dumpcap counts kB
            if ring_files:
                cmd += ["-b", f"files:{ring_files}"]
        if capture_filter:
            cmd += ["-f", capture_filter]
        return cmd
    cmd = [executable, "-i", iface, "-n", "-U", "-w", str(output)]
    if count:
        cmd += ["-c", str(count)]
    if ring_size_mb:
        cmd += ["-C", str(ring_size_mb)]  # tcpdump counts millions of bytes
        if ring_files:
            cmd += ["-W", str(ring_files)]
    if capture_filter:
        cmd.append(capture_filter)
    return cmd  # tcpdump has no duration stop: LiveCapture stops it


def classify_failure(stderr: str, iface: str, tool: str) -> IcsauditError:
    """One clear line for a capturer that failed: no rights, no such interface, or its own message."""
    if any(marker in stderr for marker in PERMISSION_MARKERS):
        return IcsauditError(
            f"no permission to capture on {iface!r}",
            hint="run as root, or give the capture tool its privileges: "
            f"sudo setcap cap_net_raw,cap_net_admin=eip $(which {tool}) (or add yourself to the wireshark group)",
        )
    if any(marker in stderr for marker in NO_DEVICE_MARKERS):
        return InputError(
            f"interface {iface!r} does not exist", hint="available: " + ", ".join(list_interfaces())
        )
    last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "no message")
    return IcsauditError(f"{tool} failed capturing on {iface!r}: {last.strip()}")


def ring_files_of(output: Path, tool: str) -> list[Path]:
    """The files a capture wrote: ``output`` itself, or its ring (dumpcap: stem_NNNNN_time.ext, tcpdump: nameN)."""
    found = [output] if output.exists() else []
    pattern = f"{output.stem}_*{output.suffix}" if tool == "dumpcap" else f"{output.name}*"
    found += [p for p in output.parent.glob(pattern) if p != output and p.is_file()]
    return sorted(set(found), key=lambda p: (p.stat().st_mtime, p.name))


@dataclass
class LiveCapture:
    """A running capturer process. ``start`` waits until it reports that capture has begun."""

    iface: str
    output: Path
    duration: float | None = None
    count: int | None = None
    ring_size_mb: int | None = None
    ring_files: int | None = None
    capture_filter: str | None = None
    tool: str | None = None
    process: subprocess.Popen | None = None
    stderr_lines: list[str] = field(default_factory=list)
    started_at: float = 0.0
    _ready: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None

    def start(self, ready_timeout: float = 15.0) -> LiveCapture:
        check_interface(self.iface)
        name, executable = find_tool(self.tool)
        self.tool = name
        self.output.parent.mkdir(parents=True, exist_ok=True)
        cmd = capture_command(
            name,
            executable,
            self.iface,
            self.output,
            duration=self.duration,
            count=self.count,
            ring_size_mb=self.ring_size_mb,
            ring_files=self.ring_files,
            capture_filter=self.capture_filter,
        )
        try:
            self.process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
        except OSError as exc:
            raise IcsauditError(f"cannot run {name}: {exc}") from exc
        self.started_at = time.monotonic()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + ready_timeout
        while not self._ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                break
        if self.process.poll() is not None and self.process.returncode != 0:
            self._reader.join(timeout=2)
            raise classify_failure("".join(self.stderr_lines), self.iface, name)
        return self

    def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            if len(self.stderr_lines) < 200:
                self.stderr_lines.append(line)
            if any(marker in line for marker in READY_MARKERS):
                self._ready.set()
        self._ready.set()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Ask the capturer to finish (SIGINT flushes the file), kill it if it does not."""
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def wait(self) -> list[Path]:
        """Until the capture ends (duration, count, or Ctrl-C); returns the files written."""
        assert self.process is not None
        try:
            while self.running:
                if (
                    self.duration
                    and self.tool != "dumpcap"
                    and time.monotonic() - self.started_at >= self.duration
                ):
                    self.stop()
                time.sleep(0.1)
        except KeyboardInterrupt:
            self.stop()
        return self.finish()

    def finish(self) -> list[Path]:
        assert self.process is not None
        self.process.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)
        code = self.process.returncode
        # SIGINT/SIGTERM endings are a normal stop, as is a zero exit.
        if code not in (0, -signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT):
            raise classify_failure("".join(self.stderr_lines), self.iface, self.tool or "capture")
        return ring_files_of(self.output, self.tool or "dumpcap")


def capture(
    iface: str,
    output: str | os.PathLike[str],
    *,
    duration: float | None = None,
    count: int | None = None,
    ring_size_mb: int | None = None,
    ring_files: int | None = None,
    capture_filter: str | None = None,
    tool: str | None = None,
) -> list[Path]:
    """Capture ``iface`` to ``output`` (a ring when ``ring_size_mb``) until duration/count/Ctrl-C."""
    live = LiveCapture(
        iface,
        Path(output),
        duration=duration,
        count=count,
        ring_size_mb=ring_size_mb,
        ring_files=ring_files,
        capture_filter=capture_filter,
        tool=tool,
    )
    return live.start().wait()


def analyze_live(
    iface: str,
    duration: float | None = None,
    count: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    capture_filter: str | None = None,
    tool: str | None = None,
    ring_size_mb: int = ANALYZE_RING_MB,
) -> Evidence:
    """Capture ``iface`` and analyze it through the passive pipeline, file by file as the ring rotates."""
    from icsaudit.passive.pipeline import Analyzer

    if not duration and not count:
        raise InputError("live analysis needs a limit", hint="give --duration SECONDS or --count PACKETS")
    name, _ = find_tool(tool)
    analyzer = Analyzer(progress=progress)
    with tempfile.TemporaryDirectory(prefix="icsaudit-live-") as tmp:
        output = Path(tmp) / ("live.pcapng" if name == "dumpcap" else "live.pcap")
        live = LiveCapture(
            iface,
            output,
            duration=duration,
            count=count,
            ring_size_mb=ring_size_mb,
            capture_filter=capture_filter,
            tool=name,
        ).start()
        done: set[Path] = set()

        def analyze_ready(final: bool) -> None:
            files = [p for p in ring_files_of(output, live.tool or "dumpcap") if p not in done]
            # While capturing, the newest file is still being written: leave it for later.
            for path in files if final else files[:-1]:
                analyzer.analyze_file(path)
                done.add(path)
                path.unlink(missing_ok=True)

        try:
            while live.running:
                if (
                    live.duration
                    and live.tool != "dumpcap"
                    and time.monotonic() - live.started_at >= live.duration
                ):
                    live.stop()
                analyze_ready(final=False)
                time.sleep(POLL_INTERVAL)
        except KeyboardInterrupt:
            live.stop()
        live.finish()
        analyze_ready(final=True)
        evidence = analyzer.finish()
    for info in evidence.capture.files:
        info.path = f"live:{iface}:{Path(info.path).name}"
        info.format = "live"
    return evidence
