"""HTML built so that a value from outside cannot become markup.

Every page is made of `tag(...)` calls: text children and attribute values are escaped, only a
`Markup` (what `tag` itself returns) passes through as it is. Server names, tag values, callers,
rule names and reasons all come from people who may be hostile (`<script>`, `"onmouseover=`):
there is no way to put one on a page except through `escape`.

Values are also stripped of invisible format characters (bidi overrides and the like) that
would reorder what a reader sees, as the cards do (`notifiers.safe.visible`).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable
from urllib.parse import urlencode

from notifiers.safe import visible

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NAME = re.compile(r"[a-z][a-z0-9-]*")
# Attributes whose value is a URL: only https and our own paths survive (not `//host`, another site's).
_URL_ATTRIBUTES = {"href", "action", "src"}
_SAFE_URL = re.compile(r"(https://|/(?![/\\])|\?|#|\./)", re.IGNORECASE)
VOID = {"meta", "link", "input", "br", "hr", "img"}


class Markup(str):
    """HTML that `tag` made: inserted as it is."""


def escape(value: object) -> str:
    """Text for an HTML text node or a quoted attribute value (quotes escaped too)."""
    text = "" if value is None else str(value)
    if not text.isascii():  # format characters (bidi overrides, ...) are never ASCII
        text = visible(text)
    return html.escape(_CONTROL.sub("", text), quote=True)


@functools.cache
def _attribute(key: str) -> str:
    attr = key.rstrip("_").replace("_", "-")
    if not _NAME.fullmatch(attr) or attr.startswith("on") or attr == "style":
        raise ValueError(f"attribute {attr!r} is not allowed (no inline script or style)")
    return attr


@functools.cache
def _tag_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a tag name: {name!r}")
    return name


def _children(children: Iterable[object]) -> str:
    out = []
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, Markup):
            out.append(child)
        elif isinstance(child, (list, tuple)):
            out.append(_children(child))
        else:
            out.append(escape(child))
    return "".join(out)


def tag(name: str, attrs: dict[str, object] | None = None, *children: object) -> Markup:
    """`<name attr="...">children</name>`; attribute names must be plain, values are escaped.

    An attribute whose value is None or False is left out, True writes it bare (`disabled`).
    A URL attribute must be https, a path of ours or a fragment: `javascript:` cannot get through.
    """
    parts = [_tag_name(name)]
    for key, value in (attrs or {}).items():
        attr = _attribute(key)
        if value is None or value is False:
            continue
        if value is True:
            parts.append(attr)
            continue
        text = str(value)
        if attr in _URL_ATTRIBUTES and not _SAFE_URL.match(text):
            raise ValueError(f"{attr} must be https://, a path or a fragment, not {text[:40]!r}")
        parts.append(f'{attr}="{escape(text)}"')
    opening = f"<{' '.join(parts)}>"
    if name in VOID:
        return Markup(opening)
    return Markup(f"{opening}{_children(children)}</{name}>")


def join(items: Iterable[object]) -> Markup:
    return Markup(_children(list(items)))


def query(base: str, **params: object) -> str:
    """`base?k=v&...` with empty parameters left out (values URL-encoded; `tag` escapes the rest)."""
    kept = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return f"{base}?{urlencode(kept, safe='/')}" if kept else base
