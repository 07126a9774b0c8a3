// The Azure Monitor workbook over MySqlDrift_CL (main.bicep's `enableWorkbook`): weakenings by severity
// over time, top callers, open findings by server. Its content is infra/workbook.json, kept as a file
// so that tests/test_loganalytics_infra.py can check every query against the table's columns.
@description('The workbook\'s resource name: a GUID.')
param name string
param displayName string
param location string
param tags object
param workspaceName string

@description('The table the workbook reads (the export module\'s output: it must exist first).')
param tableName string

resource workspace 'Microsoft.OperationalInsights/workspaces@2022-10-01' existing = {
  name: workspaceName
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: workspace.id
    description: 'mysql-drift: security drift of MySQL flexible servers, from ${tableName}.'
    version: 'Notebook/1.0'
    // The queries run against the workspace the workbook is attached to.
    serializedData: replace(loadTextContent('../workbook.json'), '{workspace-resource-id}', workspace.id)
  }
}

output id string = workbook.id
