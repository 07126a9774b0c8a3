"""The desired state is the team's: a validated policy file, and exemptions that expire by themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from drift.cli import main
from drift.config import Settings
from drift.engine import DriftEngine
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.policy import Exemption, PolicyError, load_policy, parse_policy
from drift.runtime import build_engine
from tests.conftest import GROUP
from tests.helpers import add_rule, create_compliant_server, server_id, set_parameter

GOOD = """\
[desired]
tls_versions = ["TLSv1.2", "TLSv1.3"]
min_backup_retention_days = 14

[firewall]
approved_ranges = ["198.51.100.0/24"]

[alerts]
min_severity = "medium"

[[exemptions]]
server = "legacy-db"
reason = "decommissioned in December, CHG-4711"
expires = 2026-12-31
"""


def test_a_valid_policy_file_sets_the_desired_state() -> None:
    policy = parse_policy(GOOD, "policy.toml")
    assert policy.desired.tls_versions == ("TLSv1.2", "TLSv1.3")
    assert policy.desired.min_backup_retention_days == 14
    assert policy.desired.aad_auth_only == "ON", "keys left out keep their defaults"
    assert str(policy.approved_ranges[0]) == "198.51.100.0/24"
    assert policy.min_alert_severity == "medium"
    assert policy.exemptions[0].expires == datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize(("edit", "message"), [
    (("min_backup_retention_days = 14", "min_backup_retention = 14"),
     "policy.toml line 3: desired.min_backup_retention: unknown key"),
    (('["TLSv1.2", "TLSv1.3"]', '["TLSv1.2", "SSLv3"]'), "policy.toml line 2: desired.tls_versions: 'SSLv3' is not"),
    (("min_backup_retention_days = 14", "min_backup_retention_days = 90"), "line 3: desired.min_backup_retention_days"),
    (('"198.51.100.0/24"', '"198.51.100.0/33"'), "line 6: firewall.approved_ranges: '198.51.100.0/33' is not"),
    (('min_severity = "medium"', 'min_severity = "urgent"'), "line 9: alerts.min_severity"),
    (("[alerts]", "[alert]"), "line 8: alert: unknown section"),
    (("expires = 2026-12-31", 'expires = "2026-12-31"'), "line 14: exemptions[0].expires: must be a TOML date"),
    (('reason = "decommissioned in December, CHG-4711"\n', ""), "line 11: exemptions[0]: needs 'reason'"),
    (('server = "legacy-db"', 'settings = ["firewall"]'),
     "line 12: exemptions[0].settings: unknown setting(s) firewall"),
    (('server = "legacy-db"', 'settings = ["firewall_rules"]'), "line 11: exemptions[0]: needs server, resource_group"),
    (("[desired]", "[desired"), "not valid TOML"),
])
def test_a_bad_policy_is_refused_with_the_key_and_its_line(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(GOOD.replace(*edit), "policy.toml")
    assert message in str(caught.value)


def test_the_audit_destinations_the_team_knows_are_resource_ids() -> None:
    workspace = "/subscriptions/x/resourceGroups/sec/providers/Microsoft.OperationalInsights/workspaces/soc"
    policy = parse_policy(GOOD + f'\n[diagnostics]\naudit_destinations = ["{workspace}"]\n', "policy.toml")
    assert policy.audit_destinations == (workspace,)
    with pytest.raises(PolicyError, match=r"line 17: diagnostics\.audit_destinations: .soc. is not a resource id"):
        parse_policy(GOOD + '\n[diagnostics]\naudit_destinations = ["soc"]\n', "policy.toml")


def test_a_policy_file_that_is_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.toml")
    assert load_policy(None).source == "built-in defaults"


def test_policy_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(GOOD)
    bad.write_text(GOOD.replace("[alerts]", "[alert]"))
    assert main(["policy", "check", str(good)]) == 0
    assert "1 exemption" in capsys.readouterr().out
    assert main(["policy", "check", str(bad)]) == 2
    assert "line 8: alert: unknown section" in capsys.readouterr().err


NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SRV = f"/subscriptions/s/resourceGroups/{GROUP}/providers/Microsoft.DBforMySQL/flexibleServers/db1"


@pytest.mark.parametrize(("exemption", "tags", "setting", "covered"), [
    (Exemption("r", NOW + timedelta(days=1), server="DB1"), {}, "firewall_rules", True),
    (Exemption("r", NOW + timedelta(days=1), server=SRV.upper()), {}, "firewall_rules", True),
    (Exemption("r", NOW + timedelta(days=1), server="db2"), {}, "firewall_rules", False),
    (Exemption("r", NOW - timedelta(seconds=1), server="db1"), {}, "firewall_rules", False),
    (Exemption("r", NOW + timedelta(days=1), resource_group=GROUP.upper()), {}, "tls_version", True),
    (Exemption("r", NOW + timedelta(days=1), resource_group="other"), {}, "tls_version", False),
    (Exemption("r", NOW + timedelta(days=1), server="db1", settings=("tls_version",)), {}, "firewall_rules", False),
    (Exemption("r", NOW + timedelta(days=1), tag="drift-exempt=firewall"), {"Drift-Exempt": "firewall"},
     "firewall_rules", True),
    (Exemption("r", NOW + timedelta(days=1), tag="drift-exempt=firewall"), {"drift-exempt": "tls, firewall"},
     "firewall_rules", True),
    (Exemption("r", NOW + timedelta(days=1), tag="drift-exempt=firewall"), {"drift-exempt": "tls"},
     "firewall_rules", False),
    (Exemption("r", NOW + timedelta(days=1), tag="legacy"), {"legacy": "yes"}, "backup", True),
    (Exemption("r", NOW + timedelta(days=1), tag="legacy"), {}, "backup", False),
], ids=["server-name", "server-id", "other-server", "expired", "resource-group", "other-group", "other-setting",
        "tag", "tag-list", "tag-other-value", "tag-name-only", "untagged"])
def test_what_an_exemption_covers(exemption: Exemption, tags: dict[str, str], setting: str, covered: bool) -> None:
    assert exemption.covers(server_id=SRV, server_name="db1", resource_group=GROUP, tags=tags, setting=setting,
                            now=NOW) is covered


def engine_with(settings: Settings, tmp_path: Path, policy: str) -> DriftEngine:
    path = tmp_path / "policy.toml"
    path.write_text(policy)
    settings.policy_file = str(path)
    return build_engine(settings)


def exemption_policy(server: str, expires: datetime) -> str:
    return f"""
[[exemptions]]
server = "{server}"
settings = ["firewall_rules"]
reason = "vendor onboarding, CHG-1234"
expires = {expires.date().isoformat()}
"""


def test_an_exempted_change_is_recorded_with_its_reason_and_not_alerted(
    settings: Settings, tmp_path: Path, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = engine_with(settings, tmp_path, exemption_policy(server_name, datetime.now(UTC) + timedelta(days=7)))
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    add_rule(sdk, server_name, "vendor", "0.0.0.0", "255.255.255.255")
    set_parameter(sdk, server_name, "require_secure_transport", "OFF")
    engine.handle_many(arm.drain_events())

    rows = {r.setting: r for r in engine.store.history(server_id=server_id(server_name))}
    assert rows["firewall_rules"].verdict == "weakened", "the verdict is kept"
    assert rows["firewall_rules"].alert_status == "suppressed"
    assert rows["firewall_rules"].exemption.startswith("vendor onboarding, CHG-1234 (until ")
    assert rows["require_secure_transport"].alert_status == "sent", "the exemption covers one setting only"
    assert len(teams.messages()) == 1


def test_an_expired_exemption_stops_applying_by_itself(
    settings: Settings, tmp_path: Path, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = engine_with(settings, tmp_path, exemption_policy(server_name, datetime.now(UTC) - timedelta(days=1)))
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    add_rule(sdk, server_name, "vendor", "0.0.0.0", "255.255.255.255")
    engine.handle_many(arm.drain_events())
    [row] = engine.store.history(server_id=server_id(server_name))
    assert row.alert_status == "sent" and row.exemption is None
    assert len(teams.messages()) == 1


def test_a_tag_on_the_server_exempts_it_for_events_about_other_settings(
    settings: Settings, tmp_path: Path, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = engine_with(settings, tmp_path, """
[[exemptions]]
tag = "drift-exempt=firewall"
settings = ["firewall_rules"]
reason = "tagged by the platform team"
expires = 2099-01-01
""")
    create_compliant_server(sdk, server_name, tags={"drift-exempt": "firewall"})
    engine.handle_many(arm.drain_events())
    add_rule(sdk, server_name, "wide", "10.0.0.0", "10.255.255.255")
    engine.handle_many(arm.drain_events())
    [row] = engine.store.history(server_id=server_id(server_name))
    assert (row.setting, row.alert_status) == ("firewall_rules", "suppressed")
    assert teams.messages() == []


def test_alerts_below_the_policy_minimum_severity_are_recorded_only(
    settings: Settings, tmp_path: Path, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = engine_with(settings, tmp_path, '[alerts]\nmin_severity = "medium"\n')
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    add_rule(sdk, server_name, "office", "203.0.113.7", "203.0.113.7")  # low
    set_parameter(sdk, server_name, "tls_version", "TLSv1.2,TLSv1.3")  # medium
    engine.handle_many(arm.drain_events())
    rows = {r.setting: r.alert_status for r in engine.store.history(server_id=server_id(server_name))}
    assert rows == {"firewall_rules": "none", "tls_version": "sent"}
    assert len(teams.messages()) == 1
