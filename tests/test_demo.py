"""`make demo`, the README's first command: the whole story on a stack of its own, exit 0."""

from __future__ import annotations

import pytest

from drift.local.demo import run_demo


def test_the_demo_tells_its_story_and_names_every_card_it_received(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo() == 0
    out = capsys.readouterr().out
    assert "3. Teams received 5 alert card(s)" in out
    cards = [line.strip()[2:] for line in out.split("3. Teams received", 1)[1].split("4. Drift history")[0]
             .splitlines() if line.strip().startswith("* ")]
    assert len(cards) == 5 and all(c.split(":")[0] in {"CRITICAL", "HIGH", "MEDIUM", "LOW"} for c in cards), cards
    assert "orders-db" in out.split("4. Drift history", 1)[1], "the history table follows"
