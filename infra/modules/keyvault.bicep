// Key Vault in RBAC mode for the one secret of the app: the Teams Workflows webhook URL (it carries
// a signature). The app reads it through a Key Vault reference; nobody else is granted access.
param name string
param location string
param tags object

@description('Principal id of the Function app identity.')
param principalId string

@secure()
@description('Teams webhook URL; empty leaves the secret as it is (or absent), so redeploying never blanks it.')
param teamsWebhookUrl string = ''

param secretName string = 'teams-webhook-url'

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
  }
}

resource teamsWebhook 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(teamsWebhookUrl)) {
  parent: vault
  name: secretName
  properties: {
    value: teamsWebhookUrl
    contentType: 'text/plain'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name
// Versionless: the reference follows the latest version (App Service re-reads it within 24 h).
output teamsWebhookSecretUri string = '${vault.properties.vaultUri}secrets/${secretName}'
