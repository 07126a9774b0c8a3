"""Which columns a KQL query names, without running it.

KQL cannot run here (no Log Analytics), so the queries of the Sentinel rules and the workbook are read
as tokens: string literals, comments and workbook parameters (`{TimeRange:grain}`) are dropped, then every
identifier is one of

- a word of the language (`where`, `summarize`, `by`, `asc`, ...: `KEYWORDS`),
- a function, when `(` follows it (it must be one of `FUNCTIONS`, so a misspelt one shows too),
- a name the query defines (`let x = ...`, `Name = ...` in `extend`, `summarize`, `project`),
- a property of a dynamic value (`x.name`: it follows a dot),
- a table (the first word of a tabular expression: it must be one of the tables given),
- or else a column reference, which must be a column of the table.

The vocabulary is the part of KQL the queries use: a query that needs a new word fails until the word is
added here, which is the point (a misspelt column or keyword does not pass as "something else").
"""

from __future__ import annotations

import re

KEYWORDS = frozenset({
    "where", "summarize", "by", "extend", "project", "project-away", "project-rename", "project-keep",
    "let", "and", "or", "not", "in", "in~", "!in", "has", "has_any", "contains", "startswith", "endswith",
    "between", "order", "sort", "asc", "desc", "nulls", "first", "last", "top", "take", "limit",
    "distinct", "count", "join", "kind", "on", "inner", "leftouter", "union", "render", "timechart",
    "barchart", "columnchart", "piechart", "table", "true", "false", "null", "mv-expand", "as",
})
FUNCTIONS = frozenset({
    "ago", "now", "bin", "count", "countif", "dcount", "dcountif", "sum", "sumif", "min", "max", "avg",
    "arg_max", "arg_min", "make_set", "make_list", "take_any", "iff", "iif", "case", "isempty", "isnotempty",
    "isnull", "isnotnull", "strcat", "tostring", "toint", "tolower", "toupper", "ingestion_time", "datetime",
    "timespan", "format_datetime", "split", "array_length", "coalesce", "startofday", "not",
})
# Tokens: comments, strings (plain, verbatim @"..", obfuscated h".."), workbook parameters, numbers with a
# timespan unit (15m, 1h), names (with the hyphenated operator names), operators.
_TOKEN = re.compile(r"""
    (?P<comment>//[^\n]*)
  | (?P<string>[@hH]?"(?:\\.|[^"\\])*"|[@hH]?'(?:\\.|[^'\\])*')
  | (?P<parameter>\{[^{}\n]*\})
  | (?P<number>\d+(?:\.\d+)?[A-Za-z]*)
  | (?P<name>(?:project-(?:away|rename|keep)|mv-expand|!in|in~)(?![\w-])|[A-Za-z_][A-Za-z0-9_]*)
  | (?P<operator>==|!=|=~|!~|<=|>=|[=(),|<>\[\].*+/%:;-])
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE)


def tokens(query: str) -> list[tuple[str, str]]:
    """(kind, text) of every token that matters: names, numbers, operators."""
    found = []
    for match in _TOKEN.finditer(query):
        kind = match.lastgroup or "other"
        if kind in ("comment", "space", "parameter", "string"):
            continue
        if kind == "other":
            raise ValueError(f"unexpected character {match.group()!r} at {match.start()}")
        found.append((kind, match.group()))
    return found


def names(query: str, tables: frozenset[str]) -> list[tuple[str, str]]:
    """(role, name) of every identifier, in order; role: keyword, function, defined, property, table, column."""
    found = tokens(query)
    result = []
    for i, (kind, text) in enumerate(found):
        if kind != "name":
            continue
        before = found[i - 1][1] if i else "|"
        after = found[i + 1][1] if i + 1 < len(found) else ""
        if text in KEYWORDS:
            role = "keyword"
        elif after == "(":
            role = "function"
        elif before == "let" or after == "=":
            role = "defined"
        elif before == ".":
            role = "property"
        elif text in tables and before in ("|", ";", "(", ",", "="):
            role = "table"
        else:
            role = "column"
        result.append((role, text))
    return result


def columns_named(query: str, tables: frozenset[str]) -> set[str]:
    """The names a query reads as columns (not the ones it defines first)."""
    defined: set[str] = set()
    read = set()
    for role, name in names(query, tables):
        if role == "defined":
            defined.add(name)
        elif role == "column" and name not in defined:
            read.add(name)
    return read


def unknown_names(query: str, columns: set[str], tables: frozenset[str]) -> list[str]:
    """What the query names that is no column of the table, no name it defined before, no known function."""
    defined: set[str] = set()
    unknown = []
    for role, name in names(query, tables):
        if role == "defined":
            defined.add(name)
        elif role == "function" and name not in FUNCTIONS:
            unknown.append(f"{name}()")
        elif role == "column" and name not in columns and name not in defined:
            unknown.append(name)
    return unknown


def pipeline(query: str) -> list[str]:
    """The query's operators, split on top-level `|` (comments and strings dropped)."""
    text = _TOKEN.sub(lambda m: " " if m.lastgroup in ("comment", "string") else m.group(), query)
    return [part.strip() for part in text.split("|")]


def output_columns(query: str) -> list[str]:
    """The columns a query ending in `| project a, b = ..., c` returns (in order)."""
    last = pipeline(query)[-1]
    assert last.startswith("project "), f"the query does not end with `project`: {last[:40]!r}"
    returned = []
    depth = 0
    current = ""
    for char in last[len("project "):] + ",":
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "," and depth == 0:
            returned.append(current.split("=", 1)[0].strip())
            current = ""
        else:
            current += char
    return returned
