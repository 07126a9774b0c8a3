"""Large values in Table Storage: a string property holds 64 KiB, an entity 1 MiB.

A server at Azure's own maxima (50 tags with 512-character names and 256-character values, or
hundreds of firewall rules with 128-character names) has a state whose JSON passes 64 KiB, and
so can the history row and the alert that describe it. Such a value is stored zlib-compressed
in binary properties of up to 60,000 bytes (`state__z0`, `state__z1`, ... with the count in
`state__zn`) and joined again on read, so every row keeps its whole value. Short values stay
plain strings, readable in Storage Explorer.
"""

from __future__ import annotations

import zlib
from typing import Any

PLAIN_LIMIT = 16_000  # code points: at most 32,000 UTF-16 units, inside the 64 KiB property limit
CHUNK = 60_000  # bytes per binary property (limit 64 KiB)
ENTITY_BUDGET = 960_000  # bytes of packed values one entity may carry (limit 1 MiB with keys and the rest)
SUFFIX = "__z"


class EntityTooLarge(ValueError):
    """A value too large for one entity even compressed: a deterministic failure, never retried."""


def pack(entity: dict[str, Any]) -> dict[str, Any]:
    """`entity` with every string too long for one property split into compressed binary chunks."""
    out: dict[str, Any] = {}
    budget = ENTITY_BUDGET
    for name, value in entity.items():
        if not isinstance(value, str) or len(value) <= PLAIN_LIMIT:
            out[name] = value
            continue
        data = zlib.compress(value.encode("utf-8"), 6)
        budget -= len(data)
        if budget < 0:
            raise EntityTooLarge(f"{name} is {len(value):,} characters ({len(data):,} bytes compressed): "
                                 "more than one table entity holds")
        chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]
        out.update({f"{name}{SUFFIX}{i}": chunk for i, chunk in enumerate(chunks)})
        out[f"{name}{SUFFIX}n"] = len(chunks)
    return out


def unpack(entity: dict[str, Any]) -> dict[str, Any]:
    """The entity as it was before `pack` (other properties untouched)."""
    counts = {k[:-len(SUFFIX) - 1]: int(v) for k, v in entity.items() if k.endswith(f"{SUFFIX}n")}
    if not counts:
        return dict(entity)
    out = {k: v for k, v in entity.items() if SUFFIX not in k}
    for name, count in counts.items():
        data = b"".join(bytes(entity[f"{name}{SUFFIX}{i}"]) for i in range(count))
        out[name] = zlib.decompress(data).decode("utf-8")
    return out
