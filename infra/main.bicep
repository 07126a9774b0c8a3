// mysql-drift: everything `azd provision` creates. The Event Grid subscriptions come later, from
// eventgrid.bicep (azure.yaml's postdeploy hook), because an AzureFunction endpoint can only be
// subscribed once the code, and so the function `on_arm_event`, is deployed.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Region of the resource group and its resources.')
param location string

@description('Comma list of the subscription ids to watch; empty watches the deployment subscription only.')
param watchedSubscriptions string = ''

@description('Comma list of notifiers (DRIFT_NOTIFIERS): teams, mail, console.')
param notifiers string = 'teams'

@description('Mailbox that sends alert mail through Graph (scoped by scripts/grant-graph-permissions.sh); empty: no mail.')
param mailSender string = ''

@description('Comma list of alert mail recipients (DRIFT_MAIL_TO): people, a list, a Teams channel address.')
param mailRecipient string = ''

@secure()
@description('Teams Workflows webhook URL. Written only to the Key Vault secret; empty keeps the secret as it is.')
param teamsWebhookUrl string = ''

@description('Whether the Key Vault already holds the webhook secret (azd keeps this template\'s output of the same name).')
param teamsWebhookSecretExists bool = false

@description('Policy file inside the deployed app (DRIFT_POLICY_FILE), e.g. policy.toml; empty: built-in defaults.')
param policyFile string = ''

@description('NCRONTAB (6 fields) of the full reconciliation run (DRIFT_RECONCILE_SCHEDULE).')
param reconcileSchedule string = '0 0 */6 * * *'

@description('Client id of the Entra app registration for signing in to the review routes (docs/deploy.md); empty: they refuse everyone.')
param reviewAppClientId string = ''

@description('Table of baselines, history and outbox (DRIFT_TABLE_NAME).')
param tableName string = 'mysqldrift'

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption instance memory; GB-s are billed on it.')
param instanceMemoryMB int = 2048

@minValue(0)
@description('Always-ready instances of the Event Grid function: no cold start, billed while idle (docs/deploy.md).')
param alwaysReadyInstances int = 0

@description('Onboard the Log Analytics workspace to Microsoft Sentinel and add the analytics rules over MySqlDrift_CL (infra/sentinel-*.kql). Sentinel bills every GB of the workspace\'s analytics data: docs/deploy.md.')
param enableSentinel bool = false

@description('Add the Azure Monitor workbook over MySqlDrift_CL (infra/workbook.json).')
param enableWorkbook bool = false

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var watchedSubscriptionIds = empty(watchedSubscriptions) ? [subscription().subscriptionId] : split(replace(watchedSubscriptions, ' ', ''), ',')
var watchedScopes = [for id in watchedSubscriptionIds: '/subscriptions/${id}']
var deploymentContainerName = 'app-package-${resourceToken}'
var deadLetterContainerName = 'eventgrid-deadletter'
var readerActions = loadJsonContent('reader-role-actions.json')
// An app setting that names a secret the vault does not hold reaches the app as the literal
// `@Microsoft.KeyVault(...)`: set the reference only once the secret exists (or is written now).
var teamsWebhookConfigured = teamsWebhookSecretExists || !empty(teamsWebhookUrl)

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-drift-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

// Every history row to the workspace's table MySqlDrift_CL (docs/deploy.md, "Log Analytics").
module logsExport 'modules/loganalytics-export.bicep' = {
  name: 'loganalytics-export'
  scope: rg
  params: {
    workspaceName: monitoring.outputs.workspaceName
    dataCollectionEndpointName: 'dce-drift-${resourceToken}'
    dataCollectionRuleName: 'dcr-drift-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

// Both read MySqlDrift_CL, which must exist before a rule's query or a workbook refers to it: the
// table name comes from the export module's output, so they are deployed after it.
module sentinel 'modules/sentinel.bicep' = if (enableSentinel) {
  name: 'sentinel'
  scope: rg
  params: {
    workspaceName: monitoring.outputs.workspaceName
    tableName: logsExport.outputs.tableName
  }
}

module workbook 'modules/workbook.bicep' = if (enableWorkbook) {
  name: 'workbook'
  scope: rg
  params: {
    name: guid(rg.id, environmentName, 'mysql-drift-workbook')
    displayName: 'MySQL drift (${environmentName})'
    location: location
    tags: tags
    workspaceName: monitoring.outputs.workspaceName
    tableName: logsExport.outputs.tableName
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
    tableName: tableName
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    teamsWebhookUrl: teamsWebhookUrl
  }
}

module functionApp 'modules/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    name: 'func-drift-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    instanceMemoryMB: instanceMemoryMB
    alwaysReadyInstances: alwaysReadyInstances
    tableName: tableName
    notifiers: notifiers
    teamsWebhookSecretUri: teamsWebhookConfigured ? keyVault.outputs.teamsWebhookSecretUri : ''
    mailSender: mailSender
    mailRecipient: mailRecipient
    policyFile: policyFile
    reconcileSchedule: reconcileSchedule
    watchedSubscriptions: join(watchedSubscriptionIds, ',')
    reviewAppClientId: reviewAppClientId
    logsEndpoint: logsExport.outputs.logsIngestionEndpoint
    logsRuleId: logsExport.outputs.ruleImmutableId
    logsStream: logsExport.outputs.streamName
  }
}

// Exactly the ARM reads the code makes (generated from drift.readers.role_actions()). A custom role
// is one tenant-wide object whose name must be unique in the tenant: it carries the resource token,
// so the same environment name deployed in another subscription gets a role of its own. The
// deployment subscription is listed among its assignable scopes because that is where it is defined.
resource readerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, environmentName, 'mysql-drift-reader')
  properties: {
    roleName: 'MySQL Drift Reader (${environmentName}-${resourceToken})'
    description: 'Reads the MySQL flexible server settings that mysql-drift watches. No write, delete or action.'
    type: 'CustomRole'
    permissions: [
      {
        actions: readerActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: union([subscription().id], watchedScopes)
  }
}

module readerAssignments 'modules/reader-assignment.bicep' = [for (subscriptionId, i) in watchedSubscriptionIds: {
  name: 'drift-reader-${i}-${resourceToken}'
  scope: subscription(subscriptionId)
  params: {
    principalId: identity.outputs.principalId
    roleDefinitionGuid: readerRole.name
  }
}]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_ID string = functionApp.outputs.id
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output DRIFT_DEAD_LETTER_CONTAINER string = deadLetterContainerName
output DRIFT_WATCHED_SUBSCRIPTIONS string = join(watchedSubscriptionIds, ',')
output DRIFT_READER_ROLE_ID string = readerRole.name
output DRIFT_READER_ROLE_NAME string = readerRole.properties.roleName
output DRIFT_TEAMS_WEBHOOK_SECRET_EXISTS bool = teamsWebhookConfigured
output DRIFT_LOGS_ENDPOINT string = logsExport.outputs.logsIngestionEndpoint
output DRIFT_LOGS_RULE_ID string = logsExport.outputs.ruleImmutableId
output DRIFT_LOGS_STREAM string = logsExport.outputs.streamName
