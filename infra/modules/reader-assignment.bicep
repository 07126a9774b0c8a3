// The "MySQL Drift Reader" custom role for the Function identity on one watched subscription.
targetScope = 'subscription'

param principalId string

@description('Name (GUID) of the custom role definition; its id is formed in this subscription.')
param roleDefinitionGuid string

resource readerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleDefinitionGuid)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'mysql-drift: read the watched MySQL flexible server settings'
  }
}
