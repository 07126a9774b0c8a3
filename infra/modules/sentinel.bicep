// Microsoft Sentinel on the workspace, and the analytics rules over MySqlDrift_CL (main.bicep's
// `enableSentinel`). Both are extension resources of the workspace. The queries are kept as files,
// infra/sentinel-*.kql, which tests/test_loganalytics_infra.py checks against the table's columns.
param workspaceName string

@description('The table the rules read (the export module\'s output: it must exist before a rule names it).')
param tableName string

resource workspace 'Microsoft.OperationalInsights/workspaces@2022-10-01' existing = {
  name: workspaceName
}

resource onboarding 'Microsoft.SecurityInsights/onboardingStates@2024-09-01' = {
  scope: workspace
  name: 'default'
  properties: {}
}

// One alert per high or critical weakening. The export is at least once, so the query keeps the first
// copy of each RecordId and alerts only on rows first ingested since the previous run; the day of
// look-back lets a row exported late (the outbox retrying) still alert once.
resource weakeningRule 'Microsoft.SecurityInsights/alertRules@2024-09-01' = {
  scope: workspace
  name: guid(workspace.id, tableName, 'mysql-drift-weakening')
  kind: 'Scheduled'
  properties: {
    displayName: 'MySQL flexible server: security setting weakened (mysql-drift)'
    description: 'mysql-drift saw a high or critical weakening of a MySQL flexible server\'s security settings (firewall, TLS, authentication, auditing, ...). The alert carries who changed it, from where, the before and after, and the az command that undoes it.'
    enabled: true
    severity: 'High'
    query: loadTextContent('../sentinel-weakening.kql')
    queryFrequency: 'PT15M'
    queryPeriod: 'P1D'
    triggerOperator: 'GreaterThan'
    triggerThreshold: 0
    suppressionEnabled: false
    suppressionDuration: 'PT1H'
    tactics: [
      'DefenseEvasion'
    ]
    techniques: [
      'T1562'
    ]
    eventGroupingSettings: {
      aggregationKind: 'AlertPerResult'
    }
    entityMappings: [
      {
        entityType: 'Account'
        fieldMappings: [
          {
            identifier: 'FullName'
            columnName: 'ChangedBy'
          }
        ]
      }
      {
        entityType: 'IP'
        fieldMappings: [
          {
            identifier: 'Address'
            columnName: 'ClientIp'
          }
        ]
      }
      {
        entityType: 'AzureResource'
        fieldMappings: [
          {
            identifier: 'ResourceId'
            columnName: 'ServerId'
          }
        ]
      }
    ]
    customDetails: {
      Setting: 'Setting'
      Before: 'Before'
      After: 'After'
      DriftSeverity: 'Severity'
      Control: 'Control'
      Remediation: 'Remediation'
      FindingId: 'FindingId'
      AlertId: 'AlertId'
    }
    alertDetailsOverride: {
      alertDisplayNameFormat: 'MySQL drift: {{Setting}} weakened on {{Server}} ({{Severity}})'
      alertDescriptionFormat: '{{Why}} Changed by {{ChangedBy}}. To undo: {{Remediation}}'
    }
    incidentConfiguration: {
      createIncident: true
      groupingConfiguration: {
        enabled: true
        reopenClosedIncident: false
        lookbackDuration: 'PT5H'
        matchingMethod: 'Selected'
        groupByEntities: [
          'AzureResource'
        ]
        groupByAlertDetails: []
        groupByCustomDetails: []
      }
    }
  }
  dependsOn: [
    onboarding
  ]
}

// One caller weakening several settings within an hour, whatever their severity: a script or a
// compromised account loosening servers one setting at a time.
resource burstRule 'Microsoft.SecurityInsights/alertRules@2024-09-01' = {
  scope: workspace
  name: guid(workspace.id, tableName, 'mysql-drift-burst')
  kind: 'Scheduled'
  properties: {
    displayName: 'MySQL flexible servers: several weakenings by one caller in an hour (mysql-drift)'
    description: 'One caller weakened three or more security settings of MySQL flexible servers within an hour (mysql-drift).'
    enabled: true
    severity: 'Medium'
    query: loadTextContent('../sentinel-burst.kql')
    queryFrequency: 'PT1H'
    queryPeriod: 'PT1H'
    triggerOperator: 'GreaterThan'
    triggerThreshold: 0
    suppressionEnabled: false
    suppressionDuration: 'PT1H'
    tactics: [
      'DefenseEvasion'
    ]
    techniques: [
      'T1562'
    ]
    eventGroupingSettings: {
      aggregationKind: 'AlertPerResult'
    }
    entityMappings: [
      {
        entityType: 'Account'
        fieldMappings: [
          {
            identifier: 'FullName'
            columnName: 'ChangedBy'
          }
        ]
      }
      {
        entityType: 'IP'
        fieldMappings: [
          {
            identifier: 'Address'
            columnName: 'ClientIp'
          }
        ]
      }
    ]
    customDetails: {
      Weakenings: 'Weakenings'
      Servers: 'Servers'
      Settings: 'Settings'
    }
    alertDetailsOverride: {
      alertDisplayNameFormat: 'MySQL drift: {{ChangedBy}} weakened {{Weakenings}} settings in an hour'
      alertDescriptionFormat: 'Servers: {{Servers}}. Settings: {{Settings}}.'
    }
    incidentConfiguration: {
      createIncident: true
      groupingConfiguration: {
        enabled: true
        reopenClosedIncident: false
        lookbackDuration: 'PT5H'
        matchingMethod: 'Selected'
        groupByEntities: [
          'Account'
        ]
        groupByAlertDetails: []
        groupByCustomDetails: []
      }
    }
  }
  dependsOn: [
    onboarding
  ]
}

output weakeningRuleName string = weakeningRule.name
output burstRuleName string = burstRule.name
