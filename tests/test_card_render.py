"""The Teams cards as a browser draws them: the official `adaptivecards` 3.x renderer in headless Chromium.

`tools/cardrender/render.mjs` parses each card for Adaptive Cards 1.4 (what the Teams Workflows bot
renders), reports every parse warning and error, and screenshots it at 480 px. The PNGs are copied to
`artifacts/cards/` for a human to look at. An inline 1.5 card with a `Table` proves the harness can fail:
the renderer draws 1.5 happily, so the version is checked here too.

Needs `/usr/bin/chromium` (Debian `chromium`) and `npm ci` in `tools/cardrender`; the rendering tests are
skipped otherwise. The size of every card's message, as posted, is measured with or without them: the
Workflows webhook refuses messages over about 28 KB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import detectors
from drift.armid import mysql_server_ref
from drift.engine import remediation
from drift.model import Alert, HistoryRecord
from notifiers.teams import MAX_MESSAGE_BYTES, adaptive_card, message, serialized_size

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tools" / "cardrender"
CHROMIUM = os.environ.get("CARDRENDER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "cards"

SUBSCRIPTION = "3f2a9c1e-5b7d-4e0f-9a8b-1c2d3e4f5a6b"
ADMIN = "Casey Admin <casey@contoso.example>"


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found: apt-get install -y chromium"
    if not (HARNESS / "node_modules" / "adaptivecards").is_dir():
        return "tools/cardrender/node_modules missing: npm ci --prefix tools/cardrender"
    if shutil.which("node") is None:
        return "node not found"
    return None




def _server_id(group: str, name: str) -> str:
    return (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.DBforMySQL/"
            f"flexibleServers/{name}")


def _record(server: str, setting: str, before: str | None, after: str, severity: str, why: str, *,
            group: str = "rg-payments-prod", target: str = "", event: str = "9d1c7a52-2f4e-4b8e-a0c1-5e7f3a9b2d61",
            operation: str = "Microsoft.DBforMySQL/flexibleServers/write") -> HistoryRecord:
    """A record as the engine writes it: the detector's control and its undo command for this server."""
    detector = detectors.by_setting(setting)
    server_id = _server_id(group, server)
    ref = mysql_server_ref(server_id)
    assert ref is not None
    command = remediation(detector.command, ref, (target,) if target else ())
    return HistoryRecord(
        server_id=server_id, server=server, setting=setting, before=before, after=after, verdict="weakened",
        severity=severity, why=why, event_id=event, event_time="2025-11-20T09:41:07.512000+00:00",
        detected_at="2025-11-20T09:41:19.204511+00:00", operation=operation, changed_by=ADMIN,
        client_ip="203.0.113.7", correlation_id="c0ffee00-1d2e-4f3a-8b4c-5d6e7f8a9b0c", alert_status="pending",
        remediation=command, control=detector.control)


def _change() -> Alert:
    rule = "AllowAll_2025-11-20_09-41-02"
    record = _record(
        "mysql-payments-01", "firewall_rules", "office (198.51.100.10-198.51.100.20)",
        f"office (198.51.100.10-198.51.100.20), {rule} (0.0.0.0-255.255.255.255)", "critical",
        f"opens port 3306 to the whole internet: {rule} (0.0.0.0-255.255.255.255)", target=rule,
        operation="Microsoft.DBforMySQL/flexibleServers/firewallRules/write")
    return Alert("change", [record], id="20251120T094119-firewall_rules-9d1c7a52")


def _posture() -> Alert:
    server = "mysql-orders-new"
    gaps = [
        ("public_network_access", "Enabled", "high",
         "public network access is Enabled: the server has an internet endpoint"),
        ("aad_auth_only", "OFF", "high", "Entra-only authentication is off: MySQL password logins are accepted"),
        ("tls_version", "TLSv1.2,TLSv1.3", "medium", "allows TLSv1.2; the policy allows TLSv1.3 only"),
        ("diagnostic_settings", "none", "high", "no diagnostic setting ships MySqlAuditLogs to a workspace"),
        ("data_encryption", "service-managed key", "medium", "data is encrypted with a service-managed key"),
        ("backup", "retention 7 days, locally redundant", "medium",
         "backups are not geo-redundant; retention 7 days is below the policy minimum of 14"),
        ("defender", "Disabled", "medium", "Defender threat protection is not enabled"),
    ]
    records = [_record(server, setting, None, after, severity, why, group="rg-orders-dev",
                       operation="Microsoft.DBforMySQL/flexibleServers/write")
               for setting, after, severity, why in gaps]
    return Alert("posture", records, id="20251120T094119-posture-mysql-orders-new")


def _newer_card() -> dict[str, Any]:
    """What Teams Workflows refuses ("card couldn't be displayed"): 1.5 and a Table."""
    return {"type": "AdaptiveCard", "version": "1.5", "body": [
        {"type": "TextBlock", "text": "Drift on mysql-payments-01", "weight": "Bolder", "size": "Large"},
        {"type": "Table", "columns": [{"width": 1}, {"width": 2}], "rows": [
            {"type": "TableRow", "cells": [
                {"type": "TableCell", "items": [{"type": "TextBlock", "text": "Setting"}]},
                {"type": "TableCell", "items": [{"type": "TextBlock", "text": "firewall_rules"}]}]}]},
    ], "actions": [{"type": "Action.Submit", "title": "Acknowledge"}]}


def _group() -> Alert:
    """One deployment script: three changes with one correlation id."""
    records = [
        _record("mysql-payments-01", "aad_auth_only", "ON", "OFF", "high",
                "Entra-only authentication is off: MySQL password logins are accepted"),
        _record("mysql-payments-01", "require_secure_transport", "ON", "OFF", "high",
                "require_secure_transport is OFF: unencrypted connections are accepted"),
        _record("mysql-payments-02", "public_network_access", "Disabled", "Enabled", "critical",
                "public network access is Enabled while firewall rules AllowAll admit broad ranges"),
    ]
    return Alert("group", records, id="20251120T094119-group-c0ffee00")


def _digest() -> Alert:
    """Past the per-minute limit: the rest of a burst on one card."""
    records = [_record(f"mysql-batch-{n:02d}", "tls_version", "TLSV1.3", "TLSV1.2,TLSV1.3", "medium",
                       "allows TLSv1.2 (policy allows TLSv1.3)", event=f"e{n}") for n in range(1, 31)]
    return Alert("digest", records, id="20251120T094200-digest")


# The longest values the cards show (rule lists, claims, reasons), cut at the code's own limits only.
LONG_LIST = ", ".join(f"rule_{n:03d}-[vpn] (10.{n}.0.0-10.{n}.255.255)" for n in range(60))
LONG_WHY = "opens port 3306 to ranges wider than the policy allows: " + LONG_LIST
LONG_COMMAND = " ; ".join(f"az mysql flexible-server firewall-rule delete -g rg -n srv --rule-name rule_{n:03d} --yes"
                          for n in range(20))


def _at_limits(record: HistoryRecord) -> HistoryRecord:
    return replace(record, before=LONG_LIST, after=LONG_LIST + ", AllowAll (0.0.0.0-255.255.255.255)", why=LONG_WHY,
                   remediation=LONG_COMMAND, changed_by=ADMIN, correlation_id="c0ffee00-1d2e-4f3a-8b4c-5d6e7f8a9b0c")


def _posture_at_limits() -> Alert:
    server = "mysql-orders-new"
    records = [_at_limits(_record(server, d.setting, None, "x", "high", "x", group="rg-orders-dev"))
               for d in detectors.all_detectors() if d.setting != "server_tags"]
    return Alert("posture", records, id="20251120T094119-posture-at-limits")


def _group_at_limits() -> Alert:
    records = [_at_limits(_record(f"mysql-payments-{n:02d}", "firewall_rules", "x", "x", "critical", "x"))
               for n in range(40)]
    return Alert("group", records, id="20251120T094119-group-at-limits")


def _digest_at_limits() -> Alert:
    records = [_at_limits(_record(f"mysql-batch-{n:02d}", "tls_version", "x", "x", "medium", "x", event=f"e{n}"))
               for n in range(60)]
    return Alert("digest", records, id="20251120T094200-digest-at-limits")


def _change_at_limits() -> Alert:
    return Alert("change", [_at_limits(_change().records[0])], id="20251120T094119-change-at-limits")


AT_LIMITS = {"change_at_limits": _change_at_limits, "posture_at_limits": _posture_at_limits,
             "group_at_limits": _group_at_limits, "digest_at_limits": _digest_at_limits}
PROJECT_CARDS = {"change": _change, "posture": _posture, "group": _group, "digest": _digest, **AT_LIMITS}


def _resolved() -> Alert:
    """The weakening of `_change` undone: the restoring row, and the original alert's key in `resolves`."""
    record = _record("mysql-payments-01", "firewall_rules", _change().records[0].after,
                     "office (198.51.100.10-198.51.100.20)", "info",
                     "resolved: opens port 3306 to the whole internet: "
                     "AllowAll_2025-11-20_09-41-02 (0.0.0.0-255.255.255.255)",
                     operation="Microsoft.DBforMySQL/flexibleServers/firewallRules/delete")
    record.verdict = "strengthened"
    return Alert("resolved", [record], id="20251120T101502-firewall_rules-resolved", resolves=_change().key)


PROJECT_CARDS["resolved"] = _resolved


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    if _missing() is not None:
        pytest.skip(f"card render harness unavailable: {_missing()}")
    cards_dir, out_dir = tmp_path_factory.mktemp("cards"), tmp_path_factory.mktemp("rendered")
    cards = {name: adaptive_card(build()) for name, build in PROJECT_CARDS.items()}
    cards["newer_table_1_5"] = _newer_card()
    for name, card in cards.items():
        (cards_dir / f"{name}.json").write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
    result = subprocess.run(["node", str(HARNESS / "render.mjs"), str(cards_dir), str(out_dir)],
                            capture_output=True, text=True, timeout=60, cwd=HARNESS)
    assert result.returncode == 0, f"render.mjs crashed:\n{result.stdout}\n{result.stderr}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for png in out_dir.glob("*.png"):
        shutil.copy2(png, ARTIFACTS / png.name)
    shutil.copy2(out_dir / "report.json", ARTIFACTS / "report.json")
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    assert set(report) == set(cards), result.stdout
    return report, out_dir


@pytest.mark.parametrize("kind", sorted(PROJECT_CARDS))
def test_project_card_renders_clean_for_teams(rendered: tuple[dict[str, Any], Path], kind: str) -> None:
    report, out_dir = rendered
    entry = report[kind]
    assert entry["version"] == "1.4", entry
    assert entry["warnings"] == [], entry["warnings"]
    assert entry["errors"] == [], entry["errors"]
    assert entry["blockedRequests"] == []
    png = out_dir / f"{kind}.png"
    assert png.is_file()
    assert png.stat().st_size > 5 * 1024, f"{png.name} is only {png.stat().st_size} bytes"
    assert entry["width"] == 480 and entry["height"] > 100, entry


def test_untrusted_text_reads_literally(rendered: tuple[dict[str, Any], Path]) -> None:
    """Escaped markdown comes out as the original text: no stray backslashes, no links in the body."""
    for kind in PROJECT_CARDS:
        entry = rendered[0][kind]
        assert ADMIN in entry["text"], entry["text"]
        assert "\\" not in entry["text"], entry["text"]
        assert entry["links"] == [], entry["links"]
    change = rendered[0]["change"]["text"]
    assert "AllowAll_2025-11-20_09-41-02 (0.0.0.0-255.255.255.255)" in change
    assert "--rule-name AllowAll_2025-11-20_09-41-02" in change
    posture = rendered[0]["posture"]["text"]
    for setting in ("Public network access", "Entra-only authentication", "TLS versions", "Defender"):
        assert setting in posture, posture


def test_harness_flags_a_card_teams_cannot_show(rendered: tuple[dict[str, Any], Path]) -> None:
    entry = rendered[0]["newer_table_1_5"]
    assert entry["version"] == "1.5"  # the renderer accepts 1.5: the version check is ours
    assert any(w.startswith("UnknownElementType") and "Table" in w for w in entry["warnings"]), entry
    assert any(w.startswith("UnknownActionType") and "Action.Submit" in w for w in entry["warnings"]), entry
    assert any(e.startswith("UnsupportedCardVersion") for e in entry["errors"]), entry


WORKFLOWS_LIMIT = 28_000  # bytes; "about 28 KB" (shared notes): MAX_MESSAGE_BYTES keeps a margin below it


@pytest.mark.parametrize("kind", sorted(PROJECT_CARDS))
def test_every_card_message_stays_under_the_workflows_webhook_limit(kind: str) -> None:
    alert = PROJECT_CARDS[kind]()
    size = serialized_size(message(alert))
    assert size <= MAX_MESSAGE_BYTES < WORKFLOWS_LIMIT, f"{kind}: {size} bytes"


@pytest.mark.parametrize("kind", ["posture_at_limits", "group_at_limits", "digest_at_limits"])
def test_a_card_at_the_field_limits_lists_what_fits_and_counts_the_rest(kind: str) -> None:
    alert = PROJECT_CARDS[kind]()
    body = adaptive_card(alert)["body"]
    listed = [b for b in body if b["type"] == "Container"]
    more = [b["text"] for b in body if b["type"] == "TextBlock" and b["text"].startswith("… and ")]
    hidden = len(alert.records) - len(listed)
    assert listed, "at least one record is always listed"
    if hidden:
        assert more == [f"… and {hidden} more: run `mysql-drift history --verdict weakened`"]
    else:
        assert more == []
    # The budget is used, not wasted: one more record would not have fitted.
    assert serialized_size(message(alert)) > MAX_MESSAGE_BYTES - 2 * serialized_size(listed[-1]) or not hidden


def test_small_cards_list_every_record() -> None:
    for build in (_posture, _group):
        alert = build()
        body = adaptive_card(alert)["body"]
        assert len([b for b in body if b["type"] == "Container"]) == len(alert.records)
        assert not any(b["type"] == "TextBlock" and b["text"].startswith("… and ") for b in body)


def test_the_counted_rest_renders(rendered: tuple[dict[str, Any], Path]) -> None:
    text = rendered[0]["group_at_limits"]["text"]
    assert "… and " in text and "more: run mysql-drift history --verdict weakened" in text.replace("`", "")
