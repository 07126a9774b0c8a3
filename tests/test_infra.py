"""The deployment (infra/*.bicep, azure.yaml), checked offline.

Bicep cannot be compiled here, so the templates are parsed with `pycep-parser` and the security
properties read from the syntax tree: no shared keys, no key or connection string in an app
setting, the webhook only through Key Vault, dead-lettering and retries on the event
subscription, and the two lists that must follow the code (the Event Grid filter and the custom
role's actions) loaded from files generated from it.

pycep gives identifiers and string literals alike as Python strings: `principalId: principalId`
and `principalType: 'ServicePrincipal'` both become plain strings. The tests compare against the
names used in the templates, so a renamed symbol fails them loudly rather than passing by luck.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from pycep import BicepParser  # dev dependency `pycep-parser`: no skip, these checks must not vanish

from drift.config import Settings
from drift.readers import READ_ACTIONS, role_actions
from drift.routing import ROUTES, handled_operations
from tests.bicep_types import available, bicep_types, normalize, resource_errors, type_errors

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
ENTRY_POINTS = ("main.bicep", "eventgrid.bicep")

STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
STORAGE_ROLES = {STORAGE_BLOB_DATA_OWNER, STORAGE_BLOB_DATA_CONTRIBUTOR, STORAGE_QUEUE_DATA_CONTRIBUTOR,
                 STORAGE_TABLE_DATA_CONTRIBUTOR}
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"

# Settings the code reads that the deployment leaves unset on purpose.
LOCAL_ONLY = {"DRIFT_ARM_ENDPOINT", "DRIFT_ARM_CA_BUNDLE", "DRIFT_ARM_CREDENTIAL", "DRIFT_STORAGE_CONNECTION_STRING"}
DEFAULT_IN_AZURE = {
    "DRIFT_GRAPH_ENDPOINT",  # the public Graph endpoint is the default
    "DRIFT_ALERT_MAX_WAIT",  # tuning; the default suits Event Grid's 30 s delivery timeout
    "DRIFT_RESOLVE_PRINCIPALS",  # on by default (Graph Application.Read.All, scripts/grant-graph-permissions.sh)
    "DRIFT_TEAMS_CHANNEL",  # Graph channel messages need a delegated user: no use to a managed identity
    "DRIFT_EVENTGRID_ENDPOINT",  # the custom-topic notifier: this template provisions no custom topic
    "DRIFT_SUBSCRIPTION_NAMES",  # optional display names: cards show subscription ids without them
}

# What would put a credential into a setting or a template.
SECRET_PATTERNS = re.compile(
    r"AccountKey=|SharedAccessSignature=|[?&]sig=|DefaultEndpointsProtocol=|InstrumentationKey=[0-9a-f-]{36}"
    r"|listKeys\(|listConnectionStrings\(|primaryKey|client_secret",
    re.IGNORECASE,
)


# --- parsing helpers -------------------------------------------------------------------------

@cache
def bicep(relative: str) -> dict[str, Any]:
    """The pycep syntax tree of infra/<relative>."""
    tree: dict[str, Any] = BicepParser().parse(text=(INFRA / relative).read_text())
    return tree


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's own body, under any `for` loop or `if` condition."""
    config: dict[str, Any] = declaration["config"]
    while "config" in config and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def resources(relative: str, type_: str) -> dict[str, dict[str, Any]]:
    """Symbol -> declaration of every resource of a type in one file."""
    return {name: r for name, r in bicep(relative).get("resources", {}).items() if r["type"] == type_}


def one_resource(relative: str, type_: str) -> tuple[str, dict[str, Any]]:
    found = resources(relative, type_)
    assert len(found) == 1, f"{relative}: expected one {type_}, found {sorted(found)}"
    return next(iter(found.items()))


def module_files() -> dict[str, str]:
    """Every Bicep file reachable from the entry points, by path under infra/, with the file that uses it."""
    seen: dict[str, str] = {entry: "" for entry in ENTRY_POINTS}
    todo = list(ENTRY_POINTS)
    while todo:
        current = todo.pop()
        for module in bicep(current).get("modules", {}).values():
            path = (INFRA / current).parent.joinpath(module["detail"]["path"]).resolve().relative_to(INFRA)
            if str(path) not in seen:
                seen[str(path)] = current
                todo.append(str(path))
    return seen


def site_config(name: str) -> dict[str, Any]:
    """The body of the one `Microsoft.Web/sites/config` resource named `name` in modules/function.bicep."""
    found = [body(r) for r in resources("modules/function.bicep", "Microsoft.Web/sites/config").values()
             if body(r)["name"] == name]
    assert len(found) == 1, f"expected one sites/config named {name}, found {len(found)}"
    return found[0]


def app_settings() -> dict[str, Any]:
    properties: dict[str, Any] = site_config("appsettings")["properties"]
    return properties


def leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, (*path, str(i)))
    else:
        yield path, node


def references(node: Any, symbol: str) -> list[tuple[str, ...]]:
    """Paths of the leaves that name a symbol, bare or inside an interpolation."""
    inside = re.compile(r"\$\{[^}]*\b" + re.escape(symbol) + r"\b")
    return [path for path, leaf in leaves(node)
            if isinstance(leaf, str) and (leaf == symbol or inside.search(leaf))]


def load_json_content(relative: str, variable: str) -> tuple[Path, Any]:
    """The file a `var x = loadJsonContent(...)` reads, and its content."""
    value = bicep(relative)["variables"][variable]["value"]
    function = value["function"]
    assert function["type"] == "load_json_content", f"{relative}: {variable} is not loadJsonContent(...)"
    path = ((INFRA / relative).parent / function["parameters"]["file_path"]).resolve()
    return path, json.loads(path.read_text())


def role_ids(relative: str, assignment: dict[str, Any]) -> list[str]:
    """The role definition GUID(s) a roleAssignments declaration grants (one per loop item)."""
    tree = bicep(relative)
    function = body(assignment)["properties"]["roleDefinitionId"]["function"]
    assert function["type"] == "subscription_resource_id"
    name = function["parameters"]["resource_name_1"]
    if isinstance(name, str):
        if name in tree.get("variables", {}):
            return [tree["variables"][name]["value"]]
        return [name]  # a parameter (the custom role's GUID)
    accessor = name["operator"]["operands"]
    loop = assignment["config"]["loop_type"]["detail"]
    assert accessor["operand_1"] == loop["item_name"], f"{relative}: role id is not the loop item's"
    return [item[accessor["operand_2"]] for item in tree["variables"][loop["array_name"]]["value"]]


def load_generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("infra_generate", INFRA / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- one source of truth ---------------------------------------------------------------------

def test_generated_files_equal_what_the_code_says() -> None:
    assert json.loads((INFRA / "handled-operations.json").read_text()) == handled_operations()
    assert json.loads((INFRA / "reader-role-actions.json").read_text()) == role_actions()
    # Byte for byte what infra/generate.py writes, so a hand edit that keeps the values shows too.
    assert load_generate().stale() == [], "run .venv/bin/python infra/generate.py"


def test_event_filter_values_are_the_generated_operations() -> None:
    _, subscription = one_resource("modules/event-subscription.bicep",
                                   "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    filters = body(subscription)["properties"]["filter"]["advancedFilters"]
    assert filters == [{"operatorType": "StringIn", "key": "data.operationName", "values": "handledOperations"}]
    path, values = load_json_content("modules/event-subscription.bicep", "handledOperations")
    assert path == INFRA / "handled-operations.json"
    assert values == handled_operations()
    assert 0 < len(values) <= 25, "Event Grid allows 25 advanced filter values per subscription"


def test_included_event_types_cover_every_route() -> None:
    _, subscription = one_resource("modules/event-subscription.bicep",
                                   "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    included = set(body(subscription)["properties"]["filter"]["includedEventTypes"])
    needed = {f"Microsoft.Resources.Resource{action}Success" for route in ROUTES for action in route.actions}
    assert included == needed == {"Microsoft.Resources.ResourceWriteSuccess",
                                  "Microsoft.Resources.ResourceDeleteSuccess",
                                  "Microsoft.Resources.ResourceActionSuccess"}


def test_reader_role_has_exactly_the_code_read_actions() -> None:
    _, role = one_resource("main.bicep", "Microsoft.Authorization/roleDefinitions")
    properties = body(role)["properties"]
    assert properties["type"] == "CustomRole"
    assert properties["roleName"].startswith("MySQL Drift Reader")
    [permission] = properties["permissions"]
    assert permission["actions"] == "readerActions"
    assert permission["notActions"] == permission["dataActions"] == permission["notDataActions"] == []
    path, actions = load_json_content("main.bicep", "readerActions")
    assert path == INFRA / "reader-role-actions.json"
    assert actions == role_actions()
    for action in actions:
        assert action.endswith("/read") and "*" not in action, action
        assert not re.search(r"/(write|delete|action)$", action, re.IGNORECASE), action


def test_reader_role_is_assigned_on_each_watched_subscription() -> None:
    main = bicep("main.bicep")
    _, role = one_resource("main.bicep", "Microsoft.Authorization/roleDefinitions")
    scopes = body(role)["properties"]["assignableScopes"]["function"]
    assert scopes["type"] == "union" and "watchedScopes" in scopes["parameters"].values()
    assert main["variables"]["watchedScopes"]["value"]["loop_type"]["detail"]["array_name"] == "watchedSubscriptionIds"

    module = main["modules"]["readerAssignments"]
    loop = module["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "watchedSubscriptionIds"
    scope = body(module)["scope"]["function"]
    assert scope == {"type": "subscription", "parameters": {"subscription_id": loop["item_name"]}}
    assert body(module)["params"]["principalId"]["operator"]["operands"]["operand_1"] == "identity"

    relative = "modules/reader-assignment.bicep"
    assert bicep(relative)["globals"]["scope"]["value"] == "subscription"
    _, assignment = one_resource(relative, "Microsoft.Authorization/roleAssignments")
    assert role_ids(relative, assignment) == ["roleDefinitionGuid"]
    assert body(assignment)["properties"]["principalId"] == "principalId"


# --- no keys, no secrets in settings ---------------------------------------------------------

def test_storage_account_refuses_shared_keys() -> None:
    _, account = one_resource("modules/storage.bicep", "Microsoft.Storage/storageAccounts")
    properties = body(account)["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True


def test_function_storage_is_identity_based() -> None:
    settings = app_settings()
    assert settings["AzureWebJobsStorage__accountName"]["operator"]["operands"] == {
        "operand_1": "storage", "operand_2": "name"}
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert "AzureWebJobsStorage" not in settings
    assert settings["DRIFT_STORAGE_TABLE_ENDPOINT"].startswith("https://${storage.name}.table.")

    _, app = one_resource("modules/function.bicep", "Microsoft.Web/sites")
    deployment = body(app)["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert deployment["authentication"] == {"type": "UserAssignedIdentity",
                                            "userAssignedIdentityResourceId": "identityId"}
    assert body(app)["properties"]["keyVaultReferenceIdentity"] == "identityId"
    assert body(app)["identity"]["type"] == "UserAssigned"


def test_no_app_setting_holds_a_key_or_connection_string() -> None:
    settings = app_settings()
    for name, value in settings.items():
        for _, leaf in leaves(value):
            assert not (isinstance(leaf, str) and SECRET_PATTERNS.search(leaf)), f"{name}: {leaf}"
    connection_strings = {name for name in settings if "CONNECTION_STRING" in name}
    # App Insights' is an address, not a credential, once local auth is disabled (see the next test).
    assert connection_strings == {"APPLICATIONINSIGHTS_CONNECTION_STRING"}


def test_app_insights_takes_entra_tokens_only() -> None:
    _, component = one_resource("modules/monitoring.bicep", "Microsoft.Insights/components")
    assert body(component)["properties"]["DisableLocalAuth"] is True
    _, workspace = one_resource("modules/monitoring.bicep", "Microsoft.OperationalInsights/workspaces")
    assert body(workspace)["properties"]["features"]["disableLocalAuth"] is True
    authentication = app_settings()["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert authentication == "ClientId=${identityClientId};Authorization=AAD"
    _, publisher = one_resource("modules/monitoring.bicep", "Microsoft.Authorization/roleAssignments")
    assert role_ids("modules/monitoring.bicep", publisher) == [MONITORING_METRICS_PUBLISHER]
    assert body(publisher)["scope"] == "appInsights"


def test_teams_webhook_setting_is_a_key_vault_reference_set_only_when_the_secret_exists() -> None:
    setting = app_settings()["DRIFT_TEAMS_WEBHOOK_URL"]["operator"]
    assert setting["type"] == "conditional"
    operands = setting["operands"]
    match = re.fullmatch(r"@Microsoft\.KeyVault\(SecretUri=\$\{(\w+)\}\)", operands["false_value"])
    assert match, "DRIFT_TEAMS_WEBHOOK_URL must be a Key Vault reference"
    assert operands["condition"] == {"function": {"type": "empty", "parameters": {"item_to_test": match.group(1)}}}
    assert operands["true_value"] == "", "no secret, no reference: the app would get the literal reference"

    main = bicep("main.bicep")
    passed = main["modules"]["functionApp"]["config"]["params"][match.group(1)]["operator"]
    assert passed["type"] == "conditional" and passed["operands"]["false_value"] == ""
    assert passed["operands"]["condition"] == "teamsWebhookConfigured"
    assert passed["operands"]["true_value"]["operator"]["operands"]["operand_1"] == "keyVault"
    configured = main["variables"]["teamsWebhookConfigured"]["value"]["operator"]
    assert configured["type"] == "or" and configured["operands"]["operand_1"] == "teamsWebhookSecretExists"
    assert main["parameters"]["teamsWebhookSecretExists"]["default"] is False
    # azd stores outputs in the environment: once written, the next provision knows the secret exists.
    assert main["outputs"]["DRIFT_TEAMS_WEBHOOK_SECRET_EXISTS"]["value"] == "teamsWebhookConfigured"
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["teamsWebhookSecretExists"]["value"] == "${DRIFT_TEAMS_WEBHOOK_SECRET_EXISTS=false}"
    assert bicep("modules/keyvault.bicep")["outputs"]["teamsWebhookSecretUri"]["value"] == (
        "${vault.properties.vaultUri}secrets/${secretName}")

    _, vault = one_resource("modules/keyvault.bicep", "Microsoft.KeyVault/vaults")
    assert body(vault)["properties"]["enableRbacAuthorization"] is True
    _, reader = one_resource("modules/keyvault.bicep", "Microsoft.Authorization/roleAssignments")
    assert role_ids("modules/keyvault.bicep", reader) == [KEY_VAULT_SECRETS_USER]
    assert body(reader)["scope"] == "vault"


def test_webhook_url_goes_only_into_the_key_vault_secret() -> None:
    main = bicep("main.bicep")
    assert {"type": "secure"} in main["parameters"]["teamsWebhookUrl"]["decorators"]
    used = references({k: v for k, v in main.items() if k != "parameters"}, "teamsWebhookUrl")
    into_vault = ("modules", "keyVault", "config", "params", "teamsWebhookUrl")
    assert into_vault in used
    emptiness = [path for path in used if path != into_vault]
    assert all(path[-3:] == ("function", "parameters", "item_to_test") and path[-4] == "bool_value"
               for path in emptiness), f"the URL is only passed to the vault or tested for emptiness: {emptiness}"

    vault = bicep("modules/keyvault.bicep")
    assert {"type": "secure"} in vault["parameters"]["teamsWebhookUrl"]["decorators"]
    used = references({k: v for k, v in vault.items() if k != "parameters"}, "teamsWebhookUrl")
    assert used and all(path[:2] == ("resources", "teamsWebhook") for path in used)
    assert vault["resources"]["teamsWebhook"]["type"] == "Microsoft.KeyVault/vaults/secrets"
    assert body(vault["resources"]["teamsWebhook"])["properties"]["value"] == "teamsWebhookUrl"


def test_every_setting_the_code_reads_in_azure_is_deployed() -> None:
    read: set[str] = set()

    class Recording(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            read.add(key)
            return super().get(key, default)

    Settings.from_env(Recording())
    assert read, "Settings.from_env read nothing: the recording is broken"
    deployed = set(app_settings())
    assert not LOCAL_ONLY & deployed
    # A setting the code starts to read fails here until someone decides: deploy it, or say why not.
    assert read - LOCAL_ONLY - DEFAULT_IN_AZURE <= deployed, "add it to modules/function.bicep or DEFAULT_IN_AZURE"
    assert read >= DEFAULT_IN_AZURE, "DEFAULT_IN_AZURE names a setting the code no longer reads"


def test_templates_and_scripts_hold_no_secret() -> None:
    files = [*INFRA.rglob("*.bicep"), *INFRA.glob("*.json"), ROOT / "azure.yaml",
             *(ROOT / "scripts").glob("*.sh")]
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not SECRET_PATTERNS.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"


def test_parameters_come_from_the_environment_only() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = bicep("main.bicep")["parameters"]
    for name, entry in parameters.items():
        assert name in declared, f"main.parameters.json sets {name}, which main.bicep does not declare"
        assert re.fullmatch(r"\$\{[A-Z][A-Z0-9_]*(=[^}]*)?\}", entry["value"]), f"{name} is a literal"
    required = {name for name, p in declared.items() if p["default"] is None}
    assert required <= set(parameters)
    assert parameters["teamsWebhookUrl"]["value"] == "${DRIFT_TEAMS_WEBHOOK_URL}"


# --- least privilege on storage --------------------------------------------------------------

def test_storage_roles_are_scoped_to_the_storage_account() -> None:
    granted: dict[str, set[str]] = {}
    for relative in module_files():
        tree = bicep(relative)
        for symbol, assignment in resources(relative, "Microsoft.Authorization/roleAssignments").items():
            ids = role_ids(relative, assignment)
            if not STORAGE_ROLES & set(ids):
                continue
            scope = body(assignment).get("scope")
            assert isinstance(scope, str), f"{relative}:{symbol} has no resource scope"
            target = tree["resources"][scope]["type"]
            assert target.startswith("Microsoft.Storage/storageAccounts"), f"{relative}:{symbol} on {target}"
            for role in ids:
                granted.setdefault(role, set()).add(target)
    assert granted == {
        STORAGE_BLOB_DATA_OWNER: {"Microsoft.Storage/storageAccounts"},
        STORAGE_QUEUE_DATA_CONTRIBUTOR: {"Microsoft.Storage/storageAccounts"},
        STORAGE_TABLE_DATA_CONTRIBUTOR: {"Microsoft.Storage/storageAccounts"},
        # the system topics' identities, for dead letters: one container, not the account
        STORAGE_BLOB_DATA_CONTRIBUTOR: {"Microsoft.Storage/storageAccounts/blobServices/containers"},
    }


def test_no_role_is_granted_at_subscription_scope_except_the_reader_role() -> None:
    for relative in module_files():
        for symbol, assignment in resources(relative, "Microsoft.Authorization/roleAssignments").items():
            if "scope" not in body(assignment):
                assert relative == "modules/reader-assignment.bicep", f"{relative}:{symbol} is unscoped"


# --- Event Grid ------------------------------------------------------------------------------

def test_event_subscription_retries_and_dead_letters_without_keys() -> None:
    _, subscription = one_resource("modules/event-subscription.bicep",
                                   "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    properties = body(subscription)["properties"]
    assert properties["eventDeliverySchema"] == "EventGridSchema"
    assert properties["retryPolicy"] == {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440}
    dead_letter = properties["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    assert dead_letter["deadLetterDestination"] == {
        "endpointType": "StorageBlob",
        "properties": {"resourceId": "deadLetterStorageId", "blobContainerName": "deadLetterContainerName"}}
    assert "deadLetterDestination" not in properties

    _, topic = one_resource("modules/system-topic.bicep", "Microsoft.EventGrid/systemTopics")
    assert body(topic)["identity"] == {"type": "SystemAssigned"}
    assert body(topic)["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"


def test_event_subscription_targets_the_functions_event_grid_trigger() -> None:
    from tests.function_index import functions

    triggers = [f.get_function_name() for f in functions()
                if any(b.type == "eventGridTrigger" for b in f.get_bindings())]
    eventgrid = bicep("eventgrid.bicep")
    assert triggers == [eventgrid["parameters"]["functionName"]["default"]]
    module = eventgrid["modules"]["eventSubscriptions"]
    assert body(module)["params"]["functionResourceId"] == "${functionAppId}/functions/${functionName}"

    _, subscription = one_resource("modules/event-subscription.bicep",
                                   "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    destination = body(subscription)["properties"]["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert destination["properties"]["resourceId"] == "functionResourceId"


def test_one_system_topic_per_watched_subscription_in_that_subscription() -> None:
    modules = bicep("eventgrid.bicep")["modules"]
    for name in ("eventsGroups", "topics", "deadLetterAccess", "eventSubscriptions"):
        assert modules[name]["config"]["loop_type"]["detail"]["array_name"] == "watchedSubscriptionIds", name
    item = modules["topics"]["config"]["loop_type"]["detail"]["item_name"]
    for name in ("topics", "eventSubscriptions"):
        assert body(modules[name])["scope"]["function"]["parameters"]["subscription_id"] == item, name
    assert body(modules["eventsGroups"])["scope"]["function"] == {
        "type": "subscription", "parameters": {"subscription_id": item}}
    assert body(modules["eventSubscriptions"])["dependsOn"] == [
        {"operator": {"type": "index_accessor", "operands": {"operand_1": "deadLetterAccess", "operand_2": "i"}}}]


# --- the app and azd -------------------------------------------------------------------------

def test_function_app_is_flex_consumption_python_311() -> None:
    _, plan = one_resource("modules/function.bicep", "Microsoft.Web/serverfarms")
    assert body(plan)["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    _, app = one_resource("modules/function.bicep", "Microsoft.Web/sites")
    assert body(app)["kind"] == "functionapp,linux"
    assert body(app)["properties"]["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert body(app)["properties"]["httpsOnly"] is True
    policies = resources("modules/function.bicep", "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {body(p)["name"]: body(p)["properties"]["allow"] for p in policies.values()} == {"ftp": False, "scm": False}


def test_reconcile_schedule_defaults_to_six_field_ncrontab() -> None:
    default = bicep("main.bicep")["parameters"]["reconcileSchedule"]["default"]
    assert default == "0 0 */6 * * *" and len(default.split()) == 6
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["reconcileSchedule"]["value"] == "${DRIFT_RECONCILE_SCHEDULE=" + default + "}"
    assert app_settings()["DRIFT_RECONCILE_SCHEDULE"] == "reconcileSchedule"


def test_every_module_file_is_used_and_parses() -> None:
    used = set(module_files())
    on_disk = {str(p.relative_to(INFRA)) for p in INFRA.rglob("*.bicep")}
    assert used == on_disk


def test_azure_yaml_deploys_the_tagged_app_and_feeds_the_eventgrid_deployment() -> None:
    text = (ROOT / "azure.yaml").read_text()
    service = re.search(r"^services:\n  (\S+):\n((?:    .*\n)+)", text, re.MULTILINE)
    assert service, "azure.yaml has no service"
    name, lines = service.groups()
    assert re.search(r"^    language: python$", lines, re.MULTILINE)
    assert re.search(r"^    host: function$", lines, re.MULTILINE)
    assert bicep("modules/function.bicep")["parameters"]["serviceName"]["default"] == name

    postdeploy = text[text.index("  postdeploy:"):]
    posix, windows = postdeploy.split("    windows:")
    eventgrid = bicep("eventgrid.bicep")["parameters"]
    outputs = set(bicep("main.bicep")["outputs"]) | {"AZURE_ENV_NAME", "AZURE_SUBSCRIPTION_ID"}
    for run, env_read in ((posix, r"\$\{?([A-Z][A-Z0-9_]+)"), (windows, r"\$env:([A-Z][A-Z0-9_]+)")):
        assert "--template-file infra/eventgrid.bicep" in run
        passed = set(re.findall(r"\b(\w+)=\"?\$", run[run.index("--parameters"):]))
        required = {n for n, p in eventgrid.items() if p["default"] is None}
        assert required <= passed <= set(eventgrid), (required, passed)
        used = set(re.findall(env_read, run))
        assert used <= outputs, f"the hook reads {used - outputs}, which main.bicep does not output"


def test_every_reader_has_exactly_one_role_action_and_no_action_lacks_a_reader() -> None:
    from drift.readers import READ_ACTIONS, SUBSCRIPTION_READS, ArmReader

    readers = set(ArmReader(credential=None)._handlers()) | set(SUBSCRIPTION_READS)
    assert readers == set(READ_ACTIONS), (
        "a read without a permission fails in Azure; a permission without a read is excess")
    assert all(action.endswith("/read") for action in READ_ACTIONS.values())


# --- who may review: Entra sign-in in front of the HTTP routes -------------------------------

def config_variants(types: list[dict[str, Any]]) -> dict[str, Any]:
    """`Microsoft.Web/sites/config` is discriminated by its name: name -> the reference of that variant's type."""
    [config] = [t for t in types
                if t["$type"] == "ResourceType" and t["name"] == "Microsoft.Web/sites/config@2024-04-01"]
    variants: dict[str, Any] = types[int(config["body"]["$ref"].rsplit("/", 1)[1])]["elements"]
    return variants


def test_every_sites_config_of_the_function_matches_the_official_bicep_types() -> None:
    types = bicep_types("Microsoft.Web", "2024-04-01")
    variants = config_variants(types)
    declared = resources("modules/function.bicep", "Microsoft.Web/sites/config")
    assert {body(r)["name"] for r in declared.values()} == {"appsettings", "authsettingsV2"}
    for symbol, resource in declared.items():
        assert resource["api_version"] == "2024-04-01"
        variant = types[int(variants[body(resource)["name"]]["$ref"].rsplit("/", 1)[1])]
        properties = variant["properties"]["properties"]["type"]["$ref"]
        assert type_errors(types, properties, body(resource)["properties"], symbol) == []


def test_the_type_check_can_fail() -> None:
    types = bicep_types("Microsoft.Web", "2024-04-01")
    variants = config_variants(types)
    auth = types[int(variants["authsettingsV2"]["$ref"].rsplit("/", 1)[1])]["properties"]["properties"]["type"]["$ref"]
    wrong = {"globalValidation": {"requireAuthentication": "yes", "unauthenticatedClientAction": "Return402",
                                  "excludedPath": []}}
    assert type_errors(types, auth, wrong, "auth") == [
        "auth.globalValidation.requireAuthentication: 'yes' is not a BooleanType",
        "auth.globalValidation.unauthenticatedClientAction: 'Return402' is not one of "
        "['AllowAnonymous', 'RedirectToLoginPage', 'Return401', 'Return403']",
        "auth.globalValidation.excludedPath: no such property of GlobalValidation"]


def file_symbols(relative: str) -> frozenset[str]:
    """The names a Bicep file declares: a string equal to one of them is an expression, not a literal."""
    tree = bicep(relative)
    return frozenset(name for section in ("parameters", "variables", "resources", "modules")
                     for name in tree.get(section, {}))


def test_every_resource_matches_the_official_bicep_types() -> None:
    from tests.conftest import FIXTURES

    checked = []
    for relative in module_files():
        for symbol, declaration in bicep(relative).get("resources", {}).items():
            if declaration["existing"]:
                continue
            namespace = declaration["type"].split("/", 1)[0]
            assert available(namespace, declaration["api_version"]) or not (FIXTURES / "bicep-types").is_dir(), (
                f"{relative}:{symbol}: no types.json for {namespace} {declaration['api_version']}: copy it from "
                "Azure/bicep-types-az into tests/bicep-types/ (tests/bicep-types/SOURCES.md)")
            loop = declaration["config"].get("loop_type")
            names = file_symbols(relative) | frozenset(
                str(n) for n in ((loop or {}).get("detail") or {}).values() if n is not None)
            assert resource_errors(declaration, body(declaration), names) == [], f"{relative}:{symbol}"
            checked.append(f"{declaration['type']}@{declaration['api_version']}")
    assert {"Microsoft.Insights/dataCollectionRules@2023-03-11",
            "Microsoft.Insights/dataCollectionEndpoints@2023-03-11",
            "Microsoft.OperationalInsights/workspaces/tables@2022-10-01",
            "Microsoft.Insights/workbooks@2023-06-01",
            "Microsoft.SecurityInsights/alertRules@2024-09-01",
            "Microsoft.SecurityInsights/onboardingStates@2024-09-01",
            "Microsoft.Web/sites@2024-04-01",
            "Microsoft.Authorization/roleAssignments@2022-04-01"} <= set(checked)


def outputs_read(node: Any, symbol: str) -> set[str]:
    """The outputs of module `symbol` that an expression tree reads (`symbol.outputs.name`, also interpolated)."""
    found: set[str] = set()
    if isinstance(node, dict):
        operator = node.get("operator")
        if isinstance(operator, dict) and operator.get("type") == "property_accessor":
            operands = operator["operands"]
            inner = operands["operand_2"]
            if operands["operand_1"] == symbol and isinstance(inner, dict):
                chain = inner["operator"]["operands"]
                if chain["operand_1"] == "outputs":
                    found.add(chain["operand_2"] if isinstance(chain["operand_2"], str)
                              else chain["operand_2"]["operator"]["operands"]["operand_1"])
        for value in node.values():
            found |= outputs_read(value, symbol)
    elif isinstance(node, list):
        for value in node:
            found |= outputs_read(value, symbol)
    elif isinstance(node, str):
        found |= set(re.findall(r"\$\{" + symbol + r"\.outputs\.(\w+)", node))
    return found


def test_every_module_gets_the_parameters_it_declares_and_reads_outputs_it_has() -> None:
    """What the Bicep compiler would refuse: an unknown or missing module parameter, an output that is not there."""
    read_from_export = set()
    for relative in module_files():
        tree = bicep(relative)
        for symbol, module in tree.get("modules", {}).items():
            path = (INFRA / relative).parent.joinpath(module["detail"]["path"]).resolve().relative_to(INFRA)
            used = bicep(str(path))
            parameters = used.get("parameters", {})
            passed = set(body(module).get("params", {}))
            required = {name for name, p in parameters.items() if p["default"] is None}
            assert required <= passed, (relative, symbol, "missing", required - passed)
            assert passed <= set(parameters), (relative, symbol, "unknown", passed - set(parameters))
            read = outputs_read({k: v for k, v in tree.items() if k != "parameters"}, symbol)
            assert read <= set(used.get("outputs", {})), (relative, symbol, read - set(used.get("outputs", {})))
            if symbol == "logsExport":
                read_from_export = read
    assert read_from_export == {"logsIngestionEndpoint", "ruleImmutableId", "streamName", "tableName"}


def test_the_older_serialization_reads_as_the_current_one() -> None:
    old = [{"13": {"MinLength": 1}}, {"6": {"Value": "Analytics"}}, {"5": {"Elements": [1, 0]}},
           {"2": {"Name": "Props", "Properties": {"plan": {"Type": 2, "Flags": 0, "Description": "d"},
                                                   "id": {"Type": 0, "Flags": 2}}, "AdditionalProperties": 0}},
           {"3": {"ItemType": 3}}, {"1": {"Kind": 3}},
           {"4": {"Name": "X/y@1", "ScopeType": 8, "Body": 3, "Flags": 0}}]
    assert normalize(old) == [
        {"$type": "StringType", "minLength": 1}, {"$type": "StringLiteralType", "value": "Analytics"},
        {"$type": "UnionType", "elements": [{"$ref": "#/1"}, {"$ref": "#/0"}]},
        {"$type": "ObjectType", "name": "Props",
         "properties": {"plan": {"type": {"$ref": "#/2"}, "flags": 0, "description": "d"},
                        "id": {"type": {"$ref": "#/0"}, "flags": 2}},
         "additionalProperties": {"$ref": "#/0"}},
        {"$type": "ArrayType", "itemType": {"$ref": "#/3"}}, {"$type": "BooleanType"},
        {"$type": "ResourceType", "name": "X/y@1", "scopeType": 8, "body": {"$ref": "#/3"}, "flags": 0}]
    converted = normalize(old)
    assert type_errors(converted, "#/3", {"id": "x", "plan": 3}, "p") == [
        "p.id: read-only", "p.plan: 3 is not a StringType"]


def test_the_review_routes_require_entra_sign_in_and_event_grid_still_gets_through() -> None:
    auth = site_config("authsettingsV2")
    assert auth["parent"] == "app"
    properties = auth["properties"]
    assert properties["platform"] == {"enabled": True}
    validation = properties["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "Return401", "an API answers 401, not a login redirect"
    # Only the Event Grid trigger's webhook (system key) is left out; /api/accept and /api/ack are not.
    assert validation["excludedPaths"] == ["/runtime/webhooks/eventgrid"]
    assert set(properties["identityProviders"]) == {"azureActiveDirectory"}
    entra = properties["identityProviders"]["azureActiveDirectory"]
    assert entra["registration"]["clientId"] == "reviewAppClientId"
    assert entra["registration"]["openIdIssuer"] == (
        "${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0"), "this tenant's users only"
    assert entra["validation"]["allowedAudiences"] == ["api://${reviewAppClientId}"]
    assert properties["httpSettings"]["requireHttps"] is True

    passed = bicep("main.bicep")["modules"]["functionApp"]["config"]["params"]["reviewAppClientId"]
    assert passed == "reviewAppClientId"
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["reviewAppClientId"]["value"] == "${DRIFT_REVIEW_APP_CLIENT_ID}"


def test_the_review_route_also_needs_the_function_key() -> None:
    from tests.function_index import functions

    [review] = [f for f in functions() if f.get_function_name() == "review"]
    [trigger] = [b for b in review.get_bindings() if b.type == "httpTrigger"]
    assert trigger.auth_level.name == "FUNCTION"


def test_the_console_route_is_covered_by_entra_sign_in_since_it_takes_no_function_key() -> None:
    """A browser has no function key: App Service Authentication is the console's gate, so no excluded
    path may reach it, and the code refuses to serve where Easy Auth does not run (tests/test_console_http.py)."""
    from tests.function_index import functions

    [console] = [f for f in functions() if f.get_function_name() == "console"]
    [trigger] = [b for b in console.get_bindings() if b.type == "httpTrigger"]
    assert (trigger.route, trigger.auth_level.name) == ("console/{*path}", "ANONYMOUS")
    validation = site_config("authsettingsV2")["properties"]["globalValidation"]
    assert validation["requireAuthentication"] is True
    route = "/api/" + trigger.route.split("{")[0]
    assert not any(route.startswith(p.rstrip("/") + "/") or p.startswith("/api") for p in validation["excludedPaths"])


def test_the_role_reads_diagnostic_settings_under_both_published_names() -> None:
    """ARM may check either name for a server's diagnostic settings: a role with one of them can get a 403."""
    from drift.readers import READ_ACTION_ALIASES

    actions = json.loads((INFRA / "reader-role-actions.json").read_text())
    assert "Microsoft.Insights/diagnosticSettings/read" in actions
    assert "Microsoft.DBforMySQL/flexibleServers/providers/Microsoft.Insights/diagnosticSettings/read" in actions
    assert set(READ_ACTION_ALIASES) <= set(READ_ACTIONS), "an alias of a read the code does not make"


def test_the_custom_role_name_is_unique_per_deployment_subscription() -> None:
    """Role names are unique in a tenant: the same environment name in a second subscription must not collide."""
    main = bicep("main.bicep")
    _, role = one_resource("main.bicep", "Microsoft.Authorization/roleDefinitions")
    assert "${resourceToken}" in body(role)["properties"]["roleName"]
    token = main["variables"]["resourceToken"]["value"]["function"]
    assert token["type"] == "to_lower"
    unique = token["parameters"]["string_to_change"]["function"]
    assert unique["type"] == "unique_string"
    assert unique["parameters"]["base_string"]["operator"]["operands"]["operand_1"]["function"]["type"] == (
        "subscription")


def bicep_type(provider: str, name: str) -> dict[str, Any]:
    """An ObjectType of the official Bicep type definitions (`shared/fixtures/bicep-types`)."""
    from tests.conftest import need_fixtures

    [path] = need_fixtures("bicep-types", provider).glob("*/types.json")
    return next(t for t in json.loads(path.read_text()) if t.get("name") == name)


def test_always_ready_instances_reach_scale_and_concurrency_as_the_bicep_types_define_it() -> None:
    main = bicep("main.bicep")
    assert main["parameters"]["alwaysReadyInstances"]["default"] == 0
    assert {"type": "min_value", "argument": 0} in main["parameters"]["alwaysReadyInstances"]["decorators"]
    assert main["modules"]["functionApp"]["config"]["params"]["alwaysReadyInstances"] == "alwaysReadyInstances"
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["alwaysReadyInstances"]["value"] == "${DRIFT_ALWAYS_READY_INSTANCES=0}"

    function = bicep("modules/function.bicep")
    _, app = one_resource("modules/function.bicep", "Microsoft.Web/sites")
    scale = body(app)["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert set(scale) <= set(bicep_type("Microsoft.Web", "FunctionsScaleAndConcurrency")["properties"])
    always = scale["alwaysReady"]["operator"]
    assert always["type"] == "conditional" and always["operands"]["false_value"] == []
    assert always["operands"]["condition"]["operator"]["operands"] == {
        "operand_1": "alwaysReadyInstances", "operand_2": 0}
    [entry] = always["operands"]["true_value"]
    assert set(entry) == set(bicep_type("Microsoft.Web", "FunctionsAlwaysReadyConfig")["properties"])
    assert entry == {"name": "alwaysReadyName", "instanceCount": "alwaysReadyInstances"}
    trigger = bicep("eventgrid.bicep")["parameters"]["functionName"]["default"]
    assert function["parameters"]["alwaysReadyName"]["default"] == f"function:{trigger}"

    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert "DRIFT_ALWAYS_READY_INSTANCES" in deploy and "always-ready baseline" in deploy, "say what it costs"
