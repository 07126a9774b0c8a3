"""The stand-in's Microsoft Defender for Cloud plans: `Microsoft.Security/pricings` at a subscription.

Served at `/subscriptions/{sub}/providers/Microsoft.Security/pricings[/{name}]` (api-version
2024-01-01 shape: `properties.pricingTier` Free or Standard, `freeTrialRemainingTime`, and
`enablementTime` once Standard). Every plan starts Free, as on a new subscription. A successful
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
    return _plans(standin).get((subscription_id.lower(), plan.lower()),
                               {"pricingTier": "Free", "freeTrialRemainingTime": "P30D"})


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
    chosen = next((t for t in TIERS if isinstance(tier, str) and t.lower() == tier.lower()), None)
    if chosen is None:
        raise error(400, "InvalidPricingTier", f"pricingTier must be one of {', '.join(TIERS)}, got {tier!r}.")
    properties: dict[str, Any] = {"pricingTier": chosen, "freeTrialRemainingTime": "PT0S"}
    if chosen == "Standard":
        previous = _properties(standin, sub, plan)
        properties["enablementTime"] = previous.get("enablementTime") or datetime.now(UTC).isoformat()
    _plans(standin)[(sub.lower(), plan.lower())] = properties
    standin._emit(request, _Target(sub), f"{PRICING_TYPE}/write", "Write", PROVIDER)
    return 200, _body(sub, plan, properties)
