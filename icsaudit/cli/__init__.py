"""The icsaudit command line: thin click commands that parse, call the library and print.

Each area keeps its commands in its own module (``icsaudit/cli/<area>.py``) exposing ``COMMANDS``;
this module assembles them and turns IcsauditError into one line and a non-zero exit.
"""

from __future__ import annotations

import importlib
import sys

import click

from icsaudit import __version__
from icsaudit.errors import IcsauditError

AREAS = ("analyze", "capture", "engine", "report", "lab", "probe", "audit", "advisories")


def _versions() -> str:
    lines = [f"icsaudit {__version__}"]
    try:
        from icsaudit.versions import component_versions

        for name, version in component_versions().items():
            lines.append(f"  {name} {version}")
    except ImportError:
        pass
    return "\n".join(lines)


class IcsauditGroup(click.Group):
    """Prints IcsauditError as one line with a hint instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except IcsauditError as exc:
            click.secho(f"error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # Computed only when asked: hashing the check set on every command would slow them all down.
    if value and not ctx.resilient_parsing:
        click.echo(_versions())
        ctx.exit()


@click.group(
    cls=IcsauditGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the versions of icsaudit, its contracts and its check set, and exit.",
)
def main() -> None:
    """Assess the cyber-security posture of industrial control systems at CBRN facilities.

    \b
    Listen first (analyze captures), ask second (safe read-only probes), judge the evidence
    against OT checks mapped to the facility profile, and write signed gap reports.

    \b
    Example:
      icsaudit analyze plant.pcapng -o evidence.json
    """


def _register() -> None:
    for area in AREAS:
        try:
            module = importlib.import_module(f"icsaudit.cli.{area}")
        except ModuleNotFoundError as exc:
            if exc.name == f"icsaudit.cli.{area}":
                continue  # that area is not built yet
            raise
        for command in module.COMMANDS:
            main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
