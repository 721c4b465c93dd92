"""Helpers shared by the CLI modules: progress display, output formats."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click


def want_progress(quiet: bool) -> bool:
    """Progress bars only on an interactive terminal and when not asked to be quiet."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def byte_progress(label: str, enabled: bool) -> Iterator:
    """A rich progress bar on stderr fed with (done, total) byte counts; a no-op when disabled."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        yield update


FORMAT_CHOICE = click.Choice(["text", "json"])
