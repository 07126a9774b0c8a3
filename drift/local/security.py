"""The stand-in's Microsoft Defender for Cloud plans: `Microsoft.Security/pricings` at a subscription.

Served at `/subscriptions/{sub}/providers/Microsoft.Security/pricings[/{name}]` as the official
spec of api-version 2024-01-01 says (`tests/specs/security-pricings-2024-01-01.json`, checked by the
session's contract): `properties.pricingTier` is `Free` or `Standard`, the only values the spec lists
(it says `modelAsString`, so Azure may take other spellings; the detector reads any casing), and the
read-only fields come as in the official examples (`tests/specs/examples/`): `freeTrialRemainingTime`,
`enforce` (subscription level), `resourcesCoverageStatus`, and `enablementTime` once Standard. Every
plan starts Free, as `ListPricings_example.json` shows OpenSourceRelationalDatabases. A successful
PUT emits the subscription-level event Azure sends through the same system topic, with the
plan's id as its subject. `drift.local.arm` hands over the paths it does not serve itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

PROVIDER = "Microsoft.Security"
PRICING_TYPE = "Microsoft.Security/pricings"
PLANS = ("OpenSourceRelationalDatabases", "SqlServers", "SqlServerVirtualMachines", "StorageAccounts",
         "VirtualMachines", "KeyVaults", "Arm", "Containers", "CosmosDbs", "AppServices", "Api", "CloudPosture")
TIERS = ("Free", "Standard")
FREE = {"pricingTier": "Free", "freeTrialRemainingTime": "PT0S", "enforce": "False",
        "resourcesCoverageStatus": "NotCovered"}

# Per stand-in: {(subscription, plan) lower-cased: properties}
_STATE: WeakKeyDictionary[Any, dict[tuple[str, str], dict[str, Any]]] = WeakKeyDictionary()


@dataclass(frozen=True)
class _Target:
    """What the stand-in's event emitter needs to know of a route: the subscription and the subject's depth."""

    subscription_id: str
    depth: int = 6


def _plans(standin: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return _STATE.setdefault(standin, {})


def forget(standin: Any) -> None:
    """Back to a new subscription's plans (the stand-in's reset)."""
    _plans(standin).clear()


def _body(subscription_id: str, plan: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"/subscriptions/{subscription_id}/providers/{PRICING_TYPE}/{plan}", "name": plan,
            "type": PRICING_TYPE, "properties": dict(properties)}


def _properties(standin: Any, subscription_id: str, plan: str) -> dict[str, Any]:
    return _plans(standin).get((subscription_id.lower(), plan.lower()), FREE)


def _timestamp() -> str:
    """Now, written as the examples write `enablementTime` (`2023-03-01T12:42:42.1921106Z`)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def handle(standin: Any, request: Any, error: type[Exception]) -> tuple[int, Any] | None:
    """The answer for a pricings request, or None when the path is not one (caller holds the lock)."""
    low = [s.lower() for s in request.segments]
    if len(low) not in (5, 6) or low[0] != "subscriptions" or low[2:5] != ["providers", "microsoft.security",
                                                                              "pricings"]:
        return None
    sub = request.segments[1]
    if len(low) == 5:
        if request.method != "GET":
            raise error(405, "MethodNotAllowed", f"{request.method} is not supported on pricings.")
        return 200, {"value": [_body(sub, p, _properties(standin, sub, p)) for p in PLANS]}
    plan = next((p for p in PLANS if p.lower() == low[5]), None)
    if plan is None:
        raise error(404, "PricingNotFound", f"Pricing '{request.segments[5]}' was not found.")
    if request.method == "GET":
        return 200, _body(sub, plan, _properties(standin, sub, plan))
    if request.method != "PUT":
        raise error(405, "MethodNotAllowed", f"{request.method} is not supported on a pricing.")
    tier = ((request.body or {}).get("properties") or {}).get("pricingTier") if isinstance(request.body, dict) \
        else None
    if tier not in TIERS:
        raise error(400, "InvalidPricingTier", f"pricingTier must be one of {', '.join(TIERS)}, got {tier!r}.")
    properties = dict(FREE)
    if tier == "Standard":
        previous = _properties(standin, sub, plan)
        properties.update(pricingTier=tier, resourcesCoverageStatus="FullyCovered",
                          enablementTime=previous.get("enablementTime") or _timestamp())
    _plans(standin)[(sub.lower(), plan.lower())] = properties
    standin._emit(request, _Target(sub), f"{PRICING_TYPE}/write", "Write", PROVIDER)
    return 200, _body(sub, plan, properties)
