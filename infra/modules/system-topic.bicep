// The system topic of this resource group's subscription: every ARM write, delete and action in it.
// Azure allows one such topic per subscription: if another already exists, see docs/deploy.md.
param name string
param tags object

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

output name string = topic.name
output principalId string = topic.identity.principalId
