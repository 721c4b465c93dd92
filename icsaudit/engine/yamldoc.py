"""YAML documents that remember where each key was written, so errors name the file and the line.

PyYAML's composer gives every node a start mark; we walk the node tree alongside the loaded data and
record the line of every path (("zones", 2, "csl") -> 14). Schema errors from jsonschema carry the
same path, so a bad value is reported as ``site.yaml:14: zones[2].csl: 7 is greater than 5``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from icsaudit.errors import InputError

Path_ = tuple[str | int, ...]


class LoadedYaml:
    """Parsed data plus the line (1-based) of every key/item path."""

    def __init__(self, path: Path, data: Any, lines: dict[Path_, int]) -> None:
        self.path = path
        self.data = data
        self.lines = lines

    def line_of(self, path: Iterable[str | int]) -> int:
        """Line of the deepest known prefix of ``path`` (the key itself when it exists)."""
        parts = tuple(path)
        while parts and parts not in self.lines:
            parts = parts[:-1]
        return self.lines.get(parts, 1)

    def error(self, path: Iterable[str | int], problem: str) -> InputError:
        parts = tuple(path)
        where = format_path(parts)
        prefix = f"{where}: " if where else ""
        return InputError(f"{self.path}:{self.line_of(parts)}: {prefix}{problem}")


def format_path(parts: tuple[str | int, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _record_lines(node: yaml.Node, prefix: Path_, lines: dict[Path_, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[prefix + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, prefix + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[prefix + (index,)] = item.start_mark.line + 1
            _record_lines(item, prefix + (index,), lines)


def load_yaml(path: str | Path, text: str | None = None) -> LoadedYaml:
    """Parse a YAML file; syntax errors become InputError with file and line."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise InputError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML: {exc}") from None
    lines: dict[Path_, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return LoadedYaml(path, data, lines)


def validate(doc: LoadedYaml, schema: dict[str, Any]) -> None:
    """Validate against a JSON schema; the first (deepest, then earliest-line) error is raised."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(doc.data))
    if not errors:
        return
    best = min(errors, key=lambda e: (doc.line_of(_where(e)), -len(e.absolute_path)))
    raise doc.error(_where(best), _describe(best))


def _where(error: jsonschema.ValidationError) -> tuple[str | int, ...]:
    """The error's path; for unknown keys, the first unknown key itself (its line is the useful one)."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            return path + (extra[0],)
    return path


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown key(s)")
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"{error.instance!r} is not one of: {allowed}"
    return error.message
