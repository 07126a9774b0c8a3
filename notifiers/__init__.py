"""Where alerts go. Each notifier sends one `Alert`; a failure raises NotifierError."""

from __future__ import annotations

from typing import Protocol

from drift.model import Alert


class NotifierError(Exception):
    """The alert was not delivered. The message never contains the target's URL or a secret."""


class Notifier(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...
