// Every drift history row to Log Analytics (issue 14): the custom table MySqlDrift_CL on the
// workspace, and the data collection endpoint and rule the Function app sends the rows through (Logs
// Ingestion API, `azure-monitor-ingestion`, the managed identity). The columns come from one file,
// infra/loganalytics-columns.json, which the exporter writes and the tests check everything against.
param workspaceName string
param dataCollectionEndpointName string
param dataCollectionRuleName string
param location string
param tags object

@description('Principal id of the Function app identity, the only sender.')
param principalId string

var columns = loadJsonContent('../loganalytics-columns.json')
var tableName = 'MySqlDrift_CL'
var streamName = 'Custom-${tableName}'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
// A data collection rule's stream spells `datetime`, a table's column `dateTime`; the other types are
// the same words. A type missing here fails the deployment, not a row at ingestion time.
var tableColumnTypes = {
  string: 'string'
  int: 'int'
  long: 'long'
  real: 'real'
  boolean: 'boolean'
  datetime: 'dateTime'
  dynamic: 'dynamic'
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2022-10-01' existing = {
  name: workspaceName
}

// Analytics plan: Sentinel's scheduled rules and workbooks query it (Basic logs cannot be used there).
resource table 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: tableName
  properties: {
    plan: 'Analytics'
    schema: {
      name: tableName
      description: 'mysql-drift: every drift history row of the watched MySQL flexible servers (at least once: de-duplicate on RecordId).'
      columns: [for column in columns: {
        name: column.name
        type: tableColumnTypes[column.type]
        description: column.description
      }]
    }
  }
}

// The Function app has no virtual network: it reaches the endpoint over its public address, with an
// Entra token (the rule accepts no key).
resource endpoint 'Microsoft.Insights/dataCollectionEndpoints@2023-03-11' = {
  name: dataCollectionEndpointName
  location: location
  tags: tags
  properties: {
    description: 'mysql-drift: Logs Ingestion API endpoint for the MySqlDrift_CL rows.'
    networkAcls: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

// The transformation is `source`: the exporter already sends exactly the table's columns, TimeGenerated
// included (when mysql-drift detected the change), so each row goes in as it came. Anything more (a
// filter, a computed column) would make the table differ from the one columns file.
resource rule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: dataCollectionRuleName
  location: location
  tags: tags
  properties: {
    description: 'mysql-drift: drift history rows to ${tableName}.'
    dataCollectionEndpointId: endpoint.id
    streamDeclarations: {
      '${streamName}': {
        columns: [for column in columns: {
          name: column.name
          type: column.type
        }]
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          streamName
        ]
        destinations: [
          'workspace'
        ]
        transformKql: 'source'
        outputStream: streamName
      }
    ]
  }
  // A rule whose output stream names a table that does not exist yet is refused.
  dependsOn: [
    table
  ]
}

// The only role the export needs, on this rule only: not on the endpoint, the workspace or the group.
resource logsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(rule.id, principalId, monitoringMetricsPublisher)
  scope: rule
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('DRIFT_LOGS_ENDPOINT: the endpoint\'s Logs Ingestion URL.')
output logsIngestionEndpoint string = endpoint.properties.logsIngestion.endpoint
@description('DRIFT_LOGS_RULE_ID: the rule\'s immutable id, which the Logs Ingestion API addresses it by.')
output ruleImmutableId string = rule.properties.immutableId
@description('DRIFT_LOGS_STREAM')
output streamName string = streamName
output tableName string = table.name
