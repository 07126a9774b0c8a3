// The Event Grid subscription from a watched subscription's system topic to the Function.
param systemTopicName string

@description('<function app id>/functions/<function name>')
param functionResourceId string
param deadLetterStorageId string
param deadLetterContainerName string
param name string = 'mysql-drift'

// Generated from drift.routing.handled_operations() by infra/generate.py: never edit by hand.
var handledOperations = loadJsonContent('../handled-operations.json')

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: name
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: functionResourceId
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
        'Microsoft.Resources.ResourceActionSuccess'
      ]
      // Event Grid compares strings case-insensitively; the casing of operationName varies.
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: handledOperations
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output id string = eventSubscription.id
