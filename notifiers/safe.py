"""Values from outside (rule names, claims, parameter values) made safe to show.

A firewall rule can be named `[Approve](https://evil.example)` or `<at>CEO</at>`: in an Adaptive
Card's markdown that is a link or a mention, in a mail's HTML it is markup. Cards get markdown
escaped, line breaks flattened (no forged lists or headings) and URLs defanged (`https[:]//`)
so nothing from outside is clickable; mail gets HTML-escaped. Long values are cut with a marker
so that a 64 KiB "rule name" cannot break the card.
"""

from __future__ import annotations

import html
import re
import time
import unicodedata
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

MAX_VALUE = 300
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Characters that open markup anywhere: emphasis, code, links, HTML/mentions, templating, tables.
_MARKDOWN = re.compile(r"([\\`*\[\]<>{}|~])")
# `_` only opens emphasis at a word boundary (aad_auth_only stays as it is).
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# At the start of a line: headings, lists, quotes.
_LINE_START = re.compile(r"^([#>+\-])(?=\s|$)")
_NUMBERED = re.compile(r"^(\d+)([.)])(?=\s|$)")
_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]{1,20})://")


def visible(text: str) -> str:
    """`text` without invisible format characters (Unicode category Cf: bidi controls such as U+061C and
    U+202E, U+FEFF, U+2060, U+00AD, zero-width joiners): they hide or reorder what a reader sees."""
    return "".join(ch for ch in text if ch < "\xad" or unicodedata.category(ch) != "Cf")


def clip(value: object, limit: int = MAX_VALUE) -> str:
    text = visible(_CONTROL.sub("", "" if value is None else str(value)))
    text = " ".join(text.split())  # newlines and tabs flattened: no forged list items or headings
    if len(text) > limit:
        text = f"{text[:limit]}… [cut, {len(text) - limit} more characters]"
    return text


def markdown(value: object, limit: int = MAX_VALUE) -> str:
    """Literal text for an Adaptive Card TextBlock or Fact: no markup, link or mention survives."""
    text = _MARKDOWN.sub(r"\\\1", _URL.sub(r"\1[:]//", clip(value, limit)))
    text = _UNDERSCORE.sub(r"\\_", text)
    return _NUMBERED.sub(r"\1\\\2", _LINE_START.sub(r"\\\1", text))


def html_text(value: object, limit: int = MAX_VALUE) -> str:
    """Literal text for an HTML mail body."""
    return html.escape(_URL.sub(r"\1[:]//", clip(value, limit)), quote=True)


class DeliveryError(Exception):
    """Raised by a `send` callable; `retry_after` (seconds) when the target asked for a pause."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def retry_after_seconds(header: str | None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(header).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def with_retries(send: Callable[[], Any], *, attempts: int = 4, base_delay: float = 0.5, max_wait: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep) -> Any:
    """Call `send` until it succeeds, backing off on retryable failures and honouring `Retry-After`.

    The total wait stays under `max_wait`: Event Grid gives an invocation 30 s, and an alert that
    is still failing is better left pending for Event Grid's retry and the sweep.
    """
    waited = 0.0
    for attempt in range(1, attempts + 1):
        try:
            return send()
        except DeliveryError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            delay = exc.retry_after if exc.retry_after is not None else base_delay * 2 ** (attempt - 1)
            if waited + delay > max_wait:
                raise
            sleep(delay)
            waited += delay
    raise AssertionError("unreachable")
