"""The Function's lock file (`requirements.txt`, made by `make lock`): its pins and what a set of
requirements pulls in. Shared by `tests/test_lock.py` and `bench/lean_bench.py`."""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parents[2] / "requirements.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def locked(path: Path = LOCK) -> dict[str, str]:
    """{canonical name: version} of every pin of the lock."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def closure(requirements: Iterable[Requirement], within: Container[str] | None = None) -> set[str]:
    """Every distribution the requirements pull in on this interpreter and platform (the Function's:
    3.11, Linux), as installed here; with `within`, only through distributions it holds."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (within is not None and name not in within):
            continue
        seen.add(name)
        for raw in distribution(name).requires or []:
            sub = Requirement(raw)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                todo.append(sub)
    return seen
