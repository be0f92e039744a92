// The Azure Bot registration: Teams sends activities to the endpoint, and the bot signs in to the
// Bot Connector as the user-assigned managed identity, so there is no app password anywhere.

param name string
param displayName string
param sku string
param endpoint string
param identityClientId string
param identityResourceId string
param tenantId string
param tags object

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: name
  location: 'global'
  tags: tags
  kind: 'azurebot'
  sku: {
    name: sku
  }
  properties: {
    displayName: displayName
    endpoint: endpoint
    msaAppType: 'UserAssignedMSI'
    msaAppId: identityClientId
    msaAppTenantId: tenantId
    msaAppMSIResourceId: identityResourceId
    // No channel keys (Direct Line, Web Chat): only Entra-authenticated callers.
    disableLocalAuth: true
  }
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
      enableCalling: false
    }
  }
}
