"""The `mysql-drift` process as a shell sees it: exit codes, one-line errors without a traceback, a pipe
closed early by `head`, and a scan's progress on stderr (a bar on a terminal, lines otherwise)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from drift.config import Settings
from drift.local.arm import ArmStandIn
from drift.runtime import build_engine
from tests.conftest import GROUP, SUBSCRIPTION
from tests.helpers import add_rule, create_server

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "drift.cli"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *phrases: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr
    assert "Traceback" not in done.stderr
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr


@pytest.mark.parametrize(("args", "phrases"), [
    (["scan", "--workers", "0"], ["mysql-drift scan:", "--workers", "must be 1 or more, not 0"]),
    (["scan", "--workers", "many"], ["--workers", "takes a whole number, not 'many'"]),
    (["history", "--limit", "-1"], ["mysql-drift history:", "--limit", "must be 1 or more, not -1"]),
    (["history", "--severity", "urgent"], ["--severity", "invalid choice"]),
    (["history", "--since", "last week"], ["--since takes 30m, 24h, 7d or an ISO date"]),
    (["local", "seed", "--servers", "0"], ["mysql-drift local seed:", "must be 1 or more"]),
    (["nonsense"], ["mysql-drift:", "invalid choice"]),
], ids=["workers-0", "workers-word", "limit-negative", "severity", "since", "seed-0", "command"])
def test_a_bad_argument_is_one_line_and_exit_2(args: list[str], phrases: list[str]) -> None:
    one_line_error(run(*args), 2, *phrases)


def test_a_subscription_that_is_not_watched_is_refused_before_anything_is_read(endpoints_file: Path) -> None:
    other = "0a1b2c3d-0000-4000-8000-000000000bad"
    done = run("scan", "--subscription", other, "--endpoints-file", str(endpoints_file))
    one_line_error(done, 2, f"subscription {other} is not watched", SUBSCRIPTION)


def test_errors_of_every_kind_are_one_line(tmp_path: Path, endpoints_file: Path) -> None:
    one_line_error(run("policy", "check", str(tmp_path / "missing.toml")), 2, "missing.toml")
    one_line_error(run("history", "--endpoints-file", str(tmp_path / "none.json")), 2, "cannot read endpoints file")
    unreachable = tmp_path / "down.json"
    unreachable.write_text(json.dumps({**json.loads(endpoints_file.read_text()),
                                       "storage_connection_string": "DefaultEndpointsProtocol=http;AccountName=x;"
                                       "AccountKey=eA==;TableEndpoint=http://127.0.0.1:9/x;"}))
    one_line_error(run("history", "--endpoints-file", str(unreachable), timeout=300), 1, "mysql-drift history:",
                   "run with -v for the traceback")
    one_line_error(run("local", "seed"), 2, "--endpoints-file")


def test_history_piped_into_head_stops_quietly_with_exit_0(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str, endpoints_file: Path,
) -> None:
    """Far more than a pipe holds (64 KiB): the writer meets the closed pipe mid-way, as with a real fleet."""
    engine = build_engine(settings)
    create_server(sdk, server_name)
    arm.seed_firewall_rules(SUBSCRIPTION, GROUP, server_name,
                            [(f"office-{n:03d}", f"198.51.100.{n}", f"198.51.100.{n}") for n in range(200)])
    engine.handle_many(arm.drain_events())
    for n in range(8):
        add_rule(sdk, server_name, f"vendor-{n}", f"192.0.2.{n}", f"192.0.2.{n}")
        engine.handle_many(arm.drain_events())
    command = " ".join([*CLI, "history", "--endpoints-file", str(endpoints_file)])

    for fmt in ("table", "json", "csv"):
        full = run("history", "--format", fmt, "--endpoints-file", str(endpoints_file))
        assert full.returncode == 0 and len(full.stdout) > 2 * 65536, (fmt, len(full.stdout), full.stderr)
        piped = subprocess.run(["bash", "-o", "pipefail", "-c", f"{command} --format {fmt} | head -n 2"], cwd=ROOT,
                               capture_output=True, text=True, timeout=120)
        assert piped.returncode == 0, (fmt, piped.returncode, piped.stderr)
        assert piped.stderr == "", "no traceback, no 'Exception ignored' at exit"
        assert piped.stdout.splitlines() == full.stdout.splitlines()[:2]


def scan_servers(arm: ArmStandIn, count: int) -> None:
    for n in range(count):
        arm.seed_server(SUBSCRIPTION, "rg-scan", f"scan-{n}")


def test_scan_without_a_terminal_writes_progress_lines_to_stderr_and_the_result_to_stdout(
    arm: ArmStandIn, endpoints_file: Path,
) -> None:
    scan_servers(arm, 5)
    done = run("scan", "--progress-every", "2", "--workers", "1", "--endpoints-file", str(endpoints_file))

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [line for line in done.stdout.splitlines() if line.startswith(SUBSCRIPTION)]
    assert f"{SUBSCRIPTION}: 5 server(s) checked" in done.stdout
    lines = done.stderr.splitlines()
    assert "\r" not in done.stderr
    assert lines[0] == f"scan {SUBSCRIPTION}: 0/5 servers checked (0s)"
    assert [line.split(": ")[1].split()[0] for line in lines] == ["0/5", "2/5", "4/5", "5/5"]

    quiet = run("scan", "--quiet", "--endpoints-file", str(endpoints_file))
    assert quiet.returncode == 0 and quiet.stderr == "" and f"{SUBSCRIPTION}: 5 server(s) checked" in quiet.stdout


def test_scan_on_a_terminal_draws_a_bar_on_stderr_and_keeps_stdout_the_result(
    arm: ArmStandIn, endpoints_file: Path,
) -> None:
    scan_servers(arm, 4)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([*CLI, "scan", "--workers", "1", "--endpoints-file", str(endpoints_file)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=terminal, text=True)
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the process closed the terminal's last open end
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(controller)
    shown = seen.decode()

    assert proc.returncode == 0, shown
    assert "\r" in shown and f"[{'#' * 30}] 4/4 servers" in shown, shown
    assert "[" + "." * 30 + "] 0/4 servers" in shown, "the bar starts empty"
    assert out.splitlines() == [line for line in out.splitlines() if line.startswith(f"{SUBSCRIPTION}: 4 server(s)")]
    assert out.count("\n") == 1 and "#" not in out


def test_the_installed_console_script_runs_the_package_entry_point() -> None:
    from importlib.metadata import entry_points

    from drift.cli import main

    [script] = [e for e in entry_points(group="console_scripts") if e.name == "mysql-drift"]
    assert script.value == "drift.cli:main" and script.load() is main
