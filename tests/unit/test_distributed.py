"""analyze_dask on a real dask.distributed LocalCluster (2 worker processes on 127.0.0.1)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from icsaudit.errors import IcsauditError, InputError
from icsaudit.passive.parallel import analyze_parallel
from tests.bench import gen_pcap
from tests.unit.test_parallel import comparable, edge_capture, split_pcap

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    cluster = distributed.LocalCluster(
        host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("dask")
    whole = gen_pcap.generate(root / "mix.pcap", 20_000, seed=11)
    return [*split_pcap(whole, root, 2), edge_capture(root / "zz-edge.pcap")]


def test_dask_equals_one_analyzer(cluster: str, captures: list[Path]) -> None:
    single = analyze_parallel(captures, jobs=1)
    assert single.events and single.flows and single.capture.packets > 20_000
    from icsaudit.passive.distributed import analyze_dask

    on_cluster = analyze_dask(captures, cluster)  # 2 shares: one per worker thread
    assert comparable(on_cluster) == comparable(single)
    assert comparable(analyze_dask(captures, cluster, shares=5)) == comparable(single)


def test_dask_per_file_equals_local_per_file(cluster: str, captures: list[Path]) -> None:
    from icsaudit.passive.distributed import analyze_dask

    local = analyze_parallel(captures, jobs=1, per_file=True)
    assert comparable(analyze_dask(captures, cluster, per_file=True)) == comparable(local)


def test_path_the_workers_cannot_see(cluster: str, captures: list[Path], tmp_path: Path) -> None:
    from icsaudit.passive.distributed import analyze_dask

    missing = tmp_path / "elsewhere" / "span.pcap"
    with pytest.raises(InputError, match=r"cannot read 1 capture\(s\): .*span.pcap") as info:
        analyze_dask([captures[0], missing], cluster)
    assert "every worker" in (info.value.hint or "")


def test_clear_error_without_dask(monkeypatch: pytest.MonkeyPatch, captures: list[Path]) -> None:
    from icsaudit.passive import distributed as module

    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as when not installed
    with pytest.raises(IcsauditError, match="not installed") as info:
        module.analyze_dask(captures, "tcp://127.0.0.1:1")
    assert "icsaudit[dask]" in (info.value.hint or "")
