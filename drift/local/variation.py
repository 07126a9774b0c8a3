"""What Azure varies in the Event Grid events it delivers, switchable so that tests stay deterministic.

Everything is off by default. When on, the stand-in behaves as Event Grid and ARM may:

* ``omit_http_request_on_create``: no ``data.httpRequest`` on the event of a write that created the
  resource (``/work/shared/notes/azure-facts.md``: "httpRequest ... (absent on create)");
* ``duplicate_every``: every n-th event is delivered twice, with the same ``id`` (at-least-once);
* ``delay``: seconds before an event can be taken (events then arrive after the write's answer).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]


@dataclass
class EventVariation:
    omit_http_request_on_create: bool = False
    duplicate_every: int = 0
    delay: float = 0.0

    def deliveries(self, event: JsonDict, *, created: bool, sequence: int) -> list[JsonDict]:
        """The copies of ``event`` Event Grid delivers (``sequence`` counts events from 1)."""
        if created and self.omit_http_request_on_create:
            event = copy.deepcopy(event)
            event["data"].pop("httpRequest", None)
        copies = [event]
        if self.duplicate_every > 0 and sequence % self.duplicate_every == 0:
            copies.append(copy.deepcopy(event))
        return copies

    @classmethod
    def from_json(cls, body: JsonDict) -> EventVariation:
        return cls(bool(body.get("omit_http_request_on_create", False)), int(body.get("duplicate_every", 0)),
                   max(0.0, float(body.get("delay", 0.0))))

    def to_json(self) -> JsonDict:
        return {"omit_http_request_on_create": self.omit_http_request_on_create,
                "duplicate_every": self.duplicate_every, "delay": self.delay}


__all__ = ["EventVariation"]
