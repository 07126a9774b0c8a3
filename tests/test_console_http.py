"""The console's two front doors: the Function app's `console/{*path}` route behind App Service
Authentication, and the local server `mysql-drift local up` runs, which plays Easy Auth.

Both take the signed-in user from `X-MS-CLIENT-PRINCIPAL-NAME` only (401 without it), answer with
a Content-Security-Policy and nosniff whatever the page, and let Accept and Acknowledge through only as
JSON from the console's own script: a form on another site, which a signed-in browser would post
with Easy Auth's cookie, is refused and writes nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import azure.functions as func
import pytest
import requests

from drift import runtime
from drift.config import Settings
from drift.console.app import CSP, Console
from drift.findings import FindingStore
from drift.local.arm import ArmStandIn
from drift.local.console_server import LocalConsole, local_user
from drift.local.tls import LocalCA
from drift.runtime import build_engine
from tests.console_stock import PRINCIPAL, SIGNED_IN, Stock, stock
from tests.function_index import functions
from tests.htmldom import parse
from tests.test_review import http as review_http

JSON = {"Content-Type": "application/json"}
FROM_CONSOLE = {**SIGNED_IN, **JSON, "X-Drift-Console": "1"}


@pytest.fixture
def fleet(settings: Settings, sdk: Any, arm: ArmStandIn, ca: LocalCA, server_name: str,
          monkeypatch: pytest.MonkeyPatch) -> Stock:
    engine = build_engine(settings)
    monkeypatch.setattr(runtime, "_engine", engine)
    return stock(engine, sdk, arm, ca, server_name.removeprefix("srv-"))


def tls_finding(fleet: Stock) -> Any:
    [finding] = [f for f in FindingStore(fleet.engine.store).open_findings() if f.setting == "tls_version"]
    return finding


def event_row(fleet: Stock, event_id: str) -> Any:
    [row] = [r for r in fleet.engine.store.history(server_id=fleet.id(fleet.weak)) if r.event_id == event_id]
    return row


def written(fleet: Stock) -> tuple[Any, ...]:
    """What a review could change: the weak server's baselines and history, and every open finding."""
    rows = fleet.engine.store.load(fleet.id(fleet.weak))
    history = fleet.engine.store.history(server_id=fleet.id(fleet.weak))
    return ({s: b.etag for s, b in rows.baselines.items()}, [(r.event_id, r.acknowledged) for r in history],
            sorted((f.id, f.status) for f in FindingStore(fleet.engine.store).open_findings()))


# --- headers and sign-in --------------------------------------------------------------------

def test_every_answer_carries_the_csp_and_nosniff_and_no_page_has_inline_script_or_style(fleet: Stock) -> None:
    console = Console(fleet.engine)
    finding = tls_finding(fleet)
    requests_ = [
        ("GET", "/", {}, SIGNED_IN), ("GET", "/", {"format": "csv"}, SIGNED_IN),
        ("GET", "/server", {"id": fleet.id(fleet.weak)}, SIGNED_IN), ("GET", f"/finding/{finding.id}", {}, SIGNED_IN),
        ("GET", f"/alert/{finding.alert_keys[0]}", {}, SIGNED_IN),
        ("GET", "/finding/zz", {}, SIGNED_IN), ("GET", "/nowhere", {}, SIGNED_IN), ("GET", "/", {}, {}),
        ("GET", "/static/console.js", {}, {}), ("GET", "/static/console.css", {}, {}),
        ("GET", "/static/../app.py", {}, {}), ("POST", "/accept", {}, SIGNED_IN), ("DELETE", "/", {}, SIGNED_IN)]
    statuses = []
    for method, path, params, headers in requests_:
        answer = console.handle(method, path, params, headers, b"{}")
        statuses.append(answer.status)
        assert answer.headers["Content-Security-Policy"] == CSP, path
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] in ("no-store", "no-cache")
        if answer.headers.get("Content-Type", "").startswith("text/html"):
            page = parse(answer.body)
            assert [s.attrs.get("src") for s in page.all("script")] == ["/api/console/static/console.js"]
            assert page.all("style") == [] and not any("style" in n.attrs for n in page.iter())
    assert statuses == [200, 200, 200, 200, 302, 400, 404, 401, 200, 200, 404, 403, 405]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "form-action 'self'",
                      "frame-ancestors 'none'"):
        assert directive in CSP


def test_without_the_signed_in_user_every_page_is_a_401_that_says_how_to_sign_in(fleet: Stock) -> None:
    console = Console(fleet.engine)
    for headers in ({}, {"X-MS-CLIENT-PRINCIPAL-NAME": " \u200b"}, {"X-MS-CLIENT-PRINCIPAL-ID": "abc"}):
        for path in ("/", "/server", f"/finding/{tls_finding(fleet).id}"):
            answer = console.handle("GET", path, {"id": fleet.id(fleet.weak)}, headers)
            assert answer.status == 401
            assert "App Service Authentication" in parse(answer.body).one("p", "error").text
            assert fleet.weak not in answer.body.decode(), "nothing of the fleet is shown"


# --- Accept and Acknowledge -----------------------------------------------------------------

def test_accept_from_the_console_is_recorded_as_the_signed_in_user_and_closes_the_finding(fleet: Stock) -> None:
    finding = tls_finding(fleet)
    shown = Console(fleet.engine).handle("GET", f"/finding/{finding.id}", {}, SIGNED_IN)
    form = parse(shown.body).one("form", "accept")
    body = {i.attrs["name"]: i.attrs["value"] for i in form.all("input", type="hidden")}
    body |= {"reason": "vendor JDBC driver, CHG-42", "by": "mallory@contoso.example"}
    answer = Console(fleet.engine).handle("POST", "/accept", {}, FROM_CONSOLE, json.dumps(body).encode())
    assert answer.status == 200, answer.body
    assert json.loads(answer.body)["accepted"][0]["setting"] == "tls_version"
    latest = fleet.engine.store.history(server_id=fleet.id(fleet.weak))[0]
    assert (latest.operation, latest.changed_by, latest.setting) == ("accept", PRINCIPAL, "tls_version")
    assert "vendor JDBC driver, CHG-42" in latest.why
    closed = FindingStore(fleet.engine.store).finding(finding.id)
    assert closed is not None and not closed.open and closed.status == "accepted"
    page = parse(Console(fleet.engine).handle("GET", f"/finding/{finding.id}", {}, SIGNED_IN).body)
    assert page.all("form", "review") == [], "a closed finding has nothing to accept"


def test_acknowledge_from_the_console_marks_the_event_reviewed_by_the_signed_in_user(fleet: Stock) -> None:
    finding = tls_finding(fleet)
    answer = Console(fleet.engine).handle("POST", "/ack", {}, FROM_CONSOLE,
                                          json.dumps({"event_id": finding.event_id, "reason": "looking"}).encode())
    assert (answer.status, json.loads(answer.body)) == (200, {"acknowledged": 1})
    row = event_row(fleet, finding.event_id)
    assert row.acknowledged is not None and row.acknowledged.startswith(f"{PRINCIPAL}: looking")


@pytest.mark.parametrize(("headers", "body", "status", "message"), [
    ({**SIGNED_IN, **JSON}, None, 403, "X-Drift-Console: 1"),
    ({**SIGNED_IN, "Content-Type": "application/x-www-form-urlencoded", "X-Drift-Console": "1"},
     b"server=x&reason=y", 415, "Content-Type: application/json"),
    ({**SIGNED_IN, "Content-Type": "text/plain", "X-Drift-Console": "1"}, None, 415, "application/json"),
    ({**SIGNED_IN, "X-Drift-Console": "1"}, None, 415, "application/json"),
    ({**FROM_CONSOLE, "Sec-Fetch-Site": "cross-site"}, None, 403, "refused a cross-site request"),
    ({**FROM_CONSOLE, "Sec-Fetch-Site": "same-site"}, None, 403, "refused a same-site request"),
    ({**JSON, "X-Drift-Console": "1"}, None, 401, "X-MS-CLIENT-PRINCIPAL-NAME"),
], ids=["no-console-header", "form-encoded", "text-plain", "no-content-type", "cross-site", "same-site", "anonymous"])
def test_a_review_post_a_page_on_another_site_could_make_is_refused_and_writes_nothing(
    fleet: Stock, headers: dict[str, str], body: bytes | None, status: int, message: str,
) -> None:
    finding = tls_finding(fleet)
    before = written(fleet)
    for action, payload in (("accept", {"server": finding.server_id, "setting": "tls_version",
                                        "alert": finding.alert_keys[-1], "reason": "csrf"}),
                            ("ack", {"event_id": finding.event_id, "reason": "csrf"})):
        answer = Console(fleet.engine).handle("POST", f"/{action}", {}, headers, body or json.dumps(payload).encode())
        assert answer.status == status, answer.body
        assert message in json.loads(answer.body)["error"]
    assert written(fleet) == before


def test_the_review_routes_themselves_refuse_form_posts_and_cross_site_requests(fleet: Stock) -> None:
    finding = tls_finding(fleet)
    before = written(fleet)
    body = {"event_id": finding.event_id, "reason": "csrf"}
    form = {**SIGNED_IN, "Content-Type": "application/x-www-form-urlencoded"}
    assert review_http("ack", b"event_id=x&reason=y", form).status_code == 415
    assert review_http("ack", body, {**SIGNED_IN, "Content-Type": "text/plain"}).status_code == 415
    assert review_http("ack", body, {**SIGNED_IN, "Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert written(fleet) == before
    assert review_http("ack", body, {**SIGNED_IN, "Content-Type": "application/json; charset=utf-8"}).status_code == 200


# --- the Function app's route ---------------------------------------------------------------

def console_function(path: str, headers: dict[str, str], params: dict[str, str] | None = None,
                     method: str = "GET", body: bytes = b"") -> func.HttpResponse:
    [fn] = [f for f in functions() if f.get_function_name() == "console"]
    request = func.HttpRequest(method, f"/api/console/{path}", headers=headers, params=params or {},
                               route_params={"path": path}, body=body)
    return fn.get_user_function()(request)


def test_the_function_route_takes_no_key_and_serves_only_behind_app_service_authentication(
    fleet: Stock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    [fn] = [f for f in functions() if f.get_function_name() == "console"]
    [trigger] = [b for b in fn.get_bindings() if b.type == "httpTrigger"]
    assert trigger.route == "console/{*path}"
    assert trigger.auth_level.name == "ANONYMOUS", "a browser has no function key: Easy Auth is the gate"

    monkeypatch.delenv("WEBSITE_AUTH_ENABLED", raising=False)
    answer = console_function("", SIGNED_IN)
    assert answer.status_code == 403, "a host without Easy Auth could forge the principal header"
    assert "WEBSITE_AUTH_ENABLED" in answer.get_body().decode()
    assert fleet.weak not in answer.get_body().decode()
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "False")
    assert console_function("", SIGNED_IN).status_code == 403

    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    answer = console_function("", SIGNED_IN)
    assert answer.status_code == 200 and fleet.weak in answer.get_body().decode()
    assert answer.headers["Content-Security-Policy"] == CSP
    assert console_function("", {}).status_code == 401
    answer = console_function("server", SIGNED_IN, {"id": fleet.id(fleet.weak), "format": "json"})
    assert json.loads(answer.get_body())["server"] == fleet.weak
    finding = tls_finding(fleet)
    answer = console_function("ack", FROM_CONSOLE, method="POST",
                              body=json.dumps({"event_id": finding.event_id, "reason": "seen"}).encode())
    assert answer.status_code == 200, answer.get_body()


# --- the local server -----------------------------------------------------------------------

def test_the_local_server_plays_easy_auth_as_the_os_user_and_drops_a_principal_the_client_sent(fleet: Stock) -> None:
    with LocalConsole(fleet.engine) as local:
        assert local.url.startswith("http://127.0.0.1:") and local.url.endswith("/api/console")
        forged = {"X-MS-CLIENT-PRINCIPAL-NAME": "mallory@contoso.example", "X-MS-CLIENT-PRINCIPAL": "e30="}
        answer = requests.get(f"{local.url}/", headers=forged, timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Security-Policy"] == CSP
        assert parse(answer.content).one("span", "user").text == f"signed in as {local_user()}"
        assert "mallory" not in answer.text

        finding = tls_finding(fleet)
        posted = requests.post(f"{local.origin}/api/ack", json={"event_id": finding.event_id, "reason": "seen"},
                               headers=forged, timeout=10)
        assert posted.status_code == 200, posted.text
        row = event_row(fleet, finding.event_id)
        assert row.acknowledged is not None and row.acknowledged.startswith(f"{local_user()}: seen")

        script = requests.get(f"{local.url}/static/console.js", timeout=10)
        assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert "X-Drift-Console" in script.text

        rebound = requests.get(f"{local.url}/", headers={"Host": f"evil-{uuid.uuid4().hex[:6]}.example"}, timeout=10)
        assert rebound.status_code == 421, "a DNS name rebound to 127.0.0.1 gets nothing"
        assert requests.get(f"{local.origin}/api/nowhere", timeout=10).status_code == 404
