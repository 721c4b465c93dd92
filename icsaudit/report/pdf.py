"""PDF via weasyprint (the optional ``pdf`` extra), printed from the same HTML with its print CSS."""

from __future__ import annotations

from icsaudit.errors import IcsauditError


def weasyprint_available() -> bool:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):  # OSError: the Python package is there but pango/cairo are not
        return False
    return True


def html_to_pdf(html: str) -> bytes:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        raise IcsauditError(
            "--format pdf needs weasyprint, which is not installed",
            hint=f"pip install 'icsaudit[pdf]' ({exc.__class__.__name__}: {exc})",
        ) from None

    # no base_url and a fetcher that refuses everything: the report is self-contained by design
    def refuse(url: str, *args, **kwargs):
        raise ValueError(f"external resource refused: {url}")

    return weasyprint.HTML(string=html, url_fetcher=refuse).write_pdf()
