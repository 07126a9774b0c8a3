"""Log Analytics, Sentinel and the workbook in infra/ (issue 14), checked offline.

One list of columns, `infra/loganalytics-columns.json`, is the table, the data collection rule's stream and
what the exporter writes: the Bicep loads it, and these tests hold the table, the rule, the Sentinel rules'
queries and entity mappings and the workbook's queries to it. KQL cannot run here, so the queries are read
by `tests/kql.py`: every identifier is a word of KQL, a name the query defines, or a column of the table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from drift.model import Severity, Verdict
from tests.bicep_types import bicep_types, resource_body, resource_errors, type_errors
from tests.kql import columns_named, output_columns, unknown_names
from tests.test_infra import INFRA, MONITORING_METRICS_PUBLISHER, app_settings, bicep, body, one_resource, role_ids

EXPORT = "modules/loganalytics-export.bicep"
SENTINEL = "modules/sentinel.bicep"
WORKBOOK = "modules/workbook.bicep"
TABLE = "MySqlDrift_CL"
STREAM = f"Custom-{TABLE}"
TABLES = frozenset({TABLE})
# Column types of a data collection rule's stream declaration, and of a Log Analytics table.
DCR_TO_TABLE = {"string": "string", "int": "int", "long": "long", "real": "real", "boolean": "boolean",
                "datetime": "dateTime", "dynamic": "dynamic"}


def columns_file() -> list[dict[str, str]]:
    columns: list[dict[str, str]] = json.loads((INFRA / "loganalytics-columns.json").read_text())
    return columns


def schema() -> dict[str, str]:
    """Column name -> DCR type: the stream `Custom-MySqlDrift_CL` as the columns file declares it."""
    return {column["name"]: column["type"] for column in columns_file()}


def variable(relative: str, name: str) -> Any:
    return bicep(relative)["variables"][name]["value"]


def resolve(relative: str, value: Any) -> Any:
    """A string with `${var}` interpolations (or a bare variable name) with the file's string variables put in."""
    variables = bicep(relative)["variables"]
    if isinstance(value, str) and value in variables:
        return resolve(relative, variables[value]["value"])
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: str(resolve(relative, m.group(1))), value.strip("'"))
    return value


def loaded_file(relative: str, value: Any, function: str) -> Path:
    """The file a `loadTextContent(...)` or `loadJsonContent(...)` call reads."""
    call = value["function"]
    assert call["type"] == function, f"{relative}: {value} is not {function}(...)"
    return ((INFRA / relative).parent / call["parameters"]["file_path"]).resolve()


def for_each_column(relative: str, loop: dict[str, Any]) -> list[dict[str, Any]]:
    """Evaluate `[for column in columns: {...}]` over the columns file: property accessors of the item and
    index accessors of the file's object variables, the only expressions these loops use."""
    detail = loop["loop_type"]["detail"]
    assert detail["array_name"] == "columns"
    path = loaded_file(relative, variable(relative, "columns"), "load_json_content")
    assert path == INFRA / "loganalytics-columns.json"
    item = detail["item_name"]

    def evaluate(expression: Any, column: dict[str, str]) -> Any:
        operator = expression["operator"]
        operands = operator["operands"]
        if operator["type"] == "property_accessor":
            assert operands["operand_1"] == item, expression
            return column[operands["operand_2"]]
        assert operator["type"] == "index_accessor", expression
        mapping = variable(relative, operands["operand_1"])
        key = evaluate(operands["operand_2"], column)
        assert key in mapping, f"{operands['operand_1']} has no entry for {key!r}"
        return mapping[key]

    return [{key: evaluate(expression, column) for key, expression in loop["config"].items()}
            for column in columns_file()]


# --- the table and the data collection rule ----------------------------------------------------

def test_the_columns_file_declares_only_types_a_stream_can_carry() -> None:
    names = [column["name"] for column in columns_file()]
    assert len(names) == len(set(names)), "a column twice"
    assert "TimeGenerated" in names and schema()["TimeGenerated"] == "datetime", "a custom table needs TimeGenerated"
    assert set(schema().values()) <= set(DCR_TO_TABLE)
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) for name in names)


def test_the_rule_stream_declares_exactly_the_columns_file() -> None:
    _, rule = one_resource(EXPORT, "Microsoft.Insights/dataCollectionRules")
    declarations = body(rule)["properties"]["streamDeclarations"]
    assert [resolve(EXPORT, key) for key in declarations] == [STREAM]
    [declaration] = declarations.values()
    declared = for_each_column(EXPORT, declaration["columns"])
    assert declared == [{"name": c["name"], "type": c["type"]} for c in columns_file()]


def test_the_table_has_the_same_columns_with_the_table_types() -> None:
    _, table = one_resource(EXPORT, "Microsoft.OperationalInsights/workspaces/tables")
    assert resolve(EXPORT, body(table)["name"]) == TABLE
    assert body(table)["parent"] == "workspace"
    properties = body(table)["properties"]
    assert properties["plan"] == "Analytics", "Sentinel rules cannot query Basic logs"
    columns = for_each_column(EXPORT, properties["schema"]["columns"])
    assert [(c["name"], c["type"]) for c in columns] == [(c["name"], DCR_TO_TABLE[c["type"]]) for c in columns_file()]
    assert [c["description"] for c in columns] == [c["description"] for c in columns_file()]
    # The Bicep's own mapping agrees with the one here, entry for entry.
    assert variable(EXPORT, "tableColumnTypes") == DCR_TO_TABLE


def test_the_type_mapping_gives_only_types_the_table_accepts() -> None:
    types = bicep_types("Microsoft.OperationalInsights", "2022-10-01")
    [column] = [t for t in types if t["$type"] == "ObjectType" and t.get("name") == "Column"]
    kind = types[int(column["properties"]["type"]["type"]["$ref"].rsplit("/", 1)[1])]
    accepted = {types[int(e["$ref"].rsplit("/", 1)[1])].get("value") for e in kind["elements"]}
    assert set(DCR_TO_TABLE.values()) <= accepted
    types = bicep_types("Microsoft.Insights", "2023-03-11")
    [definition] = [t for t in types if t["$type"] == "ObjectType" and t.get("name") == "ColumnDefinition"]
    kind = types[int(definition["properties"]["type"]["type"]["$ref"].rsplit("/", 1)[1])]
    accepted = {types[int(e["$ref"].rsplit("/", 1)[1])].get("value") for e in kind["elements"]}
    assert set(DCR_TO_TABLE) <= accepted


def test_the_rule_sends_the_stream_unchanged_to_the_table_on_the_workspace() -> None:
    _, rule = one_resource(EXPORT, "Microsoft.Insights/dataCollectionRules")
    properties = body(rule)["properties"]
    [destination] = properties["destinations"]["logAnalytics"]
    assert destination["workspaceResourceId"]["operator"]["operands"] == {"operand_1": "workspace", "operand_2": "id"}
    assert set(properties["destinations"]) == {"logAnalytics"}
    [flow] = properties["dataFlows"]
    assert [resolve(EXPORT, s) for s in flow["streams"]] == [STREAM]
    assert flow["destinations"] == [destination["name"]]
    assert resolve(EXPORT, flow["outputStream"]) == STREAM
    assert flow["transformKql"] == "source"
    endpoint = properties["dataCollectionEndpointId"]["operator"]["operands"]
    assert endpoint == {"operand_1": "endpoint", "operand_2": "id"}
    assert body(rule)["dependsOn"] == ["table"], "the rule is refused while its output table does not exist"
    workspace = bicep(EXPORT)["resources"]["workspace"]
    assert workspace["existing"] and workspace["type"] == "Microsoft.OperationalInsights/workspaces"


def test_the_function_may_send_to_the_rule_and_nothing_else() -> None:
    _, assignment = one_resource(EXPORT, "Microsoft.Authorization/roleAssignments")
    assert role_ids(EXPORT, assignment) == [MONITORING_METRICS_PUBLISHER]
    assert body(assignment)["scope"] == "rule"
    assert bicep(EXPORT)["resources"]["rule"]["type"] == "Microsoft.Insights/dataCollectionRules"
    assert body(assignment)["properties"]["principalId"] == "principalId"
    assert body(assignment)["properties"]["principalType"] == "ServicePrincipal"
    passed = body(bicep("main.bicep")["modules"]["logsExport"])["params"]["principalId"]
    assert passed["operator"]["operands"]["operand_1"] == "identity", "the Function app's identity"
    # The name is stable per (rule, principal, role), so a second provision does not add a second one.
    name = body(assignment)["name"]["function"]
    assert name["type"] == "guid"
    assert name["parameters"]["base_string"]["operator"]["operands"] == {"operand_1": "rule", "operand_2": "id"}
    strings = {v for v in name["parameters"].values() if isinstance(v, str)}
    assert strings == {"principalId", "monitoringMetricsPublisher"}


def test_the_function_gets_the_endpoint_the_rule_and_the_stream() -> None:
    settings = app_settings()
    assert settings["DRIFT_LOGS_ENDPOINT"] == "logsEndpoint"
    assert settings["DRIFT_LOGS_RULE_ID"] == "logsRuleId"
    assert settings["DRIFT_LOGS_STREAM"] == "logsStream"
    params = body(bicep("main.bicep")["modules"]["functionApp"])["params"]

    def export_output(expression: dict[str, Any]) -> str:
        operands = expression["operator"]["operands"]
        assert operands["operand_1"] == "logsExport"
        return str(operands["operand_2"]["operator"]["operands"]["operand_2"])

    assert export_output(params["logsEndpoint"]) == "logsIngestionEndpoint"
    assert export_output(params["logsRuleId"]) == "ruleImmutableId"
    assert export_output(params["logsStream"]) == "streamName"
    outputs = bicep(EXPORT)["outputs"]

    def chain(expression: Any) -> list[str]:
        if not isinstance(expression, dict):
            return [expression]
        operands = expression["operator"]["operands"]
        return [operands["operand_1"], *chain(operands["operand_2"])]

    # The data collection endpoint's Logs Ingestion URL (not a kind-Direct rule's), and the rule's immutable id.
    assert chain(outputs["logsIngestionEndpoint"]["value"]) == ["endpoint", "properties", "logsIngestion", "endpoint"]
    assert chain(outputs["ruleImmutableId"]["value"]) == ["rule", "properties", "immutableId"]
    assert resolve(EXPORT, outputs["streamName"]["value"]) == STREAM


# --- Sentinel --------------------------------------------------------------------------------

def alert_rules() -> dict[str, dict[str, Any]]:
    tree = bicep(SENTINEL)
    return {name: r for name, r in tree["resources"].items() if r["type"] == "Microsoft.SecurityInsights/alertRules"}


def rule_query(resource: dict[str, Any]) -> tuple[Path, str]:
    path = loaded_file(SENTINEL, body(resource)["properties"]["query"], "load_text_content")
    return path, path.read_text()


def test_sentinel_is_onboarded_on_the_workspace_and_the_rules_are_its_extensions() -> None:
    tree = bicep(SENTINEL)
    assert tree["resources"]["workspace"]["existing"]
    _, onboarding = one_resource(SENTINEL, "Microsoft.SecurityInsights/onboardingStates")
    assert body(onboarding)["scope"] == "workspace" and body(onboarding)["name"] == "default"
    rules = alert_rules()
    assert set(rules) == {"weakeningRule", "burstRule"}
    for rule in rules.values():
        assert body(rule)["scope"] == "workspace"
        assert body(rule)["kind"] == "Scheduled"
        assert body(rule)["dependsOn"] == ["onboarding"]
        assert body(rule)["properties"]["enabled"] is True
        # Sentinel's limits on a scheduled rule: they fail a deployment, not a test, unless checked here.
        _, query = rule_query(rule)
        assert len(query) <= 10_000 and len(body(rule)["properties"]["displayName"]) <= 256
        assert len(body(rule)["properties"]["customDetails"]) <= 20
        for text in body(rule)["properties"]["alertDetailsOverride"].values():
            assert len(re.findall(r"\{\{\w+\}\}", text)) <= 3, "at most three parameters in a name or description"


def test_every_column_the_sentinel_rules_name_is_in_the_stream() -> None:
    for symbol, rule in alert_rules().items():
        path, query = rule_query(rule)
        assert path.parent == INFRA and path.suffix == ".kql"
        assert unknown_names(query, set(schema()), TABLES) == [], f"{symbol}: {path.name}"
        assert {"RecordId", "Verdict"} <= columns_named(query, TABLES), f"{symbol}: de-duplicate and filter"


def test_the_rules_mappings_and_details_name_columns_the_query_returns() -> None:
    for symbol, rule in alert_rules().items():
        _, query = rule_query(rule)
        returned = set(output_columns(query))
        properties = body(rule)["properties"]
        mapped = [m["columnName"] for entity in properties["entityMappings"] for m in entity["fieldMappings"]]
        details = list(properties.get("customDetails", {}).values())
        formats = [name for text in properties["alertDetailsOverride"].values()
                   for name in re.findall(r"\{\{(\w+)\}\}", text)]
        for name in [*mapped, *details, *formats]:
            assert name in returned, f"{symbol}: {name} is not a column of the query's result"
        # Entities come from the table's own columns (the caller, the address, the server), not from a summary.
        assert set(mapped) <= set(schema()), symbol


def test_the_weakening_rule_maps_the_caller_the_ip_and_the_server_and_deduplicates() -> None:
    rule = alert_rules()["weakeningRule"]
    properties = body(rule)["properties"]
    entities = {e["entityType"]: {m["identifier"]: m["columnName"] for m in e["fieldMappings"]}
                for e in properties["entityMappings"]}
    assert entities == {"Account": {"FullName": "ChangedBy"}, "IP": {"Address": "ClientIp"},
                        "AzureResource": {"ResourceId": "ServerId"}}
    _, query = rule_query(rule)
    # At least once: one row per RecordId (its first copy), alerted in the run that first ingested it.
    assert re.search(r"\|\s*summarize arg_min\(IngestedAt, \*\) by RecordId", query)
    # Windows of first ingestion that tile time: (now - runEvery - settle, now - settle], one per run.
    assert re.search(r"\|\s*where IngestedAt > ago\(runEvery \+ settle\) and IngestedAt <= ago\(settle\)", query)
    frequency = properties["queryFrequency"]
    assert re.search(r"let runEvery = (\d+)m;", query).group(1) == re.fullmatch(r"PT(\d+)M", frequency).group(1)  # type: ignore[union-attr]
    assert properties["queryPeriod"] == "P1D"


def test_the_queries_compare_verdicts_severities_and_settings_with_values_the_code_writes() -> None:
    from detectors import all_detectors

    # "server": the one row the engine writes when a server is deleted (tests/test_pipeline.py).
    settings = {d.setting for d in all_detectors()} | {"server"}
    queries = [rule_query(rule)[1] for rule in alert_rules().values()] + [q for _, q in workbook_queries()]
    for query in queries:
        for column, allowed in (("Verdict", {v.value for v in Verdict}), ("Severity", {s.value for s in Severity}),
                                ("Setting", settings)):
            for match in re.finditer(column + r'\s*(?:==|!=|in)\s*(\([^)]*\)|"[^"]*")', query):
                values = set(re.findall(r'"([^"]*)"', match.group(1)))
                assert values <= allowed, f"{match.group()} compares with {values - allowed}"


# --- the workbook ----------------------------------------------------------------------------

def workbook() -> dict[str, Any]:
    _, resource = one_resource(WORKBOOK, "Microsoft.Insights/workbooks")
    data = body(resource)["properties"]["serializedData"]["function"]
    assert data["type"] == "replace"
    loaded = data["parameters"]["original_string"]
    path = loaded_file(WORKBOOK, loaded, "load_text_content")
    assert path == INFRA / "workbook.json"
    assert data["parameters"]["old_string"] in path.read_text(), "the workspace placeholder is in the file"
    content: dict[str, Any] = json.loads(path.read_text())
    return content


def workbook_queries() -> list[tuple[str, str]]:
    return [(item["content"]["title"], item["content"]["query"]) for item in workbook()["items"] if item["type"] == 3]


def test_the_workbook_parses_and_has_the_three_views() -> None:
    content = workbook()
    assert content["version"] == "Notebook/1.0"
    queries = {item["name"]: item["content"] for item in content["items"] if item["type"] == 3}
    assert set(queries) == {"weakenings-by-severity", "top-callers", "open-findings-by-server"}
    assert queries["weakenings-by-severity"]["visualization"] == "timechart"
    over_time = queries["weakenings-by-severity"]["query"]
    assert re.search(r"summarize \w+ = count\(\) by Severity, bin\(TimeGenerated,", over_time)
    assert re.search(r"by ChangedBy\s*\|\s*top \d+ by", queries["top-callers"]["query"])
    assert re.search(r"by ServerId, Server", queries["open-findings-by-server"]["query"])
    for item in queries.values():
        assert item["resourceType"] == "microsoft.operationalinsights/workspaces"
    assert content["fallbackResourceIds"] == ["{workspace-resource-id}"]


def test_every_column_the_workbook_names_is_in_the_stream() -> None:
    for title, query in workbook_queries():
        assert unknown_names(query, set(schema()), TABLES) == [], title
        assert "RecordId" in columns_named(query, TABLES), f"{title}: one row per RecordId"


def test_open_findings_are_those_whose_latest_row_is_a_weakening() -> None:
    [query] = [q for title, q in workbook_queries() if title.startswith("Open findings")]
    steps = [step.strip() for step in re.sub(r"//[^\n]*", "", query).split("|")]
    first = steps.index("where isnotempty(FindingId)")
    assert steps[first:first + 6] == [
        "where isnotempty(FindingId)",
        "summarize arg_max(TimeGenerated, *) by RecordId",
        "summarize arg_max(TimeGenerated, Verdict, Severity, Setting, Server) by FindingId, ServerId",
        'where Verdict == "weakened"',
        "join kind=leftouter deletions on ServerId",
        "where isnull(DeletedAt) or DeletedAt < TimeGenerated",
    ]
    # A deleted server's findings are closed without a row of their own: the engine writes one row for the
    # server, setting "server", after "deleted" (tests/test_pipeline.py holds the engine to it).
    assert 'where Setting == "server" and After == "deleted"' in steps[1]


# --- the column check and the type check can fail ----------------------------------------------

def test_a_misspelt_column_or_function_in_a_query_is_found() -> None:
    _, query = rule_query(alert_rules()["weakeningRule"])
    assert unknown_names(query.replace("ChangedBy", "ChangedBY"), set(schema()), TABLES) == ["ChangedBY"]
    assert unknown_names(query.replace("MySqlDrift_CL", "MySqlDrift_Cl"), set(schema()), TABLES) == ["MySqlDrift_Cl"]
    assert unknown_names(query.replace("ingestion_time()", "ingestiontime()"), set(schema()), TABLES) == [
        "ingestiontime()"]
    [(_, open_findings)] = [(t, q) for t, q in workbook_queries() if t.startswith("Open findings")]
    assert unknown_names(open_findings.replace("by FindingId, ServerId", "by FindingID, ServerId"),
                         set(schema()), TABLES) == ["FindingID"]
    # A name the query defines is no column; used before it is defined, it is unknown.
    assert unknown_names("MySqlDrift_CL | where Weakenings > 1 | summarize Weakenings = count()",
                         set(schema()), TABLES) == ["Weakenings"]
    # Strings, comments and workbook parameters are not names.
    assert unknown_names('MySqlDrift_CL // Nonsense here\n| where Server == "NoSuchColumn" | where TimeGenerated '
                         "{TimeRange}", set(schema()), TABLES) == []


MISSPELLINGS = [
    (EXPORT, "transformKql:", "transformKQL:",
     "Microsoft.Insights/dataCollectionRules.properties.dataFlows[0].transformKQL: no such property of DataFlow"),
    (EXPORT, "    plan: 'Analytics'\n", "    plan: 'Analytics'\n    retentionInDays: 'thirty'\n",
     "Microsoft.OperationalInsights/workspaces/tables.properties.retentionInDays: 'thirty' is not a IntegerType"),
    (EXPORT, "    dataCollectionEndpointId:", "    immutableId: 'dcr-0'\n    dataCollectionEndpointId:",
     "Microsoft.Insights/dataCollectionRules.properties.immutableId: read-only"),
    (SENTINEL, "    triggerOperator: 'GreaterThan'", "    triggerOperator: 'MoreThan'",
     "Microsoft.SecurityInsights/alertRules.properties.triggerOperator: 'MoreThan' is not one of "
     "['Equal', 'GreaterThan', 'LessThan', 'NotEqual']"),
    (SENTINEL, "  kind: 'Scheduled'", "  kind: 'Schedueld'",
     "Microsoft.SecurityInsights/alertRules.kind: 'Schedueld' is not one of "),
    (SENTINEL, "    enabled: true\n", "    enabeld: true\n",
     "Microsoft.SecurityInsights/alertRules.properties.enabeld: no such property of ScheduledAlertRuleProperties"),
    (WORKBOOK, "    sourceId: workspace.id", "    sourceID: workspace.id",
     "Microsoft.Insights/workbooks.properties.sourceID: no such property of WorkbookProperties"),
]


@pytest.mark.parametrize(("relative", "old", "new", "expected"), MISSPELLINGS,
                         ids=[m[2].strip().split(":")[0] for m in MISSPELLINGS])
def test_a_misspelt_property_fails_the_type_check(relative: str, old: str, new: str, expected: str) -> None:
    text = (INFRA / relative).read_text()
    assert old in text
    tree = BicepParser().parse(text=text.replace(old, new, 1))
    symbols = frozenset(n for section in ("parameters", "variables", "resources") for n in tree.get(section, {}))
    errors = [error for resource in tree["resources"].values() if not resource["existing"]
              for error in resource_errors(resource, body(resource), symbols)]
    assert any(error.startswith(expected) for error in errors), errors
    unchanged = BicepParser().parse(text=text)
    assert [error for resource in unchanged["resources"].values() if not resource["existing"]
            for error in resource_errors(resource, body(resource), symbols)] == []


def test_a_missing_required_property_fails_the_type_check() -> None:
    types = bicep_types("Microsoft.Insights", "2023-06-01")
    reference = resource_body(types, "Microsoft.Insights/workbooks", "2023-06-01")
    errors = type_errors(types, reference, {"name": "x", "location": "westeurope", "kind": "shared",
                                            "properties": {"displayName": "d", "category": "workbook"}}, "wb")
    assert errors == ["wb.properties.serializedData: required"]


# --- deployed by azd up when turned on ----------------------------------------------------------

@pytest.mark.parametrize(("parameter", "module", "variable_name"), [
    ("enableSentinel", "sentinel", "DRIFT_ENABLE_SENTINEL"),
    ("enableWorkbook", "workbook", "DRIFT_ENABLE_WORKBOOK"),
])
def test_sentinel_and_the_workbook_are_off_unless_the_environment_turns_them_on(
        parameter: str, module: str, variable_name: str) -> None:
    main = bicep("main.bicep")
    assert main["parameters"][parameter]["type"] == "bool"
    assert main["parameters"][parameter]["default"] is False
    assert main["modules"][module]["config"]["condition"] == parameter
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters[parameter]["value"] == "${" + variable_name + "=false}"
    # After the table: the module takes the table name from the export module's output.
    table = body(main["modules"][module])["params"]["tableName"]["operator"]["operands"]
    assert table["operand_1"] == "logsExport"
    root = INFRA.parent
    for document in (root / "docs" / "deploy.md", INFRA / "README.md"):
        assert variable_name in document.read_text(), f"{document.name} does not say how to turn it on"
