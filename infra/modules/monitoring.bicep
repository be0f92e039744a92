// Logs and telemetry: a Log Analytics workspace and a workspace-based Application Insights.
// The app sends its traces with APPLICATIONINSIGHTS_CONNECTION_STRING; the platform's logs
// (console, HTTP, Key Vault audit, PostgreSQL) reach the same workspace through diagnostic
// settings declared beside each resource.

param location string
param namePrefix string
param retentionDays int
param tags object

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionDays
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-insights'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
  }
}

output workspaceId string = workspace.id
output connectionString string = insights.properties.ConnectionString
