"""The stand-in's unauthenticated admin surface under ``/_standin/...`` for out-of-process tests.

Events (long poll), faults, latency, the emit switch, event variation, long-running operations' mode,
statistics, reset and health: each a thin JSON wrapper around a method of `ArmStandIn`.
"""

from __future__ import annotations

from typing import Any

from drift.local.variation import EventVariation


class AdminSurface:
    """The ``/_standin/...`` routes of `ArmStandIn` (the methods use its controls)."""

    def _admin(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        route = (method, path.rstrip("/").lower())
        payload = body if isinstance(body, dict) else {}
        if route == ("GET", "/_standin/events"):
            wait = min(float(query.get("wait") or 0), 60.0)
            return 200, self.wait_events(wait) if wait > 0 else self.drain_events()
        if route == ("POST", "/_standin/faults"):
            self.add_fault(
                status=int(payload["status"]),
                times=int(payload.get("times", 1)),
                retry_after=payload.get("retry_after"),
                method=payload.get("method"),
                path_contains=payload.get("path_contains"),
            )
            return 200, {"ok": True}
        if route == ("DELETE", "/_standin/faults"):
            self.clear_faults()
            return 200, {"ok": True}
        if route == ("POST", "/_standin/latency"):
            self.latency = max(0.0, float(payload.get("seconds", 0)))
            return 200, {"ok": True, "seconds": self.latency}
        if route == ("POST", "/_standin/emit"):
            self.emit_events = bool(payload.get("enabled", True))
            return 200, {"ok": True, "enabled": self.emit_events}
        if route == ("POST", "/_standin/event-variation"):
            self.event_variation = EventVariation.from_json(payload)
            return 200, {"ok": True, **self.event_variation.to_json()}
        if route == ("POST", "/_standin/lro"):
            self.lro.enabled = bool(payload.get("enabled", True))
            self.lro.polls = max(0, int(payload.get("polls", 0)))
            return 200, {"ok": True, "enabled": self.lro.enabled, "polls": self.lro.polls}
        if route == ("GET", "/_standin/stats"):
            return 200, self.stats.to_json()
        if route == ("POST", "/_standin/stats/reset"):
            self.reset_stats()
            return 200, {"ok": True}
        if route == ("POST", "/_standin/reset"):
            self.reset()
            return 200, {"ok": True}
        if route == ("GET", "/_standin/health"):
            return 200, {"ok": True, "url": self.url}
        return 404, {"error": {"code": "NotFound", "message": f"No admin route {method} {path}"}}
