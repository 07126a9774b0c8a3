"""Issue 9's guarantees, a short round of each chaos case (`make chaos` runs them many times).

Each test runs the case of `drift.local.chaos_cases` that `bench/chaos.py` runs, on the session's
local stack, and asserts the issue's "must be": nothing lost, nothing doubled, no wrong verdict,
nothing crashed.
"""

from __future__ import annotations

import pytest

from drift.local import chaos_admin as admin
from drift.local import chaos_events as events
from drift.local.arm import ArmStandIn
from drift.local.azurite import Azurite
from drift.local.chaos import ChaosEnv, Tally
from drift.local.chaos_cases import CASES
from drift.local.receivers import GraphReceiver, TeamsReceiver
from drift.local.tls import LocalCA


@pytest.fixture
def env(azurite: Azurite, arm: ArmStandIn, ca: LocalCA, teams: TeamsReceiver, graph: GraphReceiver) -> ChaosEnv:
    return ChaosEnv(azurite.connection_string, arm, ca, teams, graph)


def holds(tally: Tally) -> None:
    assert tally.clean, tally.describe()


def test_public_access_and_an_allow_all_rule_at_once_are_critical_whatever_the_overlap(env: ChaosEnv) -> None:
    holds(events.public_access_and_allow_all_at_once(env))


def test_entra_only_and_its_admin_restored_at_once_raise_no_false_card(env: ChaosEnv) -> None:
    holds(events.entra_only_and_admin_restored_at_once(env))


def test_one_host_handling_two_events_of_a_server_at_once_sends_each_card_once(env: ChaosEnv) -> None:
    holds(events.one_host_two_events(env))


def test_servers_at_azures_maxima_are_recorded_and_judged_like_any_other(env: ChaosEnv) -> None:
    holds(events.large_states(env))


def test_a_transient_404_on_a_child_of_a_live_server_is_retried_not_recorded(env: ChaosEnv) -> None:
    holds(events.transient_404(env))


def test_events_with_odd_types_or_huge_fields_still_find_the_change(env: ChaosEnv) -> None:
    holds(events.hostile_event_fields(env))


def test_the_subject_decides_the_subscription_of_an_event(env: ChaosEnv) -> None:
    holds(events.subject_decides_the_subscription(env))


def test_a_redelivered_delete_leaves_a_recreated_server_alone(env: ChaosEnv) -> None:
    holds(events.stale_delete_after_recreate(env))


def test_a_bad_checkpoint_row_is_discarded_and_the_scan_starts_afresh(env: ChaosEnv) -> None:
    holds(admin.bad_checkpoint(env))


def test_known_servers_match_the_subscription_exactly(env: ChaosEnv) -> None:
    holds(admin.known_servers_exact(env))


def test_retry_after_waits_stay_inside_the_invocation_budget(env: ChaosEnv) -> None:
    """Scaled down: Retry-After 1 s twice against a 0.3 s budget (`engine.arm_budget`)."""
    holds(events.throttled_reads(env, events.Throttle(retry_after=1.0, times=2, budget=0.3, slack=0.4)))


def test_a_critical_change_is_never_rate_limited_into_a_digest(env: ChaosEnv) -> None:
    holds(events.critical_never_in_digest(env, lows=8, per_minute=4))


def test_accept_names_the_alert_and_is_refused_when_arm_shows_something_else(env: ChaosEnv) -> None:
    holds(admin.accept_names_what_was_seen(env))


def test_a_review_request_without_a_signed_in_user_is_refused(env: ChaosEnv) -> None:
    holds(admin.review_identity_from_platform(env))


def test_malformed_or_oversized_review_requests_get_a_4xx_and_write_nothing(env: ChaosEnv) -> None:
    holds(admin.bad_review_requests(env))


def test_invisible_characters_never_reach_a_card_and_undo_commands_are_shell_quoted(env: ChaosEnv) -> None:
    holds(admin.hostile_strings(env))


def test_server_names_match_case_insensitively(env: ChaosEnv) -> None:
    holds(admin.server_names_case_insensitive(env))


def test_every_case_of_the_issue_has_a_test_here() -> None:
    import sys

    module = sys.modules[__name__]
    tested = {name for name in dir(module) if name.startswith("test_")}
    assert len(CASES) == 17 and {c.row for c in CASES} == set(range(1, 18))
    assert len(tested) - 1 == len(CASES)
