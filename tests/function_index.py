"""The Function app's functions as the host indexes them: `get_functions()` may run once per process."""

from __future__ import annotations

from typing import Any

_FUNCTIONS: list[Any] = []


def functions() -> list[Any]:
    import function_app

    if not _FUNCTIONS:
        _FUNCTIONS.extend(function_app.app.get_functions())
    return _FUNCTIONS
