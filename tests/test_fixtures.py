"""The official test data travels with the project: found, checked against the pinned checksums,
and when absent, only the tests that need it skip (fail with CI=true)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import fixturefiles
from tests.conftest import OFFICIAL

REPO = fixturefiles.REPO


def copy_of_fixtures(tmp_path: Path) -> Path:
    if OFFICIAL.path is None:
        pytest.skip("official fixtures missing (how to get them: at the end of the run)")
    dest = tmp_path / "fixtures"
    for name in fixturefiles.read_manifest():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(OFFICIAL.path / name, dest / name)
    return dest


def test_the_pinned_copy_is_found_and_checks_out(tmp_path: Path) -> None:
    copy = copy_of_fixtures(tmp_path)
    found = fixturefiles.locate({"DRIFT_FIXTURES": str(copy)})
    assert (found.path, found.missing, found.changed, found.complete) == (copy, [], [], True)


def test_a_changed_or_missing_file_is_named(tmp_path: Path) -> None:
    copy = copy_of_fixtures(tmp_path)
    spec = copy / "specs" / "mysql-flexible-2024-12-30.openapi.json"
    spec.write_text(spec.read_text().replace('"Enabled"', '"Enabeld"', 1))
    (copy / "arm" / "mysql-flexible-2024-12-30" / "ServerGet.json").unlink()
    found = fixturefiles.locate({"DRIFT_FIXTURES": str(copy)})
    assert found.changed == ["specs/mysql-flexible-2024-12-30.openapi.json"]
    assert found.missing == ["arm/mysql-flexible-2024-12-30/ServerGet.json"]
    assert not found.complete and "differ from tests/fixtures.sha256" in found.summary()


def test_the_search_order_is_env_then_beside_the_clone_then_make_fixtures(tmp_path: Path) -> None:
    assert fixturefiles.candidates({"DRIFT_FIXTURES": str(tmp_path)}) == [tmp_path]
    default = fixturefiles.candidates({})
    assert default[0] == REPO.parent / "shared" / "fixtures" and default[-1] == REPO / ".fixtures"
    nothing = fixturefiles.locate({}, folders=[tmp_path / "absent"])
    assert nothing.path is None and len(nothing.missing) == len(fixturefiles.read_manifest())
    assert "make fixtures" in nothing.summary()


def test_the_download_list_pins_every_file_of_the_manifest() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import fetch_fixtures
    finally:
        sys.path.remove(str(REPO / "scripts"))
    pinned = fetch_fixtures.pinned_files()
    assert set(fixturefiles.read_manifest()) - set(pinned) == {"SOURCES.md"}  # kept in the repo itself
    upstream, commit = pinned["specs/mysql-flexible-2024-12-30.openapi.json"]
    assert upstream.endswith("FlexibleServers/stable/2024-12-30/openapi.json") and len(commit) == 40
    assert fixturefiles.read_manifest()["SOURCES.md"] == fixturefiles.sha256(REPO / "tests" / "fixtures-sources.md")


def test_the_official_copies_in_the_clone_are_pinned_and_checked_like_the_rest(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import fetch_fixtures
    finally:
        sys.path.remove(str(REPO / "scripts"))
    own = fixturefiles.read_own_manifest()
    assert "tests/specs/security-pricings-2024-01-01.json" in own and not set(own) & set(fixturefiles.read_manifest())
    sources = (fetch_fixtures.OWN_SOURCES, fetch_fixtures.OWN_BICEP_TYPES_SOURCES)
    assert set(own) == {name for source in sources for name in fetch_fixtures.pinned_files(source)}, (
        "each with its upstream commit")
    assert set(fetch_fixtures.read_manifest(own=True)) == set(own)
    assert fixturefiles.verify(REPO, own) == fixturefiles.Fixtures(REPO)
    tampered = tmp_path / "fixtures.sha256"
    tampered.write_text(fixturefiles.MANIFEST.read_text().replace(
        own["tests/specs/security-pricings-2024-01-01.json"], "0" * 64))
    found = fixturefiles.locate({"DRIFT_FIXTURES": str(tmp_path / "nowhere")}, manifest_path=tampered)
    assert found.changed == ["tests/specs/security-pricings-2024-01-01.json"]


def run_without_fixtures(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRIFT_FIXTURES": str(tmp_path / "nowhere"), "CI": "true" if ci else ""}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                           "tests/test_contract.py::test_the_stand_ins_spec_facts_are_the_specs",
                           "tests/test_fixtures.py::test_the_search_order_is_env_then_beside_the_clone_then_make_fixtures"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_without_fixtures_only_the_tests_that_need_them_skip_and_the_run_says_how_to_get_them(
        tmp_path: Path) -> None:
    run = run_without_fixtures(tmp_path, ci=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 1 skipped" in run.stdout
    assert run.stdout.count("run `make fixtures`") == 1, "said once"


def test_with_ci_a_missing_fixture_fails(tmp_path: Path) -> None:
    run = run_without_fixtures(tmp_path, ci=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed, 1 error" in run.stdout and "official fixture specs missing" in run.stdout


def test_fixtures_that_differ_from_the_manifest_stop_the_run(tmp_path: Path) -> None:
    copy = copy_of_fixtures(tmp_path)
    example = copy / "arm" / "mysql-flexible-2024-12-30" / "FirewallRuleGet.json"
    example.write_text(example.read_text().replace("0.0.0.0", "10.0.0.0"))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_contract.py::test_the_stand_ins_spec_facts_are_the_specs"],
                         cwd=REPO, env={**os.environ, "DRIFT_FIXTURES": str(copy)}, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert "arm/mysql-flexible-2024-12-30/FirewallRuleGet.json" in run.stderr
