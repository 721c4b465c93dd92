"""Passive analysis: captures (or a live interface) -> streaming decode -> evidence."""

from icsaudit._compiled import prefer_compiled

prefer_compiled(__path__, __name__)  # the Cython build of the hot modules, when it matches this source
