"""The official Bicep type definitions, and where a template's literal values break them.

Bicep cannot be compiled here. What the compiler would check about a resource body (unknown and
read-only properties, missing required ones, wrong kinds, values outside an enum) is checked against
the same definitions it uses: the `types.json` files of Azure/bicep-types-az, one per (namespace, API
version). They are found in the clone's own copies first (`tests/bicep-types/<Namespace>/<api>/types.json`,
provenance in `tests/bicep-types/SOURCES.md`, pinned in `tests/fixtures.sha256`), then in the official
fixtures (`shared/fixtures/bicep-types/`).

Two serializations exist: the current one (`{"$type": "ObjectType", ...}`, references `{"$ref": "#/N"}`)
and an older one (`{"2": {"Name": ..., "Properties": {...}}}`, kinds and references by number), in which
some of the shared copies are. `normalize` turns the older into the current, so one checker reads both.

Values are pycep syntax trees, in which an identifier and a string literal are both plain strings:
a string that names a symbol of the file (parameter, variable, resource, module, loop item) counts as
an expression, typed only at deployment time, and so does any function call, operator or interpolation.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

OWN = Path(__file__).resolve().parent / "bicep-types"

REQUIRED, READ_ONLY = 1, 2
# Keys of a resource body that are Bicep's, not the resource type's.
BICEP_KEYS = frozenset({"parent", "scope", "dependsOn"})

# The older serialization: type kinds by number (Azure/bicep-types, TypeBaseKind).
OLD_KINDS = {1: "BuiltInType", 2: "ObjectType", 3: "ArrayType", 4: "ResourceType", 5: "UnionType",
             6: "StringLiteralType", 7: "DiscriminatedObjectType", 8: "ResourceFunctionType", 9: "AnyType",
             10: "NullType", 11: "BooleanType", 12: "IntegerType", 13: "StringType"}
OLD_BUILT_IN = {1: "AnyType", 2: "NullType", 3: "BooleanType", 4: "IntegerType", 5: "StringType",
                6: "AnyType", 7: "AnyType", 8: "AnyType"}  # object, array and resource ref: unchecked
# Keys whose value is a type index in the older serialization.
OLD_REFERENCES = {"Body", "ItemType", "AdditionalProperties", "Type"}


def ref(index: int) -> dict[str, str]:
    return {"$ref": f"#/{index}"}


def _camel(key: str) -> str:
    return key[:1].lower() + key[1:]


def _convert(value: Any, key: str = "") -> Any:
    if key in OLD_REFERENCES and isinstance(value, int):
        return ref(value)
    if key == "Elements" and isinstance(value, list):
        return [ref(i) for i in value]
    if key == "Elements" and isinstance(value, dict):
        return {name: ref(i) for name, i in value.items()}
    if key in ("Properties", "BaseProperties") and isinstance(value, dict):
        return {name: _convert(spec) for name, spec in value.items()}  # property names keep their case
    if isinstance(value, dict):
        return {_camel(k): _convert(v, k) for k, v in value.items()}
    return value


def normalize(types: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The current serialization of a types.json in either serialization."""
    result = []
    for entry in types:
        if "$type" in entry:
            result.append(entry)
            continue
        [(number, content)] = entry.items()
        kind = OLD_KINDS[int(number)]
        if kind == "BuiltInType":
            result.append({"$type": OLD_BUILT_IN[content["Kind"]]})
            continue
        result.append({"$type": kind, **_convert(content)})
    return result


def types_path(namespace: str, api_version: str) -> Path:
    """Where the definitions of (namespace, API version) are: the clone's own copy, else the fixture."""
    own = OWN / namespace / api_version / "types.json"
    if own.exists():
        return own
    from tests.conftest import need_fixtures

    return need_fixtures("bicep-types", namespace, api_version, "types.json")


@cache
def bicep_types(namespace: str, api_version: str) -> list[dict[str, Any]]:
    import json

    loaded: list[dict[str, Any]] = json.loads(types_path(namespace, api_version).read_text(encoding="utf-8"))
    return normalize(loaded)


def available(namespace: str, api_version: str) -> bool:
    from tests.conftest import FIXTURES

    relative = Path(namespace, api_version, "types.json")
    return (OWN / relative).exists() or (FIXTURES / "bicep-types" / relative).exists()


def target(types: list[dict[str, Any]], reference: dict[str, str]) -> dict[str, Any]:
    return types[int(reference["$ref"].rsplit("/", 1)[1])]


def resource_body(types: list[dict[str, Any]], resource_type: str, api_version: str) -> dict[str, str]:
    """The reference of a resource type's body (the ResourceType entry of `type@apiVersion`)."""
    name = f"{resource_type}@{api_version}"
    found = [t for t in types if t["$type"] == "ResourceType" and t["name"].lower() == name.lower()]
    assert found, f"{name} is not in the Bicep type definitions"
    body: dict[str, str] = found[0]["body"]
    return body


def is_expression(value: Any, symbols: frozenset[str] = frozenset()) -> bool:
    """A Bicep expression (a function, an operator, a symbol or an interpolation): typed at deploy time."""
    if isinstance(value, dict):
        return "function" in value or "operator" in value
    return isinstance(value, str) and ("${" in value or value in symbols)


def resource_errors(declaration: dict[str, Any], body: dict[str, Any], symbols: frozenset[str]) -> list[str]:
    """Where a resource declaration's body breaks the official type of its `type@apiVersion`."""
    namespace = declaration["type"].split("/", 1)[0]
    types = bicep_types(namespace, declaration["api_version"])
    reference = resource_body(types, declaration["type"], declaration["api_version"])
    value = {key: item for key, item in body.items() if key not in BICEP_KEYS}
    return type_errors(types, reference, value, declaration["type"], symbols)


def _object_errors(types: list[dict[str, Any]], properties: dict[str, Any], node: dict[str, Any],
                   value: dict[str, Any], path: str, symbols: frozenset[str]) -> list[str]:
    errors = []
    for key, item in value.items():
        key = key.strip("'")
        spec = properties.get(key)
        if spec is None and "additionalProperties" in node:
            errors += type_errors(types, node["additionalProperties"], item, f"{path}.{key}", symbols)
        elif spec is None:
            errors.append(f"{path}.{key}: no such property of {node.get('name')}")
        elif spec.get("flags", 0) & READ_ONLY:
            errors.append(f"{path}.{key}: read-only")
        else:
            errors += type_errors(types, spec["type"], item, f"{path}.{key}", symbols)
    given = {key.strip("'") for key in value}
    errors += [f"{path}.{key}: required" for key, spec in properties.items()
               if spec.get("flags", 0) & REQUIRED and not spec.get("flags", 0) & READ_ONLY and key not in given]
    return errors


def type_errors(types: list[dict[str, Any]], reference: dict[str, str] | str, value: Any, path: str,
                symbols: frozenset[str] = frozenset()) -> list[str]:
    """Where `value` (a pycep literal) breaks the Bicep type at `reference`: unknown, read-only or
    missing required keys, wrong kinds, values outside a closed enum."""
    node = target(types, {"$ref": reference} if isinstance(reference, str) else reference)
    kind = node["$type"]
    if is_expression(value, symbols):
        return []
    if isinstance(value, dict) and "loop_type" in value:  # [for x in xs: {...}]: each item is the body
        loop = value["loop_type"]["detail"]
        names = {loop.get("item_name"), loop.get("index_name")} - {None}
        item_symbols = symbols | frozenset(str(n) for n in names)
        if kind != "ArrayType":
            return [f"{path}: a for-expression where {kind} is expected"]
        return type_errors(types, node["itemType"], value["config"], f"{path}[]", item_symbols)
    if kind == "DiscriminatedObjectType":
        if not isinstance(value, dict):
            return [f"{path}: {node.get('name')} expects an object"]
        discriminator = node["discriminator"]
        chosen = value.get(discriminator)
        if is_expression(chosen, symbols):
            return []
        if chosen not in node["elements"]:
            return [f"{path}.{discriminator}: {chosen!r} is not one of {sorted(node['elements'])}"]
        variant = target(types, node["elements"][chosen])
        properties = {**node.get("baseProperties", {}), **variant.get("properties", {})}
        return _object_errors(types, properties, variant, value, path, symbols)
    if kind == "ObjectType":
        if not isinstance(value, dict):
            return [f"{path}: {node.get('name')} expects an object"]
        return _object_errors(types, node.get("properties", {}), node, value, path, symbols)
    if kind == "ArrayType":
        if not isinstance(value, list):
            return [f"{path}: expects an array"]
        return [e for i, item in enumerate(value)
                for e in type_errors(types, node["itemType"], item, f"{path}[{i}]", symbols)]
    if kind == "UnionType":  # an enum, closed (literals only) or open (literals or any string)
        if any(not type_errors(types, e, value, path, symbols) for e in node["elements"]):
            return []
        allowed = [target(types, e) for e in node["elements"]]
        others = sorted({a["$type"] for a in allowed if a["$type"] != "StringLiteralType"})
        if others:
            return [f"{path}: {value!r} is not a {' or '.join(others)}"]
        literals = {a.get("value") for a in allowed}
        return [f"{path}: {value!r} is not one of {sorted(literals)}"]
    if kind == "StringLiteralType":
        return [] if value == node["value"] else [f"{path}: must be {node['value']!r}"]
    expected = {"StringType": str, "BooleanType": bool, "IntegerType": int}.get(kind)
    if expected is not None and (not isinstance(value, expected) or (expected is int and isinstance(value, bool))):
        return [f"{path}: {value!r} is not a {kind}"]
    return []
