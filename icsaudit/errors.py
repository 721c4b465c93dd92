"""Errors a user can act on. The CLI prints them as one line (plus a hint) and exits non-zero."""

from __future__ import annotations


class IcsauditError(Exception):
    """A problem with the user's input or environment: no traceback, one clear line."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(IcsauditError):
    """Bad input file (capture, YAML, JSON): the message names the file and the place."""


class SafetyRefusal(IcsauditError):
    """A probe or lab action refused by a safety rule; the message names the rule."""

    exit_code = 3
