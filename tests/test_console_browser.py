"""The console in a browser: headless Debian Chromium, driven by playwright-core
(`tools/cardrender/console.mjs`, the package that renders the cards), against the local server
`mysql-drift local up` runs, on a fleet built through the SDK and the engine.

It clicks fleet -> server -> finding -> Accept, and what each page showed is checked against the
history and the findings in the table: the grid's colours, the timeline's rows, the finding's facts,
the accepted finding closed and the fleet without it. Nothing may be fetched from another origin,
no value may run as script (a dialog would open), no CSP violation may be reported, and at 375 px
no element may be wider than the screen. The screenshots go to `artifacts/console/`.

Needs `/usr/bin/chromium` (Debian `chromium`) and `npm ci` in `tools/cardrender`; skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from drift.config import Settings
from drift.findings import FindingStore
from drift.local.arm import ArmStandIn
from drift.local.console_server import LocalConsole, local_user
from drift.local.tls import LocalCA
from drift.runtime import build_engine
from tests.console_stock import HOSTILE_NAME, stock

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tools" / "cardrender"
CHROMIUM = os.environ.get("CARDRENDER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "console"


def missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found: apt-get install -y chromium"
    if not (HARNESS / "node_modules" / "playwright-core").is_dir():
        return "tools/cardrender/node_modules missing: npm ci --prefix tools/cardrender"
    if shutil.which("node") is None:
        return "node not found"
    return None


def click_through(plan: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    out = tmp_path / "out"
    result = subprocess.run(["node", str(HARNESS / "console.mjs"), str(tmp_path / "plan.json"), str(out)],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for png in out.glob("*.png"):
        shutil.copy2(png, ARTIFACTS / png.name)
    shutil.copy2(out / "report.json", ARTIFACTS / "report.json")
    return dict(json.loads((out / "report.json").read_text()))


def test_an_on_call_clicks_from_the_fleet_to_a_finding_and_accepts_it_in_chromium(
    settings: Settings, sdk: Any, arm: ArmStandIn, ca: LocalCA, server_name: str, tmp_path: Path,
) -> None:
    if missing():
        pytest.skip(f"console browser harness unavailable: {missing()}")
    engine = build_engine(settings)
    fleet = stock(engine, sdk, arm, ca, server_name.removeprefix("srv-"))
    findings = FindingStore(engine.store)
    [tls] = [f for f in findings.open_findings() if f.setting == "tls_version"]
    [public] = [f for f in findings.open_findings() if f.setting == "public_network_access"]
    open_on_weak = sorted(f.id for f in findings.server_findings(fleet.id(fleet.weak)) if f.open)
    with LocalConsole(engine) as console:
        report = click_through({"url": console.url, "server": fleet.weak, "finding": tls.id,
                                "reason": "legacy JDBC driver, CHG-77", "narrowFinding": public.id}, tmp_path)

    assert report["blockedRequests"] == [], "nothing is fetched from another origin (no CDN)"
    assert report["dialogs"] == [], "no value ran as script"
    assert report["csp"] == [] and report["errors"] == []
    desktop = report["desktop"]

    grid = {row["server"]: row for row in desktop["fleet"]}
    assert set(grid) == {fleet.weak, fleet.exposed, fleet.calm}
    assert (grid[fleet.weak]["cells"]["tls_version"], grid[fleet.weak]["cells"]["firewall_rules"]) == (
        "sev-medium", "sev-low")
    assert grid[fleet.exposed]["cells"]["public_network_access"] == "sev-high"
    assert grid[fleet.calm]["worst"] == "NONE"

    assert desktop["serverHeading"] == fleet.weak
    assert desktop["portal"] == f"https://portal.azure.com/#@/resource{fleet.id(fleet.weak)}"
    history = engine.store.history(server_id=fleet.id(fleet.weak))
    changes = [r for r in history if r.operation != "accept"]
    assert [(row["Who"], row["From"], row["Verdict"]) for row in desktop["timeline"]] == [
        (r.changed_by, r.client_ip or "unknown", r.verdict) for r in changes]
    assert sorted(desktop["openFindings"]) == open_on_weak and tls.id in open_on_weak

    shown = desktop["finding"]
    assert shown["Changed by"] == f"{HOSTILE_NAME} <casey@contoso.example>" == tls.changed_by
    assert (shown["Before"], shown["After"], shown["From IP"]) == (tls.before, tls.after, tls.client_ip)
    assert (shown["Alert id"], shown["Event id"], shown["Status"]) == (" ".join(tls.alert_keys), tls.event_id, "open")

    assert desktop["acceptResult"].startswith("Accepted as the baseline: tls_version = ")
    accepted = history[0]
    assert (accepted.operation, accepted.changed_by, accepted.setting) == ("accept", local_user(), "tls_version")
    assert "legacy JDBC driver, CHG-77" in accepted.why
    closed = findings.finding(tls.id)
    assert closed is not None and closed.status == "accepted"
    assert (desktop["findingAfter"]["Status"], desktop["findingAfter"]["Closed by"]) == ("accepted", local_user())
    assert desktop["formsAfter"] == 0
    after = {row["server"]: row for row in desktop["fleetAfter"]}
    assert after[fleet.weak]["cells"]["tls_version"] == "ok" and after[fleet.weak]["worst"] == "LOW"

    phone = report["phone"]
    for page in ("fleet", "server", "finding"):
        assert phone[page]["scrollWidth"] <= 375 and phone[page]["wide"] == [], (page, phone[page])
    assert any(line.startswith(fleet.exposed) and "HIGH public_network_access" in line for line in phone["compact"])
    assert {"fleet-desktop.png", "server-desktop.png", "finding-desktop.png", "finding-accepted-desktop.png",
            "fleet-375.png", "server-375.png", "finding-375.png"} <= {p.name for p in ARTIFACTS.glob("*.png")}
