"""The README and the example policy say what the code does: they are checked against it."""

from __future__ import annotations

from pathlib import Path

from drift.docs import settings_table
from drift.policy import Policy, load_policy

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_settings_table_is_the_one_the_registry_writes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "README table is stale: run `python -m drift.docs` and paste its output"


def test_the_example_policy_is_valid_and_spells_out_the_defaults() -> None:
    example = load_policy(ROOT / "policy.example.toml")
    defaults = Policy()
    assert example.desired == defaults.desired
    assert (example.approved_ranges, example.trusted_subscriptions, example.min_alert_severity, example.exemptions) \
        == (defaults.approved_ranges, defaults.trusted_subscriptions, defaults.min_alert_severity, ())
