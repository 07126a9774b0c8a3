"""The 17 cases of issue 9 in the issue's order, with the rounds `bench/chaos.py` runs by default.

Rows 1-8 and 11-12 (the event path) are in `chaos_events`; 9-10 (reconciliation), 13-17 (the
review actions and what reaches a card) in `chaos_admin`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drift.local.chaos import ChaosEnv, Tally
from drift.local.chaos_admin import (
    accept_names_what_was_seen,
    bad_checkpoint,
    bad_review_requests,
    hostile_strings,
    known_servers_exact,
    review_identity_from_platform,
    server_names_case_insensitive,
)
from drift.local.chaos_events import (
    critical_never_in_digest,
    entra_only_and_admin_restored_at_once,
    hostile_event_fields,
    large_states,
    one_host_two_events,
    public_access_and_allow_all_at_once,
    stale_delete_after_recreate,
    subject_decides_the_subscription,
    throttled_reads,
    transient_404,
)


@dataclass(frozen=True)
class Case:
    row: int
    title: str
    run: Callable[[ChaosEnv], Tally]
    rounds: int  # the bench's default: 20 where the issue measured 20, fewer where a round is long


CASES: list[Case] = [
    Case(1, "public access + allow-all rule at once (separate engines)", public_access_and_allow_all_at_once, 20),
    Case(2, "Entra-only ON + admin restored at once (separate engines)", entra_only_and_admin_restored_at_once, 20),
    Case(3, "two events of one server in one host (shared engine)", one_host_two_events, 20),
    Case(4, "states at Azure's maxima (tags, CJK tags, 500 rules)", large_states, 3),
    Case(5, "transient 404 on a parameter / the rules list", transient_404, 5),
    Case(6, "non-string ids, 40K-character fields in events", hostile_event_fields, 3),
    Case(7, "unwatched subject, watched data.subscriptionId", subject_decides_the_subscription, 5),
    Case(8, "delete redelivered after the server was recreated", stale_delete_after_recreate, 5),
    Case(9, "bad scan checkpoint row", bad_checkpoint, 3),
    Case(10, "known_servers of ...0001 vs ...0002", known_servers_exact, 5),
    Case(11, "ARM 429 with Retry-After: 20, twice", throttled_reads, 1),
    Case(12, "CRITICAL after 50 LOW alerts at the rate limit", critical_never_in_digest, 3),
    Case(13, "accept after a LOW alert while allow-all is added", accept_names_what_was_seen, 5),
    Case(14, "POST /api/accept without a signed-in user", review_identity_from_platform, 5),
    Case(15, "malformed and oversized review requests", bad_review_requests, 2),
    Case(16, "invisible characters, shell in undo commands", hostile_strings, 5),
    Case(17, "accept orders-db for Orders-DB", server_names_case_insensitive, 5),
]


def run_case(case: Case, env: ChaosEnv, rounds: int) -> Tally:
    total = Tally()
    for _ in range(rounds):
        try:
            total.add(case.run(env).clamped())
        except Exception as exc:  # the harness itself must go on to the next round
            total.tried += 1
            total.crashed += 1
            total.note(f"round aborted: {type(exc).__name__}: {str(exc)[:120]}")
    return total
