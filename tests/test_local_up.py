"""`mysql-drift local up` as a user runs it: a process that serves until interrupted, and a pump
that brings every write made with the SDK through the detector within a second."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import requests

from drift.cli import main
from drift.local.credential import LocalCredential

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_local_up_runs_the_pipeline_for_writes_made_with_the_sdk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient, models

    endpoints_file = tmp_path / "endpoints.json"
    log = (tmp_path / "local-up.log").open("w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
    proc = subprocess.Popen([sys.executable, "-m", "drift.cli", "local", "up", "--endpoints-file", str(endpoints_file),
                             "--workdir", str(tmp_path / "stack")], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: endpoints_file.exists() and endpoints_file.stat().st_size > 0)
        endpoints = json.loads(endpoints_file.read_text())
        assert set(endpoints) >= {"arm_endpoint", "ca_bundle", "subscription_id", "storage_connection_string",
                                  "teams_webhook_url", "teams_messages_url", "graph_endpoint", "console_url"}
        assert endpoints["console_url"].startswith("http://127.0.0.1:")
        assert endpoints["console_url"].endswith("/api/console")
        sdk = MySQLManagementClient(LocalCredential(), endpoints["subscription_id"], base_url=endpoints["arm_endpoint"],
                                    connection_verify=endpoints["ca_bundle"], polling_interval=0)
        sdk.servers.begin_create("rg", "up-db", models.Server(location="westeurope")).result()
        written = time.monotonic()
        sdk.firewall_rules.begin_create_or_update("rg", "up-db", "AllowAll", models.FirewallRule(
            start_ip_address="0.0.0.0", end_ip_address="255.255.255.255")).result()

        messages = wait_for(lambda: [m for m in requests.get(endpoints["teams_messages_url"], timeout=5).json()
                                     if "AllowAll" in json.dumps(m)])
        # Pushed by the pump, not found by a poll (the bench prints the latency; this is no timing test).
        assert time.monotonic() - written < 15.0, "the alert arrives while the stack runs, not at the next sweep"
        assert "0.0.0.0-255.255.255.255" in json.dumps(messages)

        capsys.readouterr()
        assert main(["history", "--format", "json", "--endpoints-file", str(endpoints_file)]) == 0
        rows = json.loads(capsys.readouterr().out)
        [firewall] = [r for r in rows if r["setting"] == "firewall_rules"]
        assert firewall["server"] == "up-db" and "AllowAll" in firewall["after"]

        fleet = requests.get(f"{endpoints['console_url']}/", timeout=10)  # the console, as the OS user
        assert fleet.status_code == 200 and "up-db" in fleet.text
        assert "default-src 'none'" in fleet.headers["Content-Security-Policy"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
        log.close()
    assert proc.returncode == 0, (tmp_path / "local-up.log").read_text()
