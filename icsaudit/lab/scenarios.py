"""Load and check scenarios and exercises shipped in lab/ (via icsaudit.paths.data_dir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import yaml

from icsaudit.errors import InputError
from icsaudit.lab.model import STANDARD_PORTS, DeviceSpec, Scenario, TrafficSpec, effective_port
from icsaudit.lab.safety import require_loopback, require_loopback_network
from icsaudit.paths import data_dir


def lab_dir() -> Path:
    return data_dir("lab")


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None


def scenario_ids() -> list[str]:
    return sorted(p.stem for p in (lab_dir() / "scenarios").glob("*.yaml"))


def load_scenario(name: str) -> Scenario:
    """A scenario by id (or a path to a YAML file), checked: loopback only, known protocols."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else lab_dir() / "scenarios" / f"{name}.yaml"
    if not path.is_file():
        raise InputError(f"unknown scenario {name!r}", hint=f"choose one of: {', '.join(scenario_ids())}")
    try:
        scenario = msgspec.convert(_load_yaml(path), Scenario)
    except msgspec.ValidationError as exc:
        raise InputError(f"{path}: {exc}") from None
    check_scenario(scenario, str(path))
    return scenario


def check_scenario(scenario: Scenario, where: str) -> None:
    for zone in scenario.site.zones:
        for cidr in zone.cidrs:
            require_loopback_network(cidr, f"{where}: zone {zone.id}")
    devices = list(scenario.devices) + [d for f in scenario.faults.values() for d in f.devices]
    names = [d.name for d in devices]
    if len(names) != len(set(names)):
        raise InputError(f"{where}: device names repeat")
    for device in devices:
        require_loopback(device.address, f"{where}: device {device.name}")
        if device.protocol not in STANDARD_PORTS:
            raise InputError(
                f"{where}: device {device.name} has unknown protocol {device.protocol!r}",
                hint=f"protocols: {', '.join(STANDARD_PORTS)}",
            )
    from icsaudit.lab.clients import ACTIONS

    flows = list(scenario.traffic) + [t for f in scenario.faults.values() for t in f.traffic]
    for flow in flows:
        require_loopback(flow.source, f"{where}: traffic {flow.name}")
        if flow.target not in names:
            raise InputError(f"{where}: traffic {flow.name} targets unknown device {flow.target!r}")
        if flow.kind not in ACTIONS:
            raise InputError(f"{where}: traffic {flow.name} has unknown kind {flow.kind!r}")


def select(
    scenario: Scenario, faults: list[str], with_traffic: bool = True
) -> tuple[list[DeviceSpec], list[TrafficSpec]]:
    """The devices and traffic of a scenario with the given faults injected."""
    unknown = [f for f in faults if f not in scenario.faults]
    if unknown:
        raise InputError(
            f"scenario {scenario.id} has no fault {', '.join(unknown)}",
            hint=f"faults: {', '.join(scenario.faults) or 'none'}",
        )
    devices = list(scenario.devices)
    traffic = list(scenario.traffic)
    for fault in faults:
        devices += scenario.faults[fault].devices
        traffic += scenario.faults[fault].traffic
    return devices, traffic if with_traffic else []


def device_ports(devices: list[DeviceSpec], privileged: bool | None = None) -> dict[str, int]:
    return {d.name: effective_port(d, privileged) for d in devices}
