"""`mysql-drift local seed`: example servers in a running `local up` stack, for a newcomer to look at.

Everything goes through the real management SDK over HTTP to the stack's ARM stand-in, as the demo
does: a platform engineer builds each server the secure way, then several people (and a deployment
pipeline) weaken some of them, each from their own address. The `local up` process's pump hands the
events to the detector; `seed` waits until the history shows every weakening, so that `history`,
`status` and the console have something to show. Running it again adds more servers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drift.config import Settings
from drift.local.credential import AZURE_CLI_APP_ID, service_principal_claims


def person(name: str, upn: str, ip: str, object_id: str) -> dict[str, Any]:
    return {"name": name, "upn": upn, "ipaddr": ip, "appid": AZURE_CLI_APP_ID,
            "http://schemas.microsoft.com/identity/claims/objectidentifier": object_id}


PIPELINE_APP = "7d2a5c1e-6b3f-4e8a-9c0d-1f2e3a4b5c6d"
CALLERS: dict[str, dict[str, Any]] = {
    "platform": person("Pat Platform", "pat@contoso.example", "198.51.100.20", "3c1e9f0a-0000-4000-8000-00000000a001"),
    "casey": person("Casey Admin", "casey@contoso.example", "203.0.113.7", "3c1e9f0a-0000-4000-8000-00000000a002"),
    "dana": person("Dana Developer", "dana@contoso.example", "192.0.2.44", "3c1e9f0a-0000-4000-8000-00000000a003"),
    "lee": person("Lee Ops", "lee@contoso.example", "198.51.100.77", "3c1e9f0a-0000-4000-8000-00000000a004"),
    "pipeline": {**service_principal_claims(PIPELINE_APP, "3c1e9f0a-0000-4000-8000-00000000a005"),
                 "ipaddr": "20.50.2.10"},
}
WORKSPACE = ("/subscriptions/{subscription}/resourceGroups/rg-sec/providers/Microsoft.OperationalInsights/"
             "workspaces/sentinel")
SERVERS = [("orders-db", "rg-shop"), ("billing-db", "rg-finance"), ("crm-db", "rg-crm"), ("inventory-db", "rg-shop"),
           ("reports-db", "rg-data"), ("payments-db", "rg-finance"), ("search-db", "rg-shop"),
           ("identity-db", "rg-identity")]


@dataclass(frozen=True)
class Weakening:
    setting: str
    caller: str
    says: str
    write: Callable[[Any, str, str], None]


def _weakenings() -> dict[str, Weakening]:
    from drift.local import writes

    return {w.setting: w for w in (
        Weakening("firewall_rules", "casey", "opens the firewall to the internet (AllowAll 0.0.0.0-255.255.255.255)",
                  lambda sdk, g, n: writes.add_rule(sdk, g, n, "AllowAll", "0.0.0.0", "255.255.255.255")),
        Weakening("tls_version", "dana", "lowers the TLS floor to TLS 1.2",
                  lambda sdk, g, n: writes.set_parameter(sdk, g, n, "tls_version", "TLSv1.2,TLSv1.3")),
        Weakening("audit_log_enabled", "pipeline", "switches the audit log off",
                  lambda sdk, g, n: writes.set_parameter(sdk, g, n, "audit_log_enabled", "OFF")),
        Weakening("public_network_access", "lee", "enables public network access",
                  lambda sdk, g, n: writes.set_public_access(sdk, g, n, "Enabled")),
    )}


# What happens to the n-th server (cycling): one weakening each, two on one, and one left as built.
PLANS: list[tuple[str, ...]] = [("firewall_rules",), ("tls_version",), ("audit_log_enabled",),
                                ("public_network_access", "firewall_rules"), ()]


@dataclass
class Seeded:
    server_id: str
    name: str
    group: str
    weakened: tuple[str, ...]


class SeedError(Exception):
    """The stack is not there, or did not record what was written (one line for the terminal)."""


def _client(endpoints: dict[str, Any], claims: dict[str, Any]) -> Any:
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    from drift.local.credential import LocalCredential

    return MySQLManagementClient(LocalCredential(claims), endpoints["subscription_id"],
                                 base_url=endpoints["arm_endpoint"], connection_verify=endpoints["ca_bundle"],
                                 polling_interval=0)


def _free_name(sdk: Any, group: str, name: str) -> str:
    from azure.core.exceptions import ResourceNotFoundError

    for n in range(1, 1000):
        candidate = name if n == 1 else f"{name}-{n}"
        try:
            sdk.servers.get(group, candidate)
        except ResourceNotFoundError:
            return candidate
    raise SeedError(f"every name like {name} is taken in {group}")


def seed(endpoints: dict[str, Any], settings: Settings, count: int, *, timeout: float,
         say: Callable[[str], None] = print) -> list[Seeded]:
    """Create `count` servers the secure way, wait until the detector has taken their baselines, then
    weaken them as PLANS says and wait until the history shows every weakening.

    The wait in between matters: a weakening written before the detector has read a new server would
    be part of the state it first sees, and so of its baseline (and the builder's), not a change by
    the person who made it. The last write of the first phase is a tag on the last server; the pump
    handles events in order, so once that tag is in its baseline, every server before it is too.
    """
    import uuid

    from azure.mgmt.mysqlflexibleservers import models

    from drift.local import writes

    subscription = endpoints["subscription_id"]
    clients = {key: _client(endpoints, claims) for key, claims in CALLERS.items()}
    weakenings = _weakenings()
    built = []
    for n in range(count):
        base, group = SERVERS[n % len(SERVERS)]
        name = _free_name(clients["platform"], group, base if n < len(SERVERS) else f"{base}-{n // len(SERVERS) + 1}")
        writes.create_compliant_server(clients["platform"], group, name, WORKSPACE.format(subscription=subscription))
        built.append(Seeded(writes.server_id(subscription, group, name), name, group, PLANS[n % len(PLANS)]))
        say(f"  built {name} ({group}) the secure way")
    token = uuid.uuid4().hex[:12]
    last = built[-1]
    clients["platform"].servers.begin_update(last.group, last.name, models.ServerForUpdate(
        tags={"example": "mysql-drift local seed", "seeded": token})).result()
    if not _tagged(settings, last.server_id, token, timeout=timeout):
        raise SeedError(f"the detector did not take the new servers' baselines within {timeout:.0f}s: "
                        "is `mysql-drift local up` running with this endpoints file?")
    for server in built:
        for setting in server.weakened:
            w = weakenings[setting]
            w.write(clients[w.caller], server.group, server.name)
        said = "; ".join(f"{CALLERS[weakenings[s].caller].get('name') or 'a deployment pipeline'} "
                         f"({CALLERS[weakenings[s].caller]['ipaddr']}) {weakenings[s].says}" for s in server.weakened)
        say(f"  {server.name} ({server.group}): {said or 'left as built (compliant)'}")
    return built


def _tagged(settings: Settings, server_id: str, token: str, *, timeout: float) -> bool:
    from drift.runtime import build_store

    store = build_store(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        baseline = store.load(server_id).baselines.get("server_tags")
        if baseline is not None and baseline.state.get("seeded") == token:
            return True
        time.sleep(0.3)
    return False


def wait_recorded(settings: Settings, seeded: list[Seeded], *, timeout: float) -> tuple[int, int]:
    """Wait until the history holds a weakened row for every weakening made; (recorded, expected)."""
    from drift.runtime import build_store

    store = build_store(settings)
    wanted = {(s.server_id, setting) for s in seeded for setting in s.weakened}
    found: set[tuple[str, str]] = set()
    deadline = time.monotonic() + timeout
    while True:
        for server_id in {sid for sid, _ in wanted - found}:
            found |= {(server_id, r.setting) for r in store.history(server_id=server_id) if r.verdict == "weakened"}
        found &= wanted
        if found == wanted or time.monotonic() >= deadline:
            return len(found), len(wanted)
        time.sleep(0.5)
