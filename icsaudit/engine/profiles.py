"""Facility profiles (profiles/<id>.yaml): zone templates, conduits, probe and remote-access policy,
severity rules, applicable checks and frameworks, consequence weights. Validated on load."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from icsaudit.engine.model import SEVERITIES
from icsaudit.engine.yamldoc import load_yaml, validate
from icsaudit.errors import InputError
from icsaudit.paths import data_dir

CONSEQUENCES = ("radiological", "toxic", "biological", "theft-sabotage", "loss-of-monitoring")
FRAMEWORKS = ("iec62443-3-3", "nist-800-53r5", "iaea-nss17", "attack-ics")

_ZONE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "name", "purdue_level", "csl", "sl_t", "criticality"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "name": {"type": "string"},
        "purdue_level": {"enum": [0, 1, 2, 3, 3.5, 4, 5]},
        "csl": {"type": "integer", "minimum": 1, "maximum": 5},
        "sl_t": {"type": "integer", "minimum": 1, "maximum": 4},
        "safety": {"type": "boolean"},
        "one_way": {"type": "boolean"},
        "probe_allowed": {"type": "boolean"},
        "function": {"type": "string"},
        "criticality": {"type": "integer", "minimum": 1, "maximum": 5},
        "note": {"type": "string"},
    },
}
_RULE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["when", "severity", "why"],
    "properties": {
        "when": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "safety": {"type": "boolean"},
                "one_way": {"type": "boolean"},
                "csl_at_most": {"type": "integer", "minimum": 1, "maximum": 5},
                "purdue_level_at_most": {"type": "number"},
                "functions": {"type": "array", "items": {"type": "string"}},
                "checks": {"type": "array", "items": {"type": "string"}},
                "areas": {"type": "array", "items": {"type": "string"}},
                "from": {"type": "array", "items": {"enum": list(SEVERITIES)}},
            },
        },
        "severity": {"enum": list(SEVERITIES)},
        "why": {"type": "string"},
    },
}
PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "id",
        "title",
        "anchors",
        "zone_templates",
        "conduits",
        "probe_policy",
        "remote_access",
        "severity_rules",
        "unknown_asset_severity",
        "checks",
        "frameworks",
        "consequence_weights",
        "functions",
    ],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z][a-z-]+$"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "strictness": {"type": "string"},
        "anchors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "title"],
                "properties": {
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "note": {"type": "string"},
                    "verified": {"type": "boolean"},
                },
            },
        },
        "zone_templates": {"type": "array", "minItems": 2, "items": _ZONE_SCHEMA},
        "conduits": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["from", "to"],
                "properties": {
                    "from": {"type": "string"},
                    "to": {"type": "string"},
                    "protocols": {"type": "array", "items": {"type": "string"}},
                    "one_way": {"type": "boolean"},
                    "via_jump_host": {"type": "boolean"},
                    "note": {"type": "string"},
                },
            },
        },
        "probe_policy": {
            "type": "object",
            "additionalProperties": False,
            "required": ["allowed"],
            "properties": {
                "allowed": {"type": "boolean"},
                "min_csl": {"type": "integer", "minimum": 3, "maximum": 5},
                "max_pps": {"type": "number", "exclusiveMinimum": 0},
                "windows_required": {"type": "boolean"},
                "note": {"type": "string"},
            },
        },
        "remote_access": {
            "type": "object",
            "additionalProperties": False,
            "required": ["allowed"],
            "properties": {
                "allowed": {"type": "boolean"},
                "via_jump_host": {"type": "boolean"},
                "forbidden_csl_at_most": {"type": "integer"},
                "note": {"type": "string"},
            },
        },
        "severity_rules": {"type": "array", "items": _RULE_SCHEMA},
        "unknown_asset_severity": {"enum": list(SEVERITIES)},
        "capture_loss_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "checks": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "include": {"oneOf": [{"const": "all"}, {"type": "array", "items": {"type": "string"}}]},
                "exclude": {"type": "array", "items": {"type": "string"}},
            },
        },
        "frameworks": {"type": "array", "items": {"enum": list(FRAMEWORKS)}},
        "consequence_weights": {
            "type": "object",
            "additionalProperties": False,
            "required": list(CONSEQUENCES),
            "properties": {c: {"type": "integer", "minimum": 0, "maximum": 5} for c in CONSEQUENCES},
        },
        "functions": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"enum": list(CONSEQUENCES)}},
        },
    },
}


class ZoneTemplate(msgspec.Struct, kw_only=True):
    id: str
    name: str
    purdue_level: float
    csl: int
    sl_t: int
    criticality: int
    safety: bool = False
    one_way: bool = False
    probe_allowed: bool = False
    function: str = ""
    note: str = ""


class ConduitTemplate(msgspec.Struct, kw_only=True):
    from_zone: str = msgspec.field(name="from")
    to_zone: str = msgspec.field(name="to")
    protocols: list[str] = []
    one_way: bool = False
    via_jump_host: bool = False
    note: str = ""


class SeverityRule(msgspec.Struct, kw_only=True):
    when: dict[str, Any]
    severity: str
    why: str


class Profile(msgspec.Struct, kw_only=True):
    id: str
    title: str
    anchors: list[dict[str, Any]]
    zone_templates: list[ZoneTemplate]
    conduits: list[ConduitTemplate]
    probe_policy: dict[str, Any]
    remote_access: dict[str, Any]
    severity_rules: list[SeverityRule]
    unknown_asset_severity: str
    checks: dict[str, Any]
    frameworks: list[str]
    consequence_weights: dict[str, int]
    functions: dict[str, list[str]]
    description: str = ""
    strictness: str = ""
    capture_loss_threshold: float = 0.02
    path: str = ""

    def template(self, template_id: str) -> ZoneTemplate | None:
        return next((t for t in self.zone_templates if t.id == template_id), None)

    def applies(self, check_id: str) -> bool:
        include = self.checks.get("include", "all")
        if include != "all" and check_id not in include:
            return False
        return check_id not in self.checks.get("exclude", [])


def load_profile_file(path: str | Path) -> Profile:
    doc = load_yaml(path)
    validate(doc, PROFILE_SCHEMA)
    data = doc.data
    if Path(path).stem != data["id"]:
        raise doc.error(("id",), f"id {data['id']} must match the file name")
    ids = [t["id"] for t in data["zone_templates"]]
    for index, template in enumerate(data["zone_templates"]):
        if ids.count(template["id"]) > 1:
            raise doc.error(("zone_templates", index, "id"), f"duplicate zone template {template['id']}")
        unsafe = template["csl"] <= 2 or template.get("safety", False)
        if unsafe and template.get("probe_allowed", False):
            raise doc.error(
                ("zone_templates", index, "probe_allowed"),
                "probing is never allowed in CSL 1-2 or safety zones",
            )
        function = template.get("function", "")
        if function and function not in data["functions"]:
            raise doc.error(
                ("zone_templates", index, "function"),
                f"function {function!r} has no consequence categories under functions:",
            )
    for index, conduit in enumerate(data["conduits"]):
        for end in ("from", "to"):
            if conduit[end] not in ids:
                raise doc.error(("conduits", index, end), f"unknown zone template {conduit[end]!r}")
    profile = msgspec.convert(data, Profile)
    profile.path = str(path)
    return profile


def profile_ids() -> list[str]:
    return sorted(p.stem for p in data_dir("profiles").glob("*.yaml"))


@cache
def load_profile(profile_id: str) -> Profile:
    path = data_dir("profiles") / f"{profile_id}.yaml"
    if not path.is_file():
        raise InputError(f"unknown profile {profile_id!r}; valid profiles: {', '.join(profile_ids())}")
    return load_profile_file(path)


def load_profiles() -> list[Profile]:
    return [load_profile(pid) for pid in profile_ids()]
