"""Structural parsing of Azure Resource Manager ids.

An Event Grid `subject` is the id of the *target* resource: a server, one of its children
(`.../firewallRules/r1`) or an extension resource on top of it
(`.../providers/Microsoft.Insights/diagnosticSettings/d1`). A regex that assumes a depth gets
one of those wrong, so the id is walked segment by segment, and every comparison ignores case
(ARM does; the official samples mix `resourcegroups` and `resourceGroups`).
"""

from __future__ import annotations

from dataclasses import dataclass

MYSQL_FLEXIBLE_SERVERS = "microsoft.dbformysql/flexibleservers"


class InvalidResourceId(ValueError):
    """The string is not an ARM resource id."""


@dataclass(frozen=True)
class ResourceId:
    """One ARM id, split into its scope and its chain of `(type, name)` pairs.

    `types` holds the provider namespace and resource types as written; `names` the names.
    An extension resource starts a second provider block: `extension` keeps it apart so the
    resource it extends stays addressable (`parent_of_extension`).
    """

    subscription_id: str
    resource_group: str | None
    namespace: str | None
    types: tuple[str, ...]
    names: tuple[str, ...]
    extension_namespace: str | None = None
    extension_types: tuple[str, ...] = ()
    extension_names: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> ResourceId:
        if not isinstance(value, str) or not value.startswith("/"):
            raise InvalidResourceId(f"not an ARM id (must start with '/'): {value!r}")
        parts = value.strip("/").split("/")
        if any(p == "" for p in parts):
            raise InvalidResourceId(f"empty segment in ARM id: {value!r}")
        if len(parts) < 2 or parts[0].lower() != "subscriptions":
            raise InvalidResourceId(f"ARM id does not start with /subscriptions/{{id}}: {value!r}")
        subscription = parts[1]
        rest = parts[2:]
        group: str | None = None
        if rest and rest[0].lower() == "resourcegroups":
            if len(rest) < 2:
                raise InvalidResourceId(f"resourceGroups without a name: {value!r}")
            group, rest = rest[1], rest[2:]
        blocks: list[tuple[str, list[str], list[str]]] = []
        while rest:
            if rest[0].lower() != "providers" or len(rest) < 2:
                raise InvalidResourceId(f"expected 'providers/{{namespace}}' in {value!r}")
            namespace, rest = rest[1], rest[2:]
            types: list[str] = []
            names: list[str] = []
            while rest and not (rest[0].lower() == "providers" and types):
                if len(rest) < 2:
                    raise InvalidResourceId(f"resource type {rest[0]!r} has no name in {value!r}")
                types.append(rest[0])
                names.append(rest[1])
                rest = rest[2:]
            blocks.append((namespace, types, names))
        if len(blocks) > 2:
            raise InvalidResourceId(f"more than one extension provider in {value!r}")
        namespace, types, names = blocks[0] if blocks else (None, [], [])
        ext = blocks[1] if len(blocks) == 2 else (None, [], [])
        return cls(subscription, group, namespace, tuple(types), tuple(names), ext[0], tuple(ext[1]), tuple(ext[2]))

    @property
    def type_path(self) -> str:
        """`namespace/type/childtype`, lower-cased: what a route matches on."""
        return "/".join([self.namespace or "", *self.types]).lower()

    @property
    def extension_type_path(self) -> str | None:
        if self.extension_namespace is None:
            return None
        return "/".join([self.extension_namespace, *self.extension_types]).lower()

    @property
    def name(self) -> str | None:
        if self.extension_names:
            return self.extension_names[-1]
        return self.names[-1] if self.names else None

    def ancestor(self, depth: int) -> ResourceId:
        """The id cut after `depth` `(type, name)` pairs of the main provider block."""
        return ResourceId(
            self.subscription_id, self.resource_group, self.namespace,
            self.types[:depth], self.names[:depth],
        )

    def __str__(self) -> str:
        out = f"/subscriptions/{self.subscription_id}"
        if self.resource_group is not None:
            out += f"/resourceGroups/{self.resource_group}"
        if self.namespace is not None:
            out += f"/providers/{self.namespace}"
            out += "".join(f"/{t}/{n}" for t, n in zip(self.types, self.names, strict=True))
        if self.extension_namespace is not None:
            out += f"/providers/{self.extension_namespace}"
            out += "".join(f"/{t}/{n}" for t, n in zip(self.extension_types, self.extension_names, strict=True))
        return out

    def key(self) -> str:
        """Case-insensitive identity of this id, for comparisons and dictionary keys."""
        return str(self).lower()


@dataclass(frozen=True)
class ServerRef:
    """A MySQL flexible server and, when the id pointed below it, the child it pointed at."""

    server: ResourceId
    child_type: str | None
    child_name: str | None
    extension_type: str | None
    extension_name: str | None

    @property
    def server_id(self) -> str:
        return str(self.server)

    @property
    def name(self) -> str:
        return self.server.names[0]


def mysql_server_ref(value: str) -> ServerRef | None:
    """The flexible server an id belongs to, or None when it is about something else.

    Raises InvalidResourceId when the string is not an ARM id at all.
    """
    rid = ResourceId.parse(value)
    if rid.resource_group is None or not rid.types:
        return None
    if f"{rid.namespace}/{rid.types[0]}".lower() != MYSQL_FLEXIBLE_SERVERS:
        return None
    child_type = "/".join(rid.types[1:]).lower() or None
    child_name = rid.names[-1] if len(rid.types) > 1 else None
    return ServerRef(
        server=rid.ancestor(1),
        child_type=child_type,
        child_name=child_name,
        extension_type=rid.extension_type_path,
        extension_name=rid.extension_names[-1] if rid.extension_names else None,
    )
