// The vault that holds ENCRYPTION_KEYS. Bicep creates no secret: the operator puts the keys in
// (README, "Deploying to Azure"), and the app reads them through a Key Vault reference with the
// managed identity, which may read secrets and nothing else.

param location string
param name string
param publicNetworkAccess string
param secretReaderPrincipalId string
param workspaceId string
param tags object

// Key Vault Secrets User: read secret values, no listing of keys or certificates, no writes.
var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: App Service resolves Key Vault references over the public endpoint; a default-deny firewall needs VNet integration and a private endpoint, which this deployment does not build (README, "What is not built yet"). Access is by Entra RBAC only.
  // checkov:skip=CKV_AZURE_189: The same: public network access is the keyVaultPublicNetworkAccess parameter, Enabled by default because App Service reads the secret over the public endpoint.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, secretReaderPrincipalId, secretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
    principalId: secretReaderPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Who read or changed a secret, and when.
resource audit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
