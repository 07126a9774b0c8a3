"""Clients skip requests' per-request rescan of the environment only when there is nothing in it to honour."""

from __future__ import annotations

from pathlib import Path

import pytest

from drift.transport import client_options


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "ALL_PROXY", "REQUESTS_CA_BUNDLE",
                                      "CURL_CA_BUNDLE", "NETRC"])
def test_a_proxy_or_ca_variable_keeps_the_environment_honoured(variable: str, tmp_path: Path) -> None:
    assert client_options({"PATH": "/usr/bin", variable: "x"}, netrc=tmp_path / "none") == {}


def test_a_netrc_file_keeps_the_environment_honoured(tmp_path: Path) -> None:
    (tmp_path / ".netrc").write_text("machine example.com login x password y\n")
    assert client_options({"PATH": "/usr/bin"}, netrc=tmp_path / ".netrc") == {}


def test_with_nothing_to_honour_requests_stops_rescanning_the_environment(tmp_path: Path) -> None:
    assert client_options({"PATH": "/usr/bin", "DRIFT_TABLE_NAME": "t"}, netrc=tmp_path / "none") == {
        "use_env_settings": False}


def test_the_option_reaches_azure_cores_default_transport(tmp_path: Path) -> None:
    from azure.core import PipelineClient

    client = PipelineClient("https://example.invalid", **client_options({}, netrc=tmp_path / "none"))
    transport = client._pipeline._transport  # type: ignore[attr-defined]
    transport.open()
    assert transport.session.trust_env is False
