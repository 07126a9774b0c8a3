"""`mysql-drift local seed`: example servers in a running stack, weakened by several people from several
addresses, written through the SDK to the stand-in and recorded by the stack's own event pump."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from drift.cli import main
from drift.config import Settings
from drift.local.arm import ArmStandIn
from drift.local.seed import CALLERS
from drift.local.stack import EventPump
from drift.runtime import build_engine


@pytest.fixture
def pump(settings: Settings, arm: ArmStandIn) -> Iterator[EventPump]:
    """What `mysql-drift local up` runs beside the stand-in: every event handed to the detector."""
    running = EventPump(arm, build_engine(settings)).start()
    try:
        yield running
    finally:
        running.stop()


def test_seed_creates_servers_weakened_by_several_callers_and_waits_until_history_shows_them(
    pump: EventPump, endpoints_file: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    ep = ["--endpoints-file", str(endpoints_file)]
    assert main(["local", "seed", "--servers", "5", *ep]) == 0
    out = capsys.readouterr().out
    assert "5 server(s), 5 weakening(s) recorded" in out
    assert "reports-db (rg-data): left as built (compliant)" in out

    assert main(["history", "--format", "json", "--verdict", "weakened", *ep]) == 0
    history = json.loads(capsys.readouterr().out)
    # A create handled while Pat was still setting the server up (the Entra admin, Entra-only auth) records
    # that moment's gaps under Pat, restored by the next writes; the seeded weakenings are the others'.
    weakened = [r for r in history if r["client_ip"] != CALLERS["platform"]["ipaddr"]]
    assert {(r["server"], r["setting"]) for r in weakened} == {
        ("orders-db", "firewall_rules"), ("billing-db", "tls_version"), ("crm-db", "audit_log_enabled"),
        ("inventory-db", "public_network_access"), ("inventory-db", "firewall_rules")}
    assert {r["client_ip"] for r in weakened} == {"203.0.113.7", "192.0.2.44", "20.50.2.10", "198.51.100.77"}
    assert len({r["changed_by"] for r in weakened}) == 4
    assert {r["severity"] for r in weakened} >= {"critical", "high"}

    assert main(["local", "seed", "--servers", "1", *ep]) == 0, "again: more servers, not the same ones rewritten"
    assert "orders-db-2 (rg-shop)" in capsys.readouterr().out


def test_seed_says_in_one_line_when_nothing_records_its_writes(
    arm: ArmStandIn, endpoints_file: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["local", "seed", "--servers", "1", "--wait", "1", "--endpoints-file", str(endpoints_file)]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line == ("mysql-drift local seed: the detector did not take the new servers' baselines within 1s: is "
                    "`mysql-drift local up` running with this endpoints file?")


def test_seed_of_a_stack_that_is_not_running_is_one_line(
    endpoints_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    gone = tmp_path / "gone.json"
    gone.write_text(json.dumps({**json.loads(endpoints_file.read_text()), "arm_endpoint": "https://127.0.0.1:9"}))
    assert main(["local", "seed", "--endpoints-file", str(gone)]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("mysql-drift local seed: the ARM stand-in at https://127.0.0.1:9 refused or did not "
                           "answer (is `mysql-drift local up` running?)")
