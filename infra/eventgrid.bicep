// Second deployment, run by azure.yaml's postdeploy hook once the code is deployed (an
// AzureFunction endpoint must exist when its event subscription is created):
//
//   az deployment sub create --template-file infra/eventgrid.bicep --location $AZURE_LOCATION --parameters ...
//
// For each watched subscription: a resource group there, a system topic on the subscription's ARM
// events, its identity allowed to write dead letters to our container, and the event subscription
// to the Function. Run it again after adding a subscription; it is idempotent.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
param environmentName string

@description('Location of the resource groups created in the watched subscriptions.')
param location string

@description('Comma list of watched subscription ids (output DRIFT_WATCHED_SUBSCRIPTIONS of main.bicep).')
param watchedSubscriptions string

@description('Resource id of the Function app (output AZURE_FUNCTION_APP_ID).')
param functionAppId string

@description('Name of the Event Grid triggered function in function_app.py.')
param functionName string = 'on_arm_event'

@description('Resource group of the storage account, in this (the deployment) subscription.')
param storageResourceGroup string
param storageAccountName string
param deadLetterContainerName string

var tags = {
  'azd-env-name': environmentName
}
// Nested deployment names are capped at 64 characters; the environment name alone may be 64.
var token = toLower(uniqueString(subscription().id, environmentName, location))
var watchedSubscriptionIds = empty(watchedSubscriptions) ? [subscription().subscriptionId] : split(replace(watchedSubscriptions, ' ', ''), ',')
var eventsResourceGroupName = 'rg-${environmentName}-events'
var systemTopicName = 'evgt-arm-${environmentName}'
var deadLetterStorageId = resourceId(subscription().subscriptionId, storageResourceGroup, 'Microsoft.Storage/storageAccounts', storageAccountName)

module eventsGroups 'modules/events-resource-group.bicep' = [for (subscriptionId, i) in watchedSubscriptionIds: {
  name: 'drift-events-rg-${i}-${token}'
  scope: subscription(subscriptionId)
  params: {
    name: eventsResourceGroupName
    location: location
    tags: tags
  }
}]

module topics 'modules/system-topic.bicep' = [for (subscriptionId, i) in watchedSubscriptionIds: {
  name: 'drift-topic-${i}-${token}'
  scope: resourceGroup(subscriptionId, eventsResourceGroupName)
  params: {
    name: systemTopicName
    tags: tags
  }
  dependsOn: [
    eventsGroups[i]
  ]
}]

module deadLetterAccess 'modules/dead-letter-access.bicep' = [for (subscriptionId, i) in watchedSubscriptionIds: {
  name: 'drift-deadletter-${i}-${token}'
  scope: resourceGroup(storageResourceGroup)
  params: {
    storageAccountName: storageAccountName
    containerName: deadLetterContainerName
    principalId: topics[i].outputs.principalId
  }
}]

module eventSubscriptions 'modules/event-subscription.bicep' = [for (subscriptionId, i) in watchedSubscriptionIds: {
  name: 'drift-evsub-${i}-${token}'
  scope: resourceGroup(subscriptionId, eventsResourceGroupName)
  params: {
    systemTopicName: topics[i].outputs.name
    functionResourceId: '${functionAppId}/functions/${functionName}'
    deadLetterStorageId: deadLetterStorageId
    deadLetterContainerName: deadLetterContainerName
  }
  // Dead letters are written with the topic's identity: grant it before the subscription exists.
  dependsOn: [
    deadLetterAccess[i]
  ]
}]

output DRIFT_SYSTEM_TOPICS array = [for subscriptionId in watchedSubscriptionIds: '/subscriptions/${subscriptionId}/resourceGroups/${eventsResourceGroupName}/providers/Microsoft.EventGrid/systemTopics/${systemTopicName}']
