"""`site init` drafts a site model that loads and zones the observed hosts."""

from __future__ import annotations

from icsaudit.engine.profiles import load_profile
from icsaudit.engine.site import parse_site
from icsaudit.engine.siteinit import draft_site
from icsaudit.evidence.model import Asset, Evidence


def test_draft_site_parses_and_zones_hosts(tmp_path) -> None:
    evidence = Evidence(
        assets=[
            Asset(asset_id="10.1.0.5", ip="10.1.0.5", role="plc", vendor="Acme", firmware="1.2"),
            Asset(asset_id="10.2.0.10", ip="10.2.0.10", role="hmi"),
            Asset(asset_id="10.2.0.20", ip="10.2.0.20", role="ews"),
            Asset(asset_id="8.8.8.8", ip="8.8.8.8", role="it-host"),
        ]
    )
    text = draft_site(evidence, load_profile("water-chlorine"), "Plant: north")
    path = tmp_path / "site.yaml"
    path.write_text(text)
    model = parse_site(path)
    assert model.site.name == "Plant: north"
    assert {z.id: z.cidrs for z in model.site.zones} == {"zone-1": ["10.1.0.0/24"], "zone-2": ["10.2.0.0/24"]}
    assert model.zones["zone-1"].purdue_level == 1 and model.zones["zone-2"].purdue_level == 2
    assert model.site.engineering_workstations == ["10.2.0.20"] and model.site.hmis == ["10.2.0.10"]
    assert model.zone_of("8.8.8.8") is None
    assert "REVIEW" in text and "expected_firmware: '1.2'" in text
