"""The shared SDK writes (`drift.local.writes`) bound to the tests' subscription and resource group."""

from __future__ import annotations

from typing import Any

from drift.local import writes
from tests.conftest import GROUP, SUBSCRIPTION

WORKSPACE = "/subscriptions/x/resourceGroups/sec/providers/Microsoft.OperationalInsights/workspaces/soc"
AUDIT_TO_WORKSPACE = writes.audit_to_workspace(WORKSPACE)
KEY_URI = writes.KEY_URI


def server_id(name: str) -> str:
    return writes.server_id(SUBSCRIPTION, GROUP, name)


def create_server(sdk: Any, name: str, **kwargs: Any) -> None:
    writes.create_server(sdk, GROUP, name, **kwargs)


def create_compliant_server(sdk: Any, name: str, **kwargs: Any) -> None:
    writes.create_compliant_server(sdk, GROUP, name, WORKSPACE, **kwargs)


def set_public_access(sdk: Any, name: str, value: str) -> None:
    writes.set_public_access(sdk, GROUP, name, value)


def set_parameter(sdk: Any, name: str, parameter: str, value: str) -> None:
    writes.set_parameter(sdk, GROUP, name, parameter, value)


def restart(sdk: Any, name: str) -> None:
    writes.restart(sdk, GROUP, name)


def detach_vnet(sdk: Any, name: str, public_access: str = "Disabled") -> None:
    writes.detach_vnet(sdk, GROUP, name, public_access)


def batch_parameters(sdk: Any, name: str, values: dict[str, str]) -> None:
    writes.batch_parameters(sdk, GROUP, name, values)


def add_rule(sdk: Any, name: str, rule: str, start: str, end: str) -> None:
    writes.add_rule(sdk, GROUP, name, rule, start, end)


def delete_rule(sdk: Any, name: str, rule: str) -> None:
    writes.delete_rule(sdk, GROUP, name, rule)


def diagnostic_setting(sdk: Any, name: str, setting: str, body: dict[str, Any] | None) -> None:
    writes.diagnostic_setting(sdk, GROUP, name, setting, body)
