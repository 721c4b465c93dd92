"""PDF through the optional weasyprint extra; page 1 rendered to PNG with pdftoppm."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from icsaudit.report.pdf import weasyprint_available
from tests.data.assessments.cli import ARTIFACTS, Q1, run


@pytest.mark.skipif(weasyprint_available(), reason="weasyprint is installed")
def test_clear_message_without_the_extra(tmp_path):
    result = run("report", Q1, "--format", "pdf", "-o", tmp_path)
    assert result.exit_code == 2
    assert "--format pdf needs weasyprint" in result.output and "icsaudit[pdf]" in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not weasyprint_available(), reason="the pdf extra (weasyprint) is not installed")
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed")
def test_pdf_page_one_to_png(tmp_path):
    result = run("report", Q1, "--format", "pdf", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    pdf = tmp_path / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")],
        check=True,
        timeout=120,
    )
    page = next(tmp_path.glob("p-*1.png"))
    assert page.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(page, ARTIFACTS / "report-pdf-page1.png")
