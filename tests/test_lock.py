"""The Function's dependencies are locked: requirements.txt (what the remote build installs) pins,
with hashes, exactly the closure of pyproject.toml's ranges, and the tests run on those versions."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from drift.local.lock import PIN, closure, locked

ROOT = Path(__file__).resolve().parents[1]
def direct() -> list[Requirement]:
    return [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]


def test_every_dependency_in_pyproject_is_locked_at_a_version_inside_its_range() -> None:
    pins = locked()
    for req in direct():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not in requirements.txt: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.txt pins {req.name}=={pins[name]}, outside pyproject.toml's {req.specifier}: "
            "run `make lock`")


def test_every_locked_version_carries_its_hashes() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements.txt").read_text())
    pinned = [e for e in entries if PIN.match(e)]
    assert len(pinned) == len(locked())
    for entry in pinned:
        assert "--hash=sha256:" in entry, f"no hash for {entry.split()[0]}: pip would not check what it installs"


def test_the_lock_holds_exactly_the_closure_of_pyproject() -> None:
    assert closure(direct()) == set(locked()), "requirements.txt is stale: run `make lock`"


def test_the_tests_run_on_the_locked_versions() -> None:
    wrong = {}
    for name, version in locked().items():
        try:
            installed = distribution(name).version
        except PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert wrong == {}, "installed (locked, found) differ: `make setup` installs requirements.txt"
