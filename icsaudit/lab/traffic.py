"""The scenario's traffic: each TrafficSpec becomes a loop that runs one client action per interval
from its own 127.x source address until cancelled. A failing round is logged and retried next round:
traffic never stops the lab."""

from __future__ import annotations

import asyncio
import logging
import random

from icsaudit.lab.clients import ACTIONS, SOURCE, bind_sources
from icsaudit.lab.model import TrafficSpec
from icsaudit.lab.safety import require_loopback

log = logging.getLogger("icsaudit.lab.traffic")


async def _loop(spec: TrafficSpec, target: tuple[str, int]) -> None:
    SOURCE.set(require_loopback(spec.source, "traffic source"))
    action = ACTIONS[spec.kind]
    rounds = int(spec.options.get("rounds", 0))  # 0: until stopped
    done = 0
    await asyncio.sleep(random.uniform(0, min(spec.interval, 1.0)))  # spread the first round
    while not rounds or done < rounds:
        try:
            summary = await asyncio.wait_for(action(target, spec.options), spec.interval + 10)
            log.info("%s: %s", spec.name, summary)
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - bacpypes3 errors are BaseException; retried next round
            log.warning("%s: %s", spec.name, exc)
        done += 1
        await asyncio.sleep(spec.interval)


async def run_traffic(flows: list[TrafficSpec], targets: dict[str, tuple]) -> None:
    """Run every flow against its target device (name -> (address, port, protocol)) until cancelled."""
    bind_sources(asyncio.get_running_loop())
    tasks = []
    for spec in flows:
        address, port = targets[spec.target][0], int(targets[spec.target][1])
        tasks.append(
            asyncio.create_task(
                _loop(spec, (require_loopback(address, "traffic target"), port)), name=spec.name
            )
        )
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
