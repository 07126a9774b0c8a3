"""Download the official test data the suite uses, at the commits it is pinned to, and check it.

``python scripts/fetch_fixtures.py [DEST]`` (``make fixtures``; DEST defaults to ``.fixtures``) reads the
per-file tables of ``tests/fixtures-sources.md`` (a copy of ``shared/fixtures/SOURCES.md``), fetches each
file from ``raw.githubusercontent.com/Azure/azure-rest-api-specs/<commit>/<path>``, and keeps it only if
its SHA-256 is the one ``tests/fixtures.sha256`` records. ``--check DIR`` only checks a folder (the copy
in ``../shared/fixtures``, say) against the manifest. Either way, the official files the clone keeps itself
(``tests/specs/``, pinned in ``tests/specs/SOURCES.md`` and by their clone path in the manifest) are checked
where they are; they are not downloaded. Exit status 1 when anything is missing or differs.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = REPO / "tests" / "fixtures-sources.md"
OWN_SOURCES = REPO / "tests" / "specs" / "SOURCES.md"
# Bicep type definitions the shared folder lacks (from Azure/bicep-types-az); same table layout.
OWN_BICEP_TYPES_SOURCES = REPO / "tests" / "bicep-types" / "SOURCES.md"
OWN_PREFIX = "tests/"
MANIFEST = REPO / "tests" / "fixtures.sha256"
RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
SPECS_REPO = "Azure/azure-rest-api-specs"


def read_manifest(path: Path = MANIFEST, own: bool = False) -> dict[str, str]:
    """The fixtures folder's entries, or with ``own`` those of the clone's own copies (``tests/...``)."""
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, _, name = line.partition("  ")
            if name.strip().startswith(OWN_PREFIX) == own:
                entries[name.strip()] = digest.strip()
    return entries


def pinned_files(sources: Path = SOURCES) -> dict[str, tuple[str, str]]:
    """``local path -> (upstream path, commit)`` from the tables of SOURCES.md (or ``tests/specs/SOURCES.md``,
    whose paths are the clone's)."""
    text = sources.read_text(encoding="utf-8")
    prefixes = dict(re.findall(r"^\| ([A-Z][A-Z0-9]?) \| `([^`]+)` \|$", text, re.MULTILINE))
    files: dict[str, tuple[str, str]] = {}
    folder = None
    for line in text.splitlines():
        heading = re.match(r"^###+ `([^`]+)/` \(", line)
        if heading:
            folder = heading.group(1)
            continue
        row = re.match(r"^\| `([^`]+)` \| ([A-Z][A-Z0-9]?): `([^`]+)` \| `([0-9a-f]{40})` \|", line)
        if row and folder:
            name, key, rest, commit = row.groups()
            files[f"{folder}/{name}"] = (prefixes[key] + rest, commit)
    return files


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(folder: Path, manifest: dict[str, str]) -> list[str]:
    """What is missing or different in ``folder``; empty when it is the pinned data."""
    problems = []
    for name, digest in sorted(manifest.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"missing: {name}")
        elif sha256(path) != digest:
            problems.append(f"differs: {name}")
    return problems


def fetch(dest: Path, manifest: dict[str, str], files: dict[str, tuple[str, str]]) -> list[str]:
    problems = []
    for name, digest in sorted(manifest.items()):
        target = dest / name
        if target.is_file() and sha256(target) == digest:
            continue
        if name == "SOURCES.md":
            data = SOURCES.read_bytes()
        elif name in files:
            upstream, commit = files[name]
            url = RAW.format(repo=SPECS_REPO, commit=commit, path=upstream)
            try:
                with urllib.request.urlopen(url, timeout=60) as answer:
                    data = answer.read()
            except OSError as exc:
                problems.append(f"could not fetch {name} from {url}: {exc}")
                continue
        else:
            problems.append(f"no source pinned for {name}")
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            problems.append(f"{name}: the pinned file's checksum is not the manifest's")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", type=Path, default=REPO / ".fixtures")
    parser.add_argument("--check", type=Path, help="only check this folder against the manifest")
    args = parser.parse_args(argv)
    manifest = read_manifest()
    if args.check:
        problems = check(args.check, manifest)
    else:
        problems = fetch(args.dest, manifest, pinned_files())
        if not problems:
            shutil.copyfile(SOURCES, args.dest / "SOURCES.md")
            problems = check(args.dest, manifest)
    own = read_manifest(own=True)
    own_problems = check(REPO, own)
    for problem in problems + own_problems:
        print(problem, file=sys.stderr)
    where = args.check or args.dest
    print(f"{where}: {len(manifest) - len(problems)} of {len(manifest)} files as pinned")
    print(f"tests/specs/ and tests/bicep-types/: {len(own) - len(own_problems)} of {len(own)} files as pinned")
    return 1 if problems or own_problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
