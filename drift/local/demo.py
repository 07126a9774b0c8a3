"""`make demo`: a platform engineer builds a well-secured server, then a careless admin undoes it.

Everything goes through the real Azure SDK to the ARM stand-in, whose events flow through the
same engine the Function app runs; the alerts land in the local Teams receiver.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from drift.cli.formatting import format_table
from drift.local import writes
from drift.local.credential import LocalCredential
from drift.local.stack import LocalStack
from drift.runtime import build_engine
from notifiers.teams import heading_text

GROUP = "rg-shop"
SERVER = "orders-db"
WORKSPACE = ("/subscriptions/ffffffff-ffff-ffff-ffff-ffffffffffff/resourceGroups/rg-sec/providers/"
             "Microsoft.OperationalInsights/workspaces/sentinel")

PLATFORM = {"name": "Pat Platform", "upn": "pat@contoso.example", "ipaddr": "198.51.100.20",
            "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "http://schemas.microsoft.com/identity/claims/objectidentifier": "3c1e9f0a-0000-4000-8000-00000000a001"}
CARELESS = {"name": "Casey Admin", "upn": "casey@contoso.example", "ipaddr": "203.0.113.7",
            "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "http://schemas.microsoft.com/identity/claims/objectidentifier": "3c1e9f0a-0000-4000-8000-00000000a002"}


def sdk_client(stack: LocalStack, claims: dict[str, Any]) -> Any:
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    assert stack.arm and stack.ca
    return MySQLManagementClient(LocalCredential(claims), stack.subscription_id, base_url=stack.arm.url,
                                 connection_verify=str(stack.ca.ca_bundle), polling_interval=0)


def careless_afternoon(sdk: Any) -> None:
    steps = [
        ("opens the firewall to the whole internet (AllowAll 0.0.0.0-255.255.255.255)",
         lambda: writes.add_rule(sdk, GROUP, SERVER, "AllowAll", "0.0.0.0", "255.255.255.255")),
        ("lowers the TLS floor to TLS 1.2",
         lambda: writes.set_parameter(sdk, GROUP, SERVER, "tls_version", "TLSv1.2,TLSv1.3")),
        ("switches Entra-only authentication off",
         lambda: writes.set_parameter(sdk, GROUP, SERVER, "aad_auth_only", "OFF")),
        ("enables public network access", lambda: writes.set_public_access(sdk, GROUP, SERVER, "Enabled")),
        ("deletes the audit diagnostic setting",
         lambda: writes.diagnostic_setting(sdk, GROUP, SERVER, "audit", None)),
        ("raises wait_timeout to 600 (harmless: expect no alert)",
         lambda: writes.set_parameter(sdk, GROUP, SERVER, "wait_timeout", "600")),
    ]
    for text, write in steps:
        print(f"  - {text}", flush=True)
        write()


def _write_pngs(cards: list[dict[str, Any]]) -> None:
    from drift.local.cards import PROJECT, render_cards, renderer_missing

    missing = renderer_missing()
    if missing:
        print(f"\n(no PNGs of the cards: {missing})")
        return
    out = PROJECT / "artifacts" / "demo-cards"
    report = render_cards({f"card-{n}": card for n, card in enumerate(cards, start=1)}, out)
    warnings = sum(len(r.get("warnings", [])) + len(r.get("errors", [])) for r in report.values())
    print(f"\n5. The cards as Teams shows them: {len(report)} PNG(s) in {out} ({warnings} renderer warnings)")


def run_demo() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="mysql-drift-demo-") as tmp, LocalStack(Path(tmp)) as stack:
        engine = build_engine(stack.settings(["teams", "console"]))
        pump = stack.start_pump(engine)
        assert stack.teams is not None and stack.arm is not None
        platform, careless = sdk_client(stack, PLATFORM), sdk_client(stack, CARELESS)

        print(f"Local stack: ARM stand-in {stack.arm.url}, Azurite, Teams receiver\n")
        print(f"1. Pat (platform team) builds {SERVER} the secure way (CMK, geo-backup, private, Entra-only,")
        print("   TLS 1.3, audit log shipped to Sentinel, Defender, an office firewall rule).")
        writes.create_compliant_server(platform, GROUP, SERVER, WORKSPACE)
        writes.add_rule(platform, GROUP, SERVER, "office", "198.51.100.20", "198.51.100.20")
        pump.wait_idle()
        print("   The detector checks its whole posture and takes the baseline; "
              f"alerts: {len(stack.teams.messages())}\n")

        print("2. Casey (a careless admin) has a busy afternoon:")
        before = len(stack.teams.messages())
        started = time.perf_counter()
        careless_afternoon(careless)
        pump.wait_idle()
        elapsed = time.perf_counter() - started
        cards = stack.teams.messages()[before:]
        print(f"\n3. Teams received {len(cards)} alert card(s) in {elapsed:.2f}s (writes included):")
        for card in cards:
            print(f"   * {heading_text(card['attachments'][0]['content'])}")
        print("\n4. Drift history (mysql-drift history):\n")
        print(format_table(engine.store.history()))
        _write_pngs([c["attachments"][0]["content"] for c in cards])
        slowest = max(pump.latencies, default=0.0)
        print(f"\nEvents handled: {len(pump.latencies)}; slowest handling {slowest * 1000:.0f} ms; "
              f"ARM reads by the detector: {getattr(engine.reader, 'requests', '?')}")
        return 0 if len(cards) == 5 and before == 0 else 1


if __name__ == "__main__":
    sys.exit(run_demo())
