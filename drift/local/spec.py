"""The official REST specs as a contract: which operation a request is, and whether its bodies fit.

The specs are Swagger 2.0 files copied verbatim from Azure/azure-rest-api-specs into
``shared/fixtures/specs/``; their relative ``$ref``s are resolved offline through the mapping table
in ``shared/fixtures/SOURCES.md``; specs the shared folder lacks (the Defender pricings) come from more
folders, each with its own ``SOURCES.md`` (the clone's ``tests/specs/``). Each Swagger schema is turned
into a JSON Schema (draft 2020-12) and checked with ``jsonschema``. Two choices make the check strict on purpose:

* **Closed objects.** An object whose definition lists ``properties`` (through ``allOf`` too) and
  says nothing of ``additionalProperties`` refuses any other field, so the stand-in cannot teach
  the readers a field Azure never sends. ``allOf`` is flattened first, so a child definition
  inherits its parents' properties (``Resource``'s ``id``, ``name``, ...).
* **Enums as listed.** ``x-ms-enum.modelAsString`` lets Azure add values later; the stand-in has
  no reason to invent one, so only the listed values pass.

Long-running operations are described by the spec too (:meth:`Operation.long_running`); the
polling URL of ``Azure-AsyncOperation`` has no path in the MySQL spec (its examples use
``.../locations/{l}/azureAsyncOperation/{id}``), so it is checked against the common
``OperationStatusResult`` (see :data:`ASYNC_OPERATION_PATH`).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drift.local.lro import FACTS_FILE, template_regex

JsonDict = dict[str, Any]

_KEEP = ("type", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern", "minItems", "maxItems",
         "uniqueItems", "multipleOf")
ASYNC_OPERATION_PATH = ("/subscriptions/{subscriptionId}/providers/Microsoft.DBforMySQL/locations/{locationName}"
                        "/azureAsyncOperation/{operationId}")
_STATUS_RESULT = ("common-types-resource-management-v5-types.json", "OperationStatusResult")


def read_ref_mapping(sources_md: Path) -> dict[tuple[str, str], str]:
    """``(file containing the $ref, file part as written) -> local file`` from SOURCES.md's mapping table."""
    mapping: dict[tuple[str, str], str] = {}
    for line in sources_md.read_text(encoding="utf-8").splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].endswith(".json") and cells[1].endswith(".json") and cells[3].endswith(".json"):
            mapping[(cells[0], cells[1])] = cells[3]
    return mapping


@dataclass(frozen=True)
class Operation:
    """One operation of a spec: ``(method, path template)`` and what it declares."""

    book: SpecBook
    file: str
    method: str
    template: str
    raw: JsonDict = field(repr=False)

    @property
    def operation_id(self) -> str:
        return str(self.raw.get("operationId") or f"{self.method} {self.template}")

    @property
    def long_running(self) -> bool:
        return bool(self.raw.get("x-ms-long-running-operation"))

    @property
    def final_state_via(self) -> str:
        return str((self.raw.get("x-ms-long-running-operation-options") or {}).get("final-state-via") or "")

    @property
    def final_state_schema(self) -> tuple[str, str] | None:
        """(file, definition) of the final result, from the options or the 200 response."""
        ref = (self.raw.get("x-ms-long-running-operation-options") or {}).get("final-state-schema")
        if not ref:
            schema = (self.raw["responses"].get("200") or {}).get("schema")
            ref = (schema or {}).get("$ref")
        return self.book.split_ref(self.file, ref) if ref else None

    def statuses(self) -> set[int]:
        return {int(s) for s in self.raw["responses"] if s.isdigit()}

    def response_headers(self, status: int) -> set[str]:
        return set((self.raw["responses"].get(str(status)) or {}).get("headers") or {})

    def parameters(self) -> list[tuple[str, JsonDict]]:
        """Every parameter as (file it is defined in, definition), path-level ones included."""
        found = []
        path_level = self.book.documents[self.file]["paths"][self.template].get("parameters") or []
        for param in [*path_level, *(self.raw.get("parameters") or [])]:
            found.append(self.book.follow(self.file, param))
        return found

    def response_errors(self, status: int, body: Any) -> list[str]:
        """What is wrong with a response of ``status`` carrying ``body`` (None: no body)."""
        response = self.raw["responses"].get(str(status))
        if response is None:
            if 200 <= status < 300:
                return [f"status {status} is not one {self.operation_id} answers ({sorted(self.statuses())})"]
            response = self.raw["responses"].get("default") or {}
        schema = response.get("schema")
        if schema is None:
            return [] if body in (None, b"", "") else [f"{status} of {self.operation_id} has no body in the spec"]
        return self.book.errors(self.file, schema, body, f"{self.operation_id} {status}")

    def request_errors(self, body: Any) -> list[str]:
        for where, param in self.parameters():
            if param.get("in") == "body":
                if body is None:
                    return [f"{self.operation_id} needs a body"] if param.get("required") else []
                return self.book.errors(where, param["schema"], body, f"{self.operation_id} request")
        return [] if body is None else [f"{self.operation_id} takes no body"]

    def path_errors(self, values: dict[str, str]) -> list[tuple[str, str]]:
        """``(parameter, message)`` for each path value outside the spec's pattern or length."""
        bad = []
        for _where, param in self.parameters():
            name = param.get("name", "")
            if param.get("in") != "path" or name not in values:
                continue
            value = values[name]
            pattern, low, high = param.get("pattern"), param.get("minLength"), param.get("maxLength")
            if ((pattern and not re.search(pattern, value)) or (low is not None and len(value) < low)
                    or (high is not None and len(value) > high)):
                bad.append((name, f"'{value}' does not match {pattern or ''} (length {low}-{high})"))
        return bad


class SpecBook:
    """Every spec file of a ``specs/`` folder, with its operations indexed by api-version."""

    def __init__(self, specs_dir: Path, sources_md: Path | None = None, also: Iterable[Path] = ()) -> None:
        """``also``: more folders of specs, each with the ``$ref`` mapping table in its own ``SOURCES.md``."""
        self.specs_dir = specs_dir
        self.documents: dict[str, JsonDict] = {}
        self.mapping: dict[tuple[str, str], str] = {}
        for folder, sources in [(specs_dir, sources_md or specs_dir.parent / "SOURCES.md"),
                                *((extra, extra / "SOURCES.md") for extra in also)]:
            self.documents.update({p.name: json.loads(p.read_text(encoding="utf-8"))
                                   for p in sorted(folder.glob("*.json"))})
            self.mapping.update(read_ref_mapping(sources))
        self._defs: dict[str, JsonDict] = {}
        self._validators: dict[str, Any] = {}
        self._routes: dict[str, list[tuple[re.Pattern[str], list[str], str, str]]] = {}
        for name, doc in self.documents.items():
            version = str((doc.get("info") or {}).get("version") or "")
            for template in doc.get("paths") or {}:
                regex, names = template_regex(template)
                self._routes.setdefault(version, []).append((regex, names, name, template))
        for routes in self._routes.values():  # literal-rich templates first: `{resourceUri}` matches anything
            routes.sort(key=lambda r: -len(r[3].replace("{resourceUri}", "")))

    # ---- operations -------------------------------------------------------------------

    def find(self, method: str, path: str, api_version: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation a request is, and its path values; None when the spec has no such path."""
        for regex, names, file, template in self._routes.get(api_version, []):
            match = regex.fullmatch(path)
            if match is None:
                continue
            raw = self.documents[file]["paths"][template].get(method.lower())
            if raw is None:
                continue
            return Operation(self, file, method.upper(), template, raw), dict(zip(names, match.groups(), strict=True))
        return None

    def operations(self) -> Iterable[Operation]:
        for file, doc in self.documents.items():
            for template, item in (doc.get("paths") or {}).items():
                for method, raw in item.items():
                    if method != "parameters":
                        yield Operation(self, file, method.upper(), template, raw)

    # ---- $ref resolution --------------------------------------------------------------

    def split_ref(self, file: str, ref: str) -> tuple[str, str]:
        """``(local file, definition name)`` of a ``$ref`` written in ``file``."""
        file_part, _, fragment = ref.partition("#")
        target = file
        if file_part:
            target = self.mapping.get((file, file_part)) or ""
            if target not in self.documents:
                raise KeyError(f"$ref {file_part!r} in {file} is not in the SOURCES.md mapping")
        return target, fragment.rsplit("/", 1)[-1]

    def follow(self, file: str, node: JsonDict) -> tuple[str, JsonDict]:
        """Follow ``$ref``s (to definitions or parameters) until a node without one."""
        while "$ref" in node:
            file_part, _, fragment = node["$ref"].partition("#")
            target, _ = self.split_ref(file, node["$ref"]) if file_part else (file, "")
            node = self.documents[target]
            for part in fragment.strip("/").split("/"):
                node = node[part]
            file = target
        return file, node

    # ---- validation -------------------------------------------------------------------

    def definition_errors(self, file: str, definition: str, instance: Any, what: str) -> list[str]:
        return self.errors(file, {"$ref": f"#/definitions/{definition}"}, instance, what)

    def errors(self, file: str, schema: JsonDict, instance: Any, what: str) -> list[str]:
        from jsonschema import Draft202012Validator

        converted = self._convert(file, schema)
        key = json.dumps(converted, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            validator = Draft202012Validator({**converted, "$defs": self._defs})
            self._validators[key] = validator
        found = []
        for error in validator.iter_errors(instance):
            where = "/".join(str(p) for p in error.absolute_path) or "(body)"
            found.append(f"{what}: {where}: {error.message[:300]}")
        return found

    def _convert(self, file: str, node: JsonDict) -> JsonDict:
        """A Swagger schema as JSON Schema; definitions land in ``$defs`` once, by file and name."""
        if "$ref" in node:
            target, name = self.split_ref(file, node["$ref"])
            key = f"{target.removesuffix('.json')}.{name}"
            if key not in self._defs:
                self._defs[key] = {}  # a placeholder stops recursion through self-referencing types
                self._defs[key] = self._convert(target, self.documents[target]["definitions"][name])
                self._validators.clear()
            return {"$ref": f"#/$defs/{key}"}
        properties, required, additional = self._flatten(file, node)
        out: JsonDict = {k: copy.deepcopy(node[k]) for k in _KEEP if k in node}
        if node.get("type") == "file":
            return {}
        if node.get("x-nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        if "items" in node:
            out["items"] = self._convert(file, node["items"])
        if properties or additional is not None or node.get("type") == "object":
            out["type"] = "object"
            if properties:
                out["properties"] = {name: self._convert(f, s) for name, (f, s) in properties.items()}
            if required:
                out["required"] = sorted(required)
            if additional is not None:
                where, schema = additional
                out["additionalProperties"] = schema if isinstance(schema, bool) else self._convert(where, schema)
            elif properties and "discriminator" not in node:
                out["additionalProperties"] = False
        return out

    def _flatten(self, file: str, node: JsonDict) -> tuple[dict[str, tuple[str, JsonDict]], set[str],
                                                             tuple[str, Any] | None]:
        properties: dict[str, tuple[str, JsonDict]] = {}
        required: set[str] = set()
        additional: tuple[str, Any] | None = None
        for parent in node.get("allOf") or []:
            where, resolved = self.follow(file, parent)
            p, r, a = self._flatten(where, resolved)
            properties.update(p)
            required |= r
            additional = a or additional
        for name, schema in (node.get("properties") or {}).items():
            properties[name] = (file, schema)
        required |= set(node.get("required") or [])
        if "additionalProperties" in node:
            value = node["additionalProperties"]
            additional = (file, True if value == {} else value)
        return properties, required, additional

    def status_monitor_errors(self, body: Any, what: str) -> list[str]:
        """Errors of an ``Azure-AsyncOperation`` status body (the common ``OperationStatusResult``)."""
        return self.definition_errors(*_STATUS_RESULT, body, what)


def find_specs(fixtures: Path | None, also: Iterable[Path] = ()) -> SpecBook | None:
    """The spec book of a fixtures folder (and of the folders ``also`` names), or None when there is none."""
    if fixtures is None or not (fixtures / "specs").is_dir():
        return None
    return SpecBook(fixtures / "specs", fixtures / "SOURCES.md", also)




# ---- what the stand-in needs at run time, without the fixtures ---------------------------

def operation_facts(book: SpecBook) -> list[JsonDict]:
    """The spec's word on each operation, as the stand-in needs it: long-running options, statuses,
    response headers, path patterns. Written to ``spec_facts.json``; a test keeps it equal to the spec."""
    facts = []
    for op in book.operations():
        version = str(book.documents[op.file]["info"]["version"])
        patterns = {}
        for _where, param in op.parameters():
            if param.get("in") == "path" and param.get("pattern") and param["name"] not in ("subscriptionId",):
                patterns[param["name"]] = {k: param[k] for k in ("pattern", "minLength", "maxLength") if k in param}
        entry: JsonDict = {"operationId": op.operation_id, "method": op.method, "path": op.template,
                           "apiVersion": version, "statuses": sorted(op.statuses())}
        if op.long_running:
            entry["longRunning"] = {
                "finalStateVia": op.final_state_via,
                "headers": {str(s): sorted(h for h in op.response_headers(s) if h != "Retry-After")
                            for s in sorted(op.statuses()) if op.response_headers(s)}}
        if "x-ms-pageable" in op.raw:
            entry["pageable"] = True
        if patterns:
            entry["pathPatterns"] = patterns
        facts.append(entry)
    return sorted(facts, key=lambda f: (f["apiVersion"], f["path"], f["method"]))


def main(argv: list[str] | None = None) -> int:
    """``python -m drift.local.spec FIXTURES --also tests/specs``: rewrite spec_facts.json from the official specs."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("fixtures", type=Path)
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="another folder of specs with its own SOURCES.md (the clone's tests/specs)")
    args = parser.parse_args(argv)
    book = find_specs(args.fixtures, args.also)
    if book is None:
        raise SystemExit(f"no specs/ under {args.fixtures}")
    FACTS_FILE.write_text(json.dumps(operation_facts(book), indent=1) + "\n", encoding="utf-8")
    return 0


__all__ = ["ASYNC_OPERATION_PATH", "FACTS_FILE", "Operation", "SpecBook", "find_specs", "operation_facts",
           "read_ref_mapping"]

if __name__ == "__main__":
    raise SystemExit(main())
