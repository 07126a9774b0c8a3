"""The web console's pages (drift/console) against a real table on Azurite: what the fleet, a server and a
finding show is what the history and the findings hold, filtered and exported as asked, and no value
from outside (a caller's name, a tag) becomes markup.

The requests go through `Console.handle`, the one entry point the Function app's route and the local
server share; tests/test_console_http.py covers the two front doors and tests/test_console_browser.py
clicks through the pages in Chromium.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drift.config import Settings
from drift.console.app import CSP, Console, Response
from drift.findings import FindingStore
from drift.local.arm import ArmStandIn
from drift.local.azurite import Azurite
from drift.local.tls import LocalCA
from drift.runtime import build_engine
from tests.console_stock import HOSTILE_NAME, HOSTILE_TAGS, PRINCIPAL, SIGNED_IN, Stock, sdk_for, stock
from tests.htmldom import Node, parse


@pytest.fixture(scope="module")
def fleet(azurite: Azurite, arm_session: ArmStandIn, ca: LocalCA) -> Stock:
    """One fleet for the tests that only read (building it takes a few hundred SDK calls)."""
    arm_session.reset()
    settings = Settings(arm_endpoint=arm_session.url, arm_ca_bundle=str(ca.ca_bundle), local_credential=True,
                        storage_connection_string=azurite.connection_string, table_name=f"t{uuid.uuid4().hex[:16]}",
                        notifiers=["console"])
    return stock(build_engine(settings), sdk_for(arm_session, ca), arm_session, ca, uuid.uuid4().hex[:8])


@pytest.fixture
def own_fleet(settings: Settings, sdk: Any, arm: ArmStandIn, ca: LocalCA, server_name: str) -> Stock:
    """A fleet of the test's own, for a test that writes."""
    return stock(build_engine(settings), sdk, arm, ca, server_name.removeprefix("srv-"))


def get(stocked: Stock, path: str, **params: str) -> tuple[Response, Node]:
    answer = Console(stocked.engine).handle("GET", path, params, SIGNED_IN)
    assert answer.headers["Content-Security-Policy"] == CSP
    html = answer.headers.get("Content-Type", "").startswith("text/html")
    return answer, parse(answer.body) if html else Node("none")


def grid(page: Node) -> dict[str, dict[str, Any]]:
    """The fleet's grid as a reader sees it: server name -> worst badge and the class of each setting's cell."""
    table = page.one("table", "grid")
    columns = [th.text for th in table.one("thead").all("th")][2:]
    rows = {}
    for tr in table.one("tbody").all("tr"):
        cells = dict(zip(columns, [" ".join(td.classes) or "ok" for td in tr.all("td")[1:]], strict=True))
        rows[tr.one("th").text] = {"id": tr.attrs["data-server"], "worst": tr.one("span", "sev").text, "cells": cells}
    return rows


def expected_worst(findings: FindingStore, server_id: str) -> str:
    rank = ["info", "low", "medium", "high", "critical"]
    found = [f.severity for f in findings.open_findings() if f.server_id.lower() == server_id.lower()]
    return max(found, key=rank.index).upper() if found else "NONE"


# --- the fleet ------------------------------------------------------------------------------

def test_the_fleet_shows_every_watched_server_with_each_setting_coloured_by_its_worst_open_finding(
    fleet: Stock,
) -> None:
    answer, page = get(fleet, "/")
    assert answer.status == 200
    rows = grid(page)
    assert set(rows) == {fleet.weak, fleet.exposed, fleet.calm}
    assert rows[fleet.weak]["cells"]["tls_version"] == "sev-medium"
    assert rows[fleet.weak]["cells"]["firewall_rules"] == "sev-low"
    assert rows[fleet.exposed]["cells"]["public_network_access"] == "sev-high"
    assert set(rows[fleet.calm]["cells"].values()) == {"ok"}
    findings = FindingStore(fleet.engine.store)
    for name, row in rows.items():
        assert row["id"].lower() == fleet.id(name).lower()
        assert row["worst"] == expected_worst(findings, fleet.id(name))
    assert list(rows) == [fleet.exposed, fleet.weak, fleet.calm], "worst servers first"
    summary = [li.text for li in page.one("ul", "summary").all("li")]
    assert summary == ["0 critical", "1 high", "1 medium", "0 low", "0 info", "1 nothing open"]
    assert "3 of 3 watched servers shown" in page.one("p", "shown").text


def test_the_grid_reads_a_few_columns_of_the_markers_and_sees_the_same_findings_as_the_full_read(fleet: Stock) -> None:
    from drift.console import data

    findings = FindingStore(fleet.engine.store)
    full = findings.open_findings()  # checks every marker against its row and lands it
    light = data.open_findings(fleet.engine.store, findings, full=False, who_or_since=True)

    def seen(found: list[Any]) -> list[tuple[str, ...]]:
        return sorted((f.id, f.server_id.lower(), f.server, f.setting, f.severity, f.open, f.changed_by,
                       f.updated_at) for f in found)

    assert seen(light) == seen(full) and len(full) >= 3


@pytest.mark.parametrize(("params", "shown"), [
    ({"severity": "high"}, {"exposed"}),
    ({"severity": "medium"}, {"exposed", "weak"}),
    ({"setting": "tls_version"}, {"weak"}),
    ({"who": "CASEY@contoso"}, {"exposed", "weak"}),
    ({"who": "nobody"}, set()),
    ({"since": "1h"}, {"exposed", "weak"}),
    ({"since": (datetime.now(UTC) + timedelta(days=1)).date().isoformat()}, set()),
    ({"server": "CALM-"}, {"calm"}),
    ({"severity": "low", "setting": "firewall_rules", "who": "casey"}, {"weak"}),
], ids=["high", "medium-or-worse", "setting", "who", "who-nobody", "since", "since-tomorrow", "server", "combined"])
def test_the_fleet_filters_by_severity_setting_who_since_and_server(
    fleet: Stock, params: dict[str, str], shown: set[str],
) -> None:
    _, page = get(fleet, "/", **params)
    names = {"weak": fleet.weak, "exposed": fleet.exposed, "calm": fleet.calm}
    assert set(grid(page)) == {names[s] for s in shown}
    if "setting" in params:
        assert [th.text for th in page.one("table", "grid").one("thead").all("th")][2:] == [params["setting"]]
    form = page.one("form", "filters")
    for key, value in params.items():
        if key in ("who", "since", "server"):
            assert form.one("input", name=key).attrs["value"] == value, "the filter is shown as it was asked"


@pytest.mark.parametrize(("params", "message"), [
    ({"severity": "urgent"}, "severity must be one of critical, high, medium, low, info"),
    ({"setting": "<script>"}, "unknown setting '<script>'"),
    ({"since": "yesterday"}, "since takes 30m, 24h, 7d or an ISO date"),
    ({"who": "x" * 500}, "'who' is 500 characters; at most 200"),
    ({"format": "xml"}, "format must be csv or json"),
])
def test_a_filter_the_console_cannot_use_is_a_400_that_says_why(
    fleet: Stock, params: dict[str, str], message: str,
) -> None:
    answer, page = get(fleet, "/", **params)
    assert answer.status == 400
    assert page.one("p", "error").text == message
    assert "<script>" not in answer.body.decode()


# --- one server -----------------------------------------------------------------------------

def test_a_server_page_shows_its_timeline_as_the_history_holds_it_its_open_findings_and_the_portal(
    fleet: Stock,
) -> None:
    answer, page = get(fleet, "/server", id=fleet.id(fleet.weak))
    assert answer.status == 200
    assert page.one("h1").text == fleet.weak
    history = fleet.engine.store.history(server_id=fleet.id(fleet.weak))
    rows = page.one("table", "timeline").one("tbody").all("tr")
    assert [tr.attrs["data-event"] for tr in rows] == [r.event_id for r in history], "newest first, every row"
    for tr, record in zip(rows, history, strict=True):
        cells = {td.attrs["data-label"]: td.text for td in tr.all("td")}
        before = record.before if record.before is not None else "(first seen)"
        assert cells["Before → after"] == f"{before} → {record.after}"
        assert (cells["Who"], cells["From"], cells["Verdict"]) == (
            record.changed_by, record.client_ip or "unknown", record.verdict)
        assert cells["Severity"] == record.severity.upper()
    weakened = [r for r in history if r.verdict == "weakened"]
    assert {r.setting for r in weakened} == {"firewall_rules", "tls_version"}
    assert all(r.changed_by == f"{HOSTILE_NAME} <casey@contoso.example>" and r.client_ip == "203.0.113.7"
               for r in weakened)

    open_ids = {f.id for f in FindingStore(fleet.engine.store).server_findings(fleet.id(fleet.weak)) if f.open}
    assert {tr.attrs["data-finding"] for tr in page.all("tr") if "data-finding" in tr.attrs} == open_ids
    assert len(open_ids) == 2
    [portal] = page.all("a", "portal")
    assert portal.attrs["href"] == f"https://portal.azure.com/#@/resource{fleet.id(fleet.weak)}"
    assert portal.attrs["rel"] == "noopener noreferrer"
    current = {tr.one("th").text: tr.all("td")[0].text for tr in page.one("table", "current").all("tr")}
    assert current["Server tags"] == ", ".join(f"{k}={v}" for k, v in sorted(HOSTILE_TAGS.items()))


def test_a_server_timeline_filters_by_setting_and_who_and_a_server_is_found_by_name(fleet: Stock) -> None:
    _, page = get(fleet, "/server", id=fleet.weak, setting="tls_version")
    cells = [{td.attrs["data-label"]: td.text for td in tr.all("td")}
             for tr in page.one("table", "timeline").one("tbody").all("tr")]
    assert {c["Setting"] for c in cells} == {"TLS versions"}
    _, page = get(fleet, "/server", id=fleet.id(fleet.weak), who="nobody")
    assert page.all("table", "timeline") == [] and "No change matches these filters." in page.text
    answer, page = get(fleet, "/server", id="no-such-server")
    assert answer.status == 404 and "no watched server is named 'no-such-server'" in page.text
    answer, _ = get(fleet, "/server", id="/subscriptions/x/resourceGroups/g/providers/Microsoft.Web/sites/s")
    assert answer.status == 400


# --- one finding and the alert redirect -----------------------------------------------------

def test_a_finding_page_shows_everything_the_card_had_and_forms_that_name_what_was_reviewed(fleet: Stock) -> None:
    [finding] = [f for f in FindingStore(fleet.engine.store).server_findings(fleet.id(fleet.weak))
                 if f.setting == "tls_version"]
    answer, page = get(fleet, f"/finding/{finding.id}")
    assert answer.status == 200
    facts = {dt.text: dd.text for dt, dd in zip(page.all("dt"), page.all("dd"), strict=True)}
    assert facts["Setting"] == "TLS versions (tls_version)"
    assert (facts["Before"], facts["After"]) == ("TLSv1.3", "TLSv1.2,TLSv1.3 (running TLSv1.3 until restart)")
    assert facts["Changed by"] == f"{HOSTILE_NAME} <casey@contoso.example>"
    assert facts["From IP"] == "203.0.113.7"
    assert facts["Severity"] == "MEDIUM" and facts["Status"] == finding.status == "open"
    assert facts["Control"] == "MCSB DP-3"
    assert facts["Alert id"] == " ".join(finding.alert_keys) and finding.alert_keys
    assert facts["Correlation"] == finding.correlation_id and facts["Event id"] == finding.event_id
    assert page.one("p", "why").text == finding.why
    assert page.one("pre", "command").text == finding.remediation and "tls_version" in finding.remediation
    accept = page.one("form", "accept")
    assert accept.attrs["action"] == "/api/console/accept" and accept.attrs["method"] == "post"
    hidden = {i.attrs["name"]: i.attrs["value"] for i in accept.all("input", type="hidden")}
    assert hidden == {"server": finding.server_id, "setting": "tls_version", "alert": finding.alert_keys[-1]}
    ack = page.one("form", "ack")
    assert {i.attrs["name"]: i.attrs["value"] for i in ack.all("input", type="hidden")} == {
        "event_id": finding.event_id}


def test_an_alert_id_leads_to_its_finding_and_unknown_or_malformed_ids_say_so(fleet: Stock) -> None:
    [finding] = [f for f in FindingStore(fleet.engine.store).open_findings() if f.setting == "public_network_access"]
    answer, _ = get(fleet, f"/alert/{finding.alert_keys[0]}")
    assert (answer.status, answer.headers["Location"]) == (302, f"/api/console/finding/{finding.id}")
    assert get(fleet, "/alert/0123456789abcdef")[0].status == 404
    assert get(fleet, "/finding/0123456789abcdef")[0].status == 404
    answer, page = get(fleet, "/finding/<script>alert(1)</script>")
    assert answer.status == 400 and page.all("script", src=None) == []
    assert get(fleet, "/alert/" + "<b>")[0].status == 400
    assert get(fleet, "/nowhere")[0].status == 404


# --- exports --------------------------------------------------------------------------------

def test_the_fleet_exports_what_it_shows_as_csv_and_json(fleet: Stock) -> None:
    _, page = get(fleet, "/", severity="medium")
    shown = grid(page)
    answer, _ = get(fleet, "/", severity="medium", format="csv")
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="fleet.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.body.decode())))
    assert [r["server"] for r in rows] == list(shown)
    for row in rows:
        assert row["worst"].upper() == shown[row["server"]]["worst"]
        assert {s: f"sev-{v}" if v else "ok" for s, v in row.items() if s not in ("server", "server_id", "worst")} \
            == shown[row["server"]]["cells"]
    answer, _ = get(fleet, "/", severity="medium", format="json")
    data = json.loads(answer.body)
    assert [s["server"] for s in data["servers"]] == list(shown)
    assert {f["id"] for f in data["findings"]} == {
        f.id for f in FindingStore(fleet.engine.store).open_findings() if f.severity in ("medium", "high", "critical")}


def test_a_server_exports_its_timeline_and_a_spreadsheet_formula_stays_text(fleet: Stock) -> None:
    answer, _ = get(fleet, "/server", id=fleet.id(fleet.weak), format="csv")
    rows = list(csv.DictReader(io.StringIO(answer.body.decode())))
    history = fleet.engine.store.history(server_id=fleet.id(fleet.weak))
    assert [r["event_id"] for r in rows] == [r.event_id for r in history]
    weakened = [r for r in rows if r["verdict"] == "weakened"]
    assert weakened and all(r["changed_by"] == f"'{HOSTILE_NAME} <casey@contoso.example>" for r in weakened), \
        "a caller named =HYPERLINK(...) stays text in a spreadsheet"
    answer, _ = get(fleet, "/server", id=fleet.id(fleet.weak), format="json", setting="tls_version")
    data = json.loads(answer.body)
    assert {r["setting"] for r in data["timeline"]} == {"tls_version"}
    assert data["current"]["server_tags"].startswith("cost==HYPERLINK")


# --- nothing from outside becomes markup ----------------------------------------------------

def assert_inert(answer: Response, page: Node) -> None:
    """No element or attribute came from a value: only our own script, no handler, no inline style."""
    assert [n.attrs.get("src") for n in page.all("script")] in ([], ["/api/console/static/console.js"])
    assert page.all("style") == []
    for node in page.iter():
        assert not any(a.startswith("on") or a == "style" for a in node.attrs), (node.tag, node.attrs)
        for attr in ("href", "action", "src"):
            value = node.attrs.get(attr)
            assert value is None or value.startswith(("/api/console", "https://portal.azure.com/")), value
    body = answer.body.decode()
    for raw in ("<script>alert", '"onmouseover', "<img"):
        assert raw not in body


def test_hostile_callers_and_tag_values_are_shown_as_text_on_every_page(fleet: Stock) -> None:
    findings = FindingStore(fleet.engine.store).open_findings()
    pages = [("/", {}), ("/", {"who": HOSTILE_NAME}), ("/", {"server": '"><script>alert(5)</script>'}),
             ("/server", {"id": fleet.id(fleet.weak)}), ("/server", {"id": fleet.id(fleet.weak), "who": "<script>"}),
             *[(f"/finding/{f.id}", {}) for f in findings]]
    for path, params in pages:
        answer, page = get(fleet, path, **params)
        assert answer.status == 200, (path, params)
        assert_inert(answer, page)
    _, page = get(fleet, f"/finding/{findings[0].id}")
    assert HOSTILE_NAME in page.text, "shown as the text it is"
    _, page = get(fleet, "/server", id=fleet.id(fleet.weak))
    assert HOSTILE_TAGS["owner"] in page.text and HOSTILE_TAGS["link"] in page.text


def test_a_hostile_acknowledgement_note_is_text_too(own_fleet: Stock) -> None:
    fleet = own_fleet
    [finding] = [f for f in FindingStore(fleet.engine.store).open_findings() if f.setting == "public_network_access"]
    note = '</dd><script>alert("ack")</script>'
    answer = Console(fleet.engine).handle("POST", "/ack", {}, {**SIGNED_IN, "Content-Type": "application/json",
                                                               "X-Drift-Console": "1"},
                                          json.dumps({"event_id": finding.event_id, "reason": note}).encode())
    assert answer.status == 200, answer.body
    answer, page = get(fleet, f"/finding/{finding.id}")
    assert_inert(answer, page)
    answer, page = get(fleet, "/server", id=fleet.id(fleet.exposed))
    assert_inert(answer, page)
    [row] = [tr for tr in page.one("table", "timeline").all("tr") if tr.attrs.get("data-event") == finding.event_id]
    assert f"{PRINCIPAL}: {note}" in row.text


def test_a_subscription_level_finding_is_listed_apart_from_the_grid_and_has_its_own_pages(
    settings: Settings, arm: ArmStandIn, ca: LocalCA,
) -> None:
    from drift.local import writes
    from tests.conftest import GROUP
    from tests.console_stock import sdk_for

    engine = build_engine(settings)
    subscription_id = str(uuid.uuid4())  # the stand-in keeps Defender plans per subscription
    sdk = sdk_for(arm, ca)
    sdk._config.subscription_id = subscription_id
    writes.create_server(sdk, GROUP, "orders-db")
    writes.defender_plan(sdk, "Standard")
    engine.handle_many(arm.drain_events())
    writes.defender_plan(sdk, "Free")
    engine.handle_many(arm.drain_events())
    [plan] = [f for f in FindingStore(engine.store).open_findings() if f.setting == "defender_plan"]
    stocked = Stock(engine, "orders-db", "", "")

    for _ in range(2):  # the first read lands the markers, the second reads the grid's columns only
        _, page = get(stocked, "/")
        assert set(grid(page)) == {"orders-db"}, "a subscription is not a server of the grid"
        [item] = page.one("ul", "subscription").all("li")
        assert item.attrs["data-finding"] == plan.id and "HIGH" in item.text
    answer, page = get(stocked, f"/finding/{plan.id}")
    assert answer.status == 200 and page.all("form", "accept") == [] and len(page.all("form", "ack")) == 1
    link = page.one("p", "crumbs").all("a")[1].attrs["href"]
    answer, page = get(stocked, "/server", id=plan.server_id)
    assert answer.status == 200 and page.one("h1").text == f"subscription {subscription_id}"
    history = engine.store.history(server_id=f"~subscription/{subscription_id}/defender_plan")
    assert plan.event_id in [r.event_id for r in history]
    assert [tr.attrs["data-event"] for tr in page.one("table", "timeline").one("tbody").all("tr")] == [
        r.event_id for r in history]
    assert link.startswith("/api/console/server?id=/subscriptions/")


@pytest.mark.parametrize("url", ["javascript:alert(1)", " javascript:alert(1)", "//evil.example/x", "/\\evil.example",
                                 "data:text/html,<script>", "http://evil.example"])
def test_a_link_can_only_be_https_or_a_path_of_the_console(url: str) -> None:
    from drift.console.html import tag

    with pytest.raises(ValueError, match="must be https://, a path or a fragment"):
        tag("a", {"href": url}, "x")


@pytest.mark.parametrize("attribute", ["onclick", "onmouseover", "style", "on_load"])
def test_no_page_can_carry_an_event_handler_or_inline_style(attribute: str) -> None:
    from drift.console.html import tag

    with pytest.raises(ValueError, match="no inline script or style"):
        tag("p", {attribute: "x"}, "x")
    assert tag("p", {"title": '"><script>alert(1)</script>'}, "\u202e<b>") == (
        '<p title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">&lt;b&gt;</p>'), "escaped, bidi control dropped"
