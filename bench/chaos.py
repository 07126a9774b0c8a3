"""The chaos suite of issue 9: every case N rounds against the local stack, one table at the end.

Per case: tried, lost (a real weakening with no history row or no card), duplicated (more than
one card for one alert), wrong (a wrong verdict, a false card, a bad request let in), crashed
(an uncaught exception, an HTTP 500, a deterministic failure retried, an invocation past its
budget), and the most common findings. A clean row is what the issue's "must be" asks.

    .venv/bin/python bench/chaos.py [--rounds N] [--case 1 --case 3 ...]

Without --rounds each case runs its default (20 where the issue measured 20 rounds, fewer where
one round is long: case 11 waits out two real 20 s Retry-Afters on today's code).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from drift.local.chaos import ChaosEnv, Tally
from drift.local.chaos_cases import CASES, run_case
from drift.local.stack import LocalStack


def table(results: list[tuple[int, str, Tally, float]]) -> str:
    lines = [f"{'#':>2}  {'case':<58} {'tried':>5} {'lost':>5} {'dup':>5} {'wrong':>5} {'crash':>5} {'s':>6}  "
             "verdict"]
    for row, title, tally, seconds in results:
        lines.append(f"{row:>2}  {title[:58]:<58} {tally.tried:>5} {tally.lost:>5} {tally.duplicated:>5} "
                     f"{tally.wrong:>5} {tally.crashed:>5} {seconds:>6.1f}  {'ok' if tally.clean else 'BROKEN'}")
    lines.append("")
    for row, _title, tally, _seconds in results:
        lines += [f"{row:>2}: {text}" for text in tally.findings(limit=8)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, help="rounds per case (default: each case's own)")
    parser.add_argument("--case", type=int, action="append", help="issue 9 row number(s) to run (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # the cases provoke failures on purpose: their logs are noise here
    chosen = [c for c in CASES if not args.case or c.row in args.case]
    results = []
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        assert stack.arm and stack.ca and stack.teams and stack.graph
        env = ChaosEnv(stack.storage_connection_string, stack.arm, stack.ca, stack.teams, stack.graph)
        for case in chosen:
            rounds = args.rounds or case.rounds
            started = time.perf_counter()
            tally = run_case(case, env, rounds)
            results.append((case.row, case.title, tally, time.perf_counter() - started))
            print(f"case {case.row:>2}: {rounds} round(s) in {results[-1][3]:.1f}s "
                  f"({'ok' if tally.clean else 'broken'})", file=sys.stderr, flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
