"""Adaptive Cards rendered the way a browser shows them (`tools/cardrender`: npm adaptivecards in
Debian's Chromium), so that a newcomer sees what the channel will see."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
HARNESS = PROJECT / "tools" / "cardrender"


def renderer_missing() -> str | None:
    if not Path("/usr/bin/chromium").exists() and not shutil.which("chromium"):
        return "Chromium is not installed (Debian package `chromium`)"
    if not (HARNESS / "node_modules").exists():
        return "tools/cardrender has no node_modules (make setup runs npm ci there)"
    return None


PHONE_WIDTH = 375  # px: a phone's Teams client (iPhone SE to 13 mini)


def render_cards(cards: dict[str, dict[str, Any]], out_dir: Path, timeout: float = 120,
                 width: int | None = None) -> dict[str, Any]:
    """Render each named card to `out_dir/<name>.png` (`width` px wide: the harness's 480 by default, e.g.
    PHONE_WIDTH); return the harness's report (warnings, sizes, the text a reader sees)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **({"CARDRENDER_WIDTH": str(width)} if width else {})}
    with tempfile.TemporaryDirectory() as tmp:
        for name, card in cards.items():
            (Path(tmp) / f"{name}.json").write_text(json.dumps(card))
        subprocess.run(["node", str(HARNESS / "render.mjs"), tmp, str(out_dir)], check=True, timeout=timeout,
                       capture_output=True, cwd=HARNESS, env=env)
    return dict(json.loads((out_dir / "report.json").read_text()))
