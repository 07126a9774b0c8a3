// Flex Consumption (FC1) Linux Function app on Python 3.11, running as the user-assigned identity.
// No app setting holds a key: storage and telemetry go through the identity, the webhook through
// a Key Vault reference.
param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity.')
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on instances; it also bounds concurrent ARM reads (throttled per principal).')
param maximumInstanceCount int = 40

@minValue(0)
@description('Instances kept warm for the Event Grid function (always ready); 0: scale from zero.')
param alwaysReadyInstances int = 0

@description('The function group or function the always-ready instances serve.')
param alwaysReadyName string = 'function:on_arm_event'

param tableName string
param notifiers string

@description('Versionless URI of the Key Vault secret holding the Teams webhook URL; empty while there is no secret.')
param teamsWebhookSecretUri string
param mailSender string
param mailRecipient string
param policyFile string
param reconcileSchedule string
param watchedSubscriptions string

@description('Application (client) id of the Entra app registration reviewers sign in with; empty: the review routes refuse everyone.')
param reviewAppClientId string = ''

@description('Logs Ingestion URL of the data collection endpoint (DRIFT_LOGS_ENDPOINT); empty: no export.')
param logsEndpoint string = ''

@description('Immutable id of the data collection rule the rows go through (DRIFT_LOGS_RULE_ID).')
param logsRuleId string = ''

@description('Stream of that rule the rows are declared in (DRIFT_LOGS_STREAM).')
param logsStream string = 'Custom-MySqlDrift_CL'

@description('azd deploys the service of azure.yaml to the app carrying this tag.')
param serviceName string = 'drift'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: (alwaysReadyInstances > 0) ? [
          {
            name: alwaysReadyName
            instanceCount: alwaysReadyInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Publishing credentials are a secret too: deployments go through Entra (azd), never basic auth.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

// App Service Authentication (Easy Auth): Entra sign-in is required for every route, so `POST /api/accept`
// and `/api/ack` know who acts from X-MS-CLIENT-PRINCIPAL-NAME, a header App Service sets and does not let
// an outside request set. The function key is required as well (auth_level FUNCTION): the code trusts the
// header only because both stand in front of it. Unauthenticated calls get 401, not a login page.
// Event Grid cannot sign in: its deliveries go to the trigger's system-key webhook, left out of sign-in.
// The web console (`/api/console/...`, no function key: a browser has none) is covered like every other path.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [
        '/runtime/webhooks/eventgrid'
      ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: !empty(reviewAppClientId)
        registration: {
          clientId: reviewAppClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${reviewAppClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: {
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    // Not a secret: with DisableLocalAuth on the component it only says where to send, and
    // ingestion takes the identity's token (the authentication string below).
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    AZURE_CLIENT_ID: identityClientId
    DRIFT_STORAGE_TABLE_ENDPOINT: 'https://${storage.name}.table.${environment().suffixes.storage}'
    DRIFT_STORAGE_QUEUE_ENDPOINT: 'https://${storage.name}.queue.${environment().suffixes.storage}'
    // Deferred re-checks: the queue trigger reads it through AzureWebJobsStorage (same account, identity).
    DRIFT_RECHECK_QUEUE: 'drift-rechecks'
    DRIFT_TABLE_NAME: tableName
    DRIFT_NOTIFIERS: notifiers
    // Without the secret the setting stays empty, and the app says so at start-up (drift.config).
    DRIFT_TEAMS_WEBHOOK_URL: empty(teamsWebhookSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${teamsWebhookSecretUri})'
    DRIFT_MAIL_SENDER: mailSender
    DRIFT_MAIL_TO: mailRecipient
    DRIFT_POLICY_FILE: policyFile
    DRIFT_RECONCILE_SCHEDULE: reconcileSchedule
    DRIFT_WATCHED_SUBSCRIPTIONS: watchedSubscriptions
    // Events from another tenant are refused.
    DRIFT_TENANT_ID: tenant().tenantId
    // One card per deployment or script: wait this long for the other changes of one correlation id.
    DRIFT_GROUP_WINDOW_SECONDS: '5'
    DRIFT_ALERTS_PER_MINUTE: '20'
    // ARM's read budget is shared through the table; without it a process keeps 1/this of it.
    DRIFT_MAX_INSTANCES: string(maximumInstanceCount)
    // Every history row to Log Analytics through the rule, with the identity's token (no key).
    DRIFT_LOGS_ENDPOINT: logsEndpoint
    DRIFT_LOGS_RULE_ID: logsRuleId
    DRIFT_LOGS_STREAM: logsStream
    // Cards' "Review" button opens the finding in the console this app serves (behind the same sign-in).
    DRIFT_CONSOLE_URL: 'https://${app.properties.defaultHostName}/api/console'
  }
}

output name string = app.name
output id string = app.id
