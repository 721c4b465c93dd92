"""Advisory matching bench: 10k synthetic assets against the full store of real advisories.

Assets are drawn from the vendors and products in the store (order numbers, catalog numbers or
product names as the model, random firmware, some without firmware or with a vendor no advisory
names). The peer is the same matching without the index (every asset against every product), run
on a sample and scaled to the same asset count.

    bench_advisories() -> [(label, value), ...]   # printed by `make bench`
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

from icsaudit.evidence.model import Asset

REFERENCE = (
    Path(os.environ.get("ICSAUDIT_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "reference"
)
ASSETS = 10_000
NAIVE_SAMPLE = 300
SEED = 7


def synthetic_assets(advisories, count: int, seed: int) -> list[Asset]:
    rng = random.Random(seed)
    products = [p for a in advisories for p in a.products]
    assets: list[Asset] = []
    for n in range(count):
        product = rng.choice(products)
        models = list(product.model_numbers) or [product.name]
        model = rng.choice(models)
        firmware = f"V{rng.randint(0, 40)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}"
        roll = rng.random()
        if roll < 0.1:
            firmware = ""  # identity without firmware
        elif roll < 0.15:
            product_vendor, model = "Acme Controls", f"ACME-{n}"  # a vendor no advisory names
            assets.append(
                Asset(
                    asset_id=f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}",
                    vendor=product_vendor,
                    model=model,
                    firmware=firmware,
                )
            )
            continue
        assets.append(
            Asset(
                asset_id=f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}",
                vendor=product.vendor,
                model=model,
                firmware=firmware,
            )
        )
    return assets


def _naive(index, assets: list[Asset]) -> int:
    """Every asset against every product: what the vendor/key/token index avoids."""
    from icsaudit.advisories.normalize import contains_sequence

    entries = {id(e): e for vx in index.vendors.values() for lst in vx.by_key.values() for e in lst}
    entries.update({id(e): e for vx in index.vendors.values() for lst in vx.by_token.values() for e in lst})
    hits = 0
    for asset in assets:
        device = index.device(asset.asset_id, asset.vendor, asset.model, asset.firmware)
        for entry in entries.values():
            if entry.keys & device.keys or (device.tokens and contains_sequence(entry.tokens, device.tokens)):
                hits += index._judge(entry, "model", "", device) is not None
    return hits


def bench_advisories() -> list[tuple[str, str]]:
    from icsaudit.advisories.match import AdvisoryIndex
    from icsaudit.advisories.store import import_files, load_advisories

    if not (REFERENCE / "csaf").is_dir():
        return [("advisory matching", "skipped: ../shared/reference/csaf is absent")]
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "advisories.sqlite"
        start = time.perf_counter()
        report = import_files([REFERENCE / "csaf", REFERENCE / "kev.json"], store)
        imported = time.perf_counter() - start
        start = time.perf_counter()
        index = AdvisoryIndex(*load_advisories(store))
        indexed = time.perf_counter() - start
    assets = synthetic_assets(index.advisories, ASSETS, SEED)
    start = time.perf_counter()
    found = index.match_assets(assets)
    matched = time.perf_counter() - start
    sample = assets[:NAIVE_SAMPLE]
    start = time.perf_counter()
    _naive(index, sample)
    naive = (time.perf_counter() - start) * len(assets) / len(sample)
    by_confidence = {c: sum(1 for m in found if m.confidence == c) for c in ("high", "medium", "low")}
    return [
        (
            "advisory import",
            f"{report.advisories} advisories, {report.products} products, "
            f"{report.kev_entries} KEV in {imported:.2f} s ({len(report.failures)} failed)",
        ),
        ("advisory index build", f"{indexed:.2f} s"),
        (f"match {ASSETS} assets", f"{matched:.2f} s ({ASSETS / matched:,.0f} assets/s)"),
        (
            "matches",
            f"{len(found)} (high {by_confidence['high']}, medium {by_confidence['medium']}, "
            f"low {by_confidence['low']}), {sum(m.kev for m in found)} with KEV, "
            f"{len({m.asset_id for m in found})} assets affected",
        ),
        (
            f"peer: no index, {ASSETS} assets",
            f"{naive:.1f} s (scaled from {NAIVE_SAMPLE}); index is {naive / matched:.0f}x faster",
        ),
    ]


if __name__ == "__main__":
    for label, value in bench_advisories():
        print(f"{label}: {value}")
