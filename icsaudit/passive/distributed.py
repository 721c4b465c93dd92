"""Passive analysis on a Dask cluster: the same parts as ``parallel`` (a capture list in flow shares,
or each file on its own), mapped on the workers and merged by a tree reduction on the workers.

Files are not shipped: each worker opens the paths itself, so they must be visible at the same path
on every worker (shared storage: NFS, SMB, a cluster file system). Before any work the paths and the
icsaudit version are checked on every worker, and a worker that cannot see a file is named.

Needs the optional extra ``icsaudit[dask]`` (``pip install 'icsaudit[dask]'``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from icsaudit import __version__
from icsaudit.errors import IcsauditError, InputError
from icsaudit.evidence.model import Evidence
from icsaudit.passive.parallel import (
    Outcome,
    Part,
    analyze_part,
    decode_partial,
    encode_partial,
    finish_partial,
    merge_partials,
    plan_parts,
)

REDUCE_FAN_IN = 2  # partials merged per reduce task: a worker holds the accumulator and one partial


def _client_class() -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise IcsauditError(
            "--dask needs the optional Dask support, which is not installed",
            hint="pip install 'icsaudit[dask]'",
        ) from None
    return Client


def _worker_view(paths: list[str]) -> dict[str, Any]:
    """Run on each worker: what it cannot read and which icsaudit it runs."""
    from icsaudit import __version__ as version

    missing = [p for p in paths if not (os.path.isfile(p) and os.access(p, os.R_OK))]
    return {"missing": missing, "version": version}


def check_workers(client: Any, paths: Sequence[str]) -> int:
    """Raise a clear error unless every worker sees every path and runs this icsaudit; return the
    number of worker threads."""
    info = client.scheduler_info()
    workers = info.get("workers", {})
    if not workers:
        raise IcsauditError(
            "the Dask cluster has no workers", hint="start some with `dask worker <scheduler>`"
        )
    views = client.run(_worker_view, list(paths))
    for worker, view in sorted(views.items()):
        if view["missing"]:
            shown = ", ".join(view["missing"][:3]) + (" ..." if len(view["missing"]) > 3 else "")
            raise InputError(
                f"Dask worker {worker} cannot read {len(view['missing'])} capture(s): {shown}",
                hint="captures must be on storage every worker mounts at the same path",
            )
        if view["version"] != __version__:
            raise IcsauditError(
                f"Dask worker {worker} runs icsaudit {view['version']}, this client {__version__}",
                hint="install the same icsaudit version on every worker",
            )
    return sum(w.get("nthreads", 1) for w in workers.values())


def _map_part(part: Part) -> bytes:
    return encode_partial(analyze_part(part))


def _reduce(*encoded: bytes) -> bytes:
    partials = iter(encoded)
    acc = decode_partial(next(partials))
    for data in partials:
        acc = merge_partials(acc, decode_partial(data))
    return encode_partial(acc)


def run_dask(
    paths: Sequence[str | os.PathLike[str]],
    scheduler: str | Any,
    *,
    shares: int | None = None,
    per_file: bool = False,
) -> Outcome:
    """Analyze on the cluster at ``scheduler`` (an address such as ``tcp://10.0.0.5:8786``, or a
    ``distributed.Client``). ``shares`` defaults to the cluster's worker threads."""
    names = [os.path.abspath(p) for p in paths]
    client_class = _client_class()
    client = scheduler if isinstance(scheduler, client_class) else client_class(scheduler)
    try:
        threads = check_workers(client, names)
        parts = plan_parts(names, shares or threads, per_file=per_file)
        level = client.map(_map_part, parts, pure=False)
        while len(level) > 1:  # tree reduction: log2(parts) rounds, each merge on a worker
            level = [
                client.submit(_reduce, *level[i : i + REDUCE_FAN_IN], pure=False)
                for i in range(0, len(level), REDUCE_FAN_IN)
            ]
        merged = decode_partial(level[0].result())
    finally:
        if client is not scheduler:
            client.close()
    return Outcome(finish_partial(merged), merged.failures)


def analyze_dask(
    paths: Sequence[str | os.PathLike[str]],
    scheduler: str | Any,
    *,
    shares: int | None = None,
    per_file: bool = False,
    keep_going: bool = False,
) -> Evidence:
    """Evidence of the captures analyzed on a Dask cluster; the same as ``analyze_parallel``."""
    outcome = run_dask(paths, scheduler, shares=shares, per_file=per_file)
    if outcome.failures and not keep_going:
        raise outcome.failures[0].error()
    return outcome.evidence
