"""Objects built on first use, so that an event the detector ignores never imports an SDK.

A cold Function instance often handles nothing but irrelevant events. Building the table
client, the credential or the notifiers' HTTP pipelines at start-up would import azure-identity
(with msal and requests), azure-data-tables and azure-core's transport for nothing; a `Deferred`
stands in for such an object and builds it the first time anything is asked of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")

_OWN = frozenset({"_build", "_value", "_lock"})


class Deferred(Generic[T]):
    """A proxy that calls `build()` once, on the first attribute read or write, and forwards to its result."""

    def __init__(self, build: Callable[[], T]) -> None:
        object.__setattr__(self, "_build", build)
        object.__setattr__(self, "_value", None)
        object.__setattr__(self, "_lock", threading.Lock())

    @property
    def built(self) -> bool:
        return object.__getattribute__(self, "_value") is not None

    def _get(self) -> T:
        value = object.__getattribute__(self, "_value")
        if value is None:
            with object.__getattribute__(self, "_lock"):
                value = object.__getattribute__(self, "_value")
                if value is None:
                    value = object.__getattribute__(self, "_build")()
                    object.__setattr__(self, "_value", value)
        return cast(T, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN:
            raise AttributeError(name)
        setattr(self._get(), name, value)

    def __repr__(self) -> str:
        value = object.__getattribute__(self, "_value")
        return f"Deferred({value!r})" if value is not None else "Deferred(<not built yet>)"


def deferred(build: Callable[[], T]) -> T:
    """`build`'s result, built when first used; typed as the result so callers need no cast."""
    return cast(T, Deferred(build))
