"""The HTML report in a real headless Chromium: it renders, fetches nothing, and prints to pages.

Skipped when the Debian package ``chromium`` is absent. Keeps tests/artifacts/report-page1.png.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.data.assessments.cli import ARTIFACTS, Q1, run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--disable-extensions",
]


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(dir=tmp, prefix="profile-")
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


class _Cdp:
    """Minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-framed)."""

    def __init__(self, tmp: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_fds() -> None:  # runs in the child before close_fds, which keeps only 3 and 4
            high_r, high_w = os.dup(to_chrome_r) + 100, os.dup(from_chrome_w) + 100
            os.dup2(to_chrome_r, high_r)
            os.dup2(from_chrome_w, high_w)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        profile = tempfile.mkdtemp(dir=tmp, prefix="profile-")
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire_fds,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict] = []

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_chrome], [], [], 60)
            chunk = os.read(self._from_chrome, 1 << 16) if ready else b""
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe or stopped answering")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        while True:
            event = self._read()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html")
    assert run("report", Q1, "--format", "html", "-o", out).exit_code == 0
    return out / "report.html"


def test_renders_without_any_network_request(report_html, tmp_path):
    """Every request the page makes, as DevTools reports them: only the file itself and data: URIs."""
    cdp = _Cdp(tmp_path)
    try:
        target = next(t for t in cdp.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        session = cdp.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
        cdp.call("Network.enable", session)
        cdp.call("Page.enable", session)
        cdp.call("Page.navigate", session, url=report_html.as_uri())
        cdp.wait_for("Page.loadEventFired")
        text = cdp.call("Runtime.evaluate", session, expression="document.body.innerText")["result"]["value"]
        svg_boxes = cdp.call(
            "Runtime.evaluate", session, expression="document.querySelectorAll('svg.zonemap g.zone').length"
        )["result"]["value"]
        height = cdp.call("Runtime.evaluate", session, expression="document.documentElement.scrollHeight")[
            "result"
        ]["value"]
    finally:
        cdp.close()
    assert "Riverbend Water Treatment Plant" in text and "Executive summary" in text
    assert svg_boxes == 8  # 7 zones and the unzoned box
    assert height > 3000  # laid out, not an empty page
    requested = {
        e["params"]["request"]["url"] for e in cdp.events if e.get("method") == "Network.requestWillBeSent"
    }
    assert report_html.as_uri() in requested
    foreign = {u for u in requested if not u.startswith(("file://", "data:"))}
    assert not foreign, f"the report made network requests: {sorted(foreign)}"
    assert requested == {report_html.as_uri()} | {u for u in requested if u.startswith("data:")}


def test_first_page_screenshot(report_html, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report-page1.png"
    shot.unlink(missing_ok=True)
    result = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1240,1754", report_html.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1240, 1754)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed")
def test_prints_to_several_pages(report_html, tmp_path):
    pdf = tmp_path / "report.pdf"
    result = _chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", report_html.as_uri())
    assert result.returncode == 0 and pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(pdf), str(tmp_path / "page")], check=True, timeout=120
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 4, (
        "print CSS breaks the report into pages (summary, zones, frameworks, findings, inventory)"
    )
    shutil.copy(pages[0], ARTIFACTS / "report-print-page1.png")
