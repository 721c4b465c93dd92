"""Entry point of a lab child process: one device, or the traffic of one scenario.

    python -m icsaudit.lab.runner device '<DeviceSpec JSON>' PORT JOURNAL
    python -m icsaudit.lab.runner traffic '<[TrafficSpec] JSON>' '<{device: [address, port, protocol]} JSON>'

It prints READY on stdout once listening (the parent waits for that line), stops on SIGTERM/SIGINT
and closes its sockets on the way out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable

import msgspec

from icsaudit.lab.model import DeviceSpec, TrafficSpec


def _announce_ready() -> None:
    """Tell the parent we listen, then point stdout at /dev/null: the parent closes its end."""
    try:
        print("READY", flush=True)
    except BrokenPipeError:
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


async def _run_until_signal(main: Awaitable[None], ready: Awaitable[None] | None = None) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    waiter = asyncio.ensure_future(ready if ready is not None else asyncio.sleep(0.2))
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if task.done():  # the device failed while starting: report why
        waiter.cancel()
        task.result()
        return
    waiter.result()
    if not task.done():
        _announce_ready()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def _device(spec: DeviceSpec, port: int, journal_path: str) -> None:
    from icsaudit.lab.devices import server_for
    from icsaudit.lab.devices.ready import wait_listening
    from icsaudit.lab.journal import Journal

    journal = Journal(journal_path, spec.name, spec.protocol, spec.address, port)
    try:
        serve = server_for(spec.protocol)
        await _run_until_signal(serve(spec, port, journal), wait_listening(spec, port))
    finally:
        journal.close()


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    logging.getLogger("icsaudit.lab").setLevel(logging.INFO)
    kind = argv[0]
    if kind == "device":
        spec = msgspec.json.decode(argv[1], type=DeviceSpec)
        asyncio.run(_device(spec, int(argv[2]), argv[3]))
    elif kind == "traffic":
        from icsaudit.lab.traffic import run_traffic

        flows = msgspec.json.decode(argv[1], type=list[TrafficSpec])
        targets = {name: tuple(value) for name, value in json.loads(argv[2]).items()}
        asyncio.run(_run_until_signal(run_traffic(flows, targets)))
    else:
        print(f"unknown kind {kind!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
