"""A burst of events about one setting costs one ARM read: a read that began after an event covers it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drift.config import Settings
from drift.local.arm import ArmStandIn
from drift.runtime import build_engine
from tests.helpers import create_compliant_server, server_id, set_parameter


def test_a_burst_of_writes_to_one_setting_is_read_once_with_the_verdict_of_the_last_state(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = build_engine(settings)
    assert engine.recent is not None
    engine.recent.margin = timedelta(0)  # the stand-in's clock is ours: no skew to allow for here
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    for value in ("OFF", "ON", "OFF", "ON", "OFF"):
        set_parameter(sdk, server_name, "require_secure_transport", value)
    burst = arm.drain_events()
    arm.reset_stats()

    outcomes = engine.handle_many(burst)

    assert arm.stats.reads == 1, "the first event's read covers the four written before it began"
    assert [o.status for o in outcomes] == ["recorded", "unchanged", "unchanged", "unchanged", "unchanged"]
    [row] = engine.store.history(server_id=server_id(server_name), since=outcomes[0].records[0].detected)
    assert (row.before, row.after, row.verdict) == ("ON", "OFF", "weakened")


def test_an_event_after_the_read_began_is_read_again(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = build_engine(settings)
    assert engine.recent is not None
    engine.recent.margin = timedelta(0)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    set_parameter(sdk, server_name, "require_secure_transport", "OFF")
    engine.handle_many(arm.drain_events())
    set_parameter(sdk, server_name, "require_secure_transport", "ON")  # written after that read began
    arm.reset_stats()
    [outcome] = engine.handle_many(arm.drain_events())
    assert arm.stats.reads == 1 and outcome.records[0].after == "ON"


def test_with_the_default_margin_a_fresh_event_is_never_taken_from_memory(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    set_parameter(sdk, server_name, "require_secure_transport", "OFF")
    set_parameter(sdk, server_name, "require_secure_transport", "ON")
    arm.reset_stats()
    engine.handle_many(arm.drain_events())
    assert arm.stats.reads == 2, "within 2 s of the write, a clock ahead of ARM's could hide it: read again"
