// The bot's host: App Service on Linux with the built-in Python runtime (no container image to
// build, scan and patch), at least two instances behind one health check, and the managed
// identity for Key Vault references. Code arrives by zip deploy (`make dist`, then
// `az webapp deploy`), built on the host by Oryx.

param location string
param name string
param planName string
param sku string
// Two or more: App Service restarts and moves instances one at a time, so one always serves.
@minValue(2)
param instanceCount int = 2
param zoneRedundant bool = true
param identityId string
param appSettings array
param workspaceId string
param tags object

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'linux'
  sku: {
    name: sku
    capacity: instanceCount
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource site 'Microsoft.Web/sites@2023-12-01' = {
  // checkov:skip=CKV_AZURE_17: Teams reaches the bot through the Bot Connector, which presents no client certificate; each request carries a Bot Framework token that the app validates.
  // checkov:skip=CKV_AZURE_222: The Bot Connector calls /api/messages from the internet, so the app must be publicly reachable; every request is authenticated in the app.
  name: name
  location: location
  tags: tags
  kind: 'app,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      linuxFxVersion: 'PYTHON|3.12'
      appCommandLine: 'python -m app'
      numberOfWorkers: instanceCount
      alwaysOn: true
      healthCheckPath: '/readyz'
      http20Enabled: true
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      remoteDebuggingEnabled: false
      scmIpSecurityRestrictionsUseMain: true
      appSettings: appSettings
    }
  }
}

// Deployments sign in with Entra (az webapp deploy), never with basic publishing credentials.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// The app's own log lines (stdout), the requests App Service saw, and platform events.
resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: site
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'AppServiceConsoleLogs'
        enabled: true
      }
      {
        category: 'AppServiceHTTPLogs'
        enabled: true
      }
      {
        category: 'AppServicePlatformLogs'
        enabled: true
      }
    ]
  }
}

output hostName string = site.properties.defaultHostName
// Every address the app may call out from: the database firewall admits these only.
output outboundIpAddresses array = split(site.properties.possibleOutboundIpAddresses, ',')
