"""Write the JSON files the Bicep loads, from the code that is their one source of truth.

    .venv/bin/python infra/generate.py           # rewrite them
    .venv/bin/python infra/generate.py --check   # exit 1 if one is stale (CI)

* `handled-operations.json`: every `data.operationName` the router handles
  (`drift.routing.handled_operations()`), the values of the Event Grid subscription's `StringIn` filter.
* `reader-role-actions.json`: the ARM read actions the code performs (`drift.readers.role_actions()`:
  `READ_ACTIONS` and their aliases), the actions of the "MySQL Drift Reader" custom role, and nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

INFRA = Path(__file__).resolve().parent
ROOT = INFRA.parent
if str(ROOT) not in sys.path:  # run as a script, `infra/` is on the path, not the project
    sys.path.insert(0, str(ROOT))


def handled_operations() -> list[str]:
    from drift.routing import handled_operations as operations

    return operations()


def reader_role_actions() -> list[str]:
    from drift.readers import role_actions

    return role_actions()


GENERATED: dict[str, Callable[[], list[str]]] = {
    "handled-operations.json": handled_operations,
    "reader-role-actions.json": reader_role_actions,
}


def render(values: list[str]) -> str:
    return json.dumps(values, indent=2) + "\n"


def stale() -> list[str]:
    """The generated files whose content differs from what the code says now."""
    out = []
    for name, source in GENERATED.items():
        path = INFRA / name
        if not path.exists() or path.read_text() != render(source()):
            out.append(name)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    args = parser.parse_args(argv)
    if args.check:
        names = stale()
        for name in names:
            print(f"infra/{name} is stale: run .venv/bin/python infra/generate.py", file=sys.stderr)
        return 1 if names else 0
    for name, source in GENERATED.items():
        (INFRA / name).write_text(render(source()))
        print(f"wrote infra/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
