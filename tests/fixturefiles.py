"""Where the official test data is, and whether it is the pinned data.

The official examples and specs (Azure/azure-rest-api-specs, MIT) are not copied into this repository.
The suite looks for them, first found wins:

1. ``DRIFT_FIXTURES`` (a folder laid out like ``shared/fixtures``; when set, the only place looked at);
2. ``shared/fixtures`` beside the clone (as CI lays it out: ``../shared/fixtures``);
3. ``.fixtures/`` in the clone, which ``make fixtures`` fills (``scripts/fetch_fixtures.py`` downloads
   each file at the commit ``tests/fixtures-sources.md`` pins).

Whichever it is, every file is checked against ``tests/fixtures.sha256``: a file that differs stops the
run (the tests would judge against other data than the pinned one); a missing file skips the tests
that need it, or fails them when ``CI=true``.

Official files that ``shared/fixtures`` lacks are copied into the clone: the Defender pricings spec in
``tests/specs/`` (provenance in ``tests/specs/SOURCES.md``), Bicep type definitions in ``tests/bicep-types/``
(``tests/bicep-types/SOURCES.md``); the manifest pins them too, by their path in the clone (``tests/...``),
and they are checked in the same way wherever the rest is found.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "tests" / "fixtures.sha256"
OWN_SPECS = REPO / "tests" / "specs"  # official specs kept in the clone, with their SOURCES.md
OWN_PREFIX = "tests/"  # manifest entries of those copies, relative to the clone
CACHE = REPO / ".fixtures"
HOW_TO_GET = ("run `make fixtures` (downloads the pinned files from Azure/azure-rest-api-specs into .fixtures/), "
              "or set DRIFT_FIXTURES to a copy of shared/fixtures")


def _read_all(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, _, name = line.partition("  ")
            entries[name.strip()] = digest.strip()
    return entries


def read_manifest(path: Path = MANIFEST) -> dict[str, str]:
    """``relative path -> sha256`` of the files of a fixtures folder, from a ``sha256sum``-style file."""
    return {name: digest for name, digest in _read_all(path).items() if not name.startswith(OWN_PREFIX)}


def read_own_manifest(path: Path = MANIFEST) -> dict[str, str]:
    """``path in the clone -> sha256`` of the official files the clone keeps itself (``tests/specs/``)."""
    return {name: digest for name, digest in _read_all(path).items() if name.startswith(OWN_PREFIX)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def candidates(env: dict[str, str] | None = None) -> list[Path]:
    env = dict(os.environ) if env is None else env
    if env.get("DRIFT_FIXTURES"):
        return [Path(env["DRIFT_FIXTURES"])]
    return [*(parent / "shared" / "fixtures" for parent in REPO.parents), CACHE]


@dataclass
class Fixtures:
    """The folder chosen (None: none found) and how it compares with the manifest."""

    path: Path | None
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.path is not None and not self.missing and not self.changed

    def has(self, *parts: str) -> bool:
        return self.path is not None and self.path.joinpath(*parts).exists()

    def summary(self) -> str:
        if self.path is None:
            return f"official fixtures not found; the tests that need them skip: {HOW_TO_GET}"
        if self.changed:
            return (f"official fixtures in {self.path} differ from tests/fixtures.sha256: "
                    f"{', '.join(self.changed[:5])}{' ...' if len(self.changed) > 5 else ''}")
        if self.missing:
            return (f"official fixtures in {self.path} lack {len(self.missing)} pinned files "
                    f"(e.g. {self.missing[0]}); the tests that need them skip: {HOW_TO_GET}")
        return f"official fixtures: {self.path} (checked against tests/fixtures.sha256)"


def verify(folder: Path, manifest: dict[str, str]) -> Fixtures:
    missing, changed = [], []
    for name, digest in sorted(manifest.items()):
        path = folder / name
        if not path.is_file():
            missing.append(name)
        elif sha256(path) != digest:
            changed.append(name)
    return Fixtures(folder, missing, changed)


def locate(env: dict[str, str] | None = None, manifest_path: Path = MANIFEST,
           folders: list[Path] | None = None) -> Fixtures:
    manifest = read_manifest(manifest_path)
    own = verify(REPO, read_own_manifest(manifest_path))
    found = next((verify(folder, manifest) for folder in (candidates(env) if folders is None else folders)
                  if folder.is_dir()), None) or Fixtures(None, sorted(manifest))
    found.missing += own.missing
    found.changed += own.changed
    return found


def in_ci(env: dict[str, str] | None = None) -> bool:
    env = dict(os.environ) if env is None else env
    return env.get("CI", "").lower() in ("1", "true", "yes")
