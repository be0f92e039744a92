// The whole system in one resource group, with no secret in it (README, "Deploying to Azure"):
//
//   az deployment group create --resource-group RG \
//     --template-file infra/main.bicep --parameters @infra/main.parameters.json
//
// The one secret, ENCRYPTION_KEYS, is put in Key Vault by the operator afterwards; the app reads
// it through a Key Vault reference. Everything signs in as one user-assigned managed identity:
// the bot to the Bot Connector, the app to PostgreSQL, Key Vault and Microsoft Graph.

targetScope = 'resourceGroup'

// --- Names and place -------------------------------------------------------------------------

@description('Azure region for everything except the bot registration, which is global.')
param location string = resourceGroup().location

@description('Start of every resource name: lower-case letters, digits and hyphens, e.g. rp-prod.')
@minLength(3)
@maxLength(20)
param namePrefix string

@description('The web app: <name>.azurewebsites.net, unique across Azure.')
param webAppName string = '${namePrefix}-${uniqueString(resourceGroup().id)}'

@description('The key vault, 3 to 24 characters, unique across Azure.')
@minLength(3)
@maxLength(24)
param keyVaultName string = 'kv-${uniqueString(resourceGroup().id)}'

@description('The PostgreSQL server, unique across Azure. After a point-in-time restore, the restored server\'s name.')
param postgresServerName string = '${namePrefix}-pg-${uniqueString(resourceGroup().id)}'

@description('The Azure Bot registration (its handle), unique across Azure.')
param botName string = '${namePrefix}-bot-${uniqueString(resourceGroup().id)}'

@description('Tags put on every resource.')
param tags object = {}

// --- Capacity and resilience ------------------------------------------------------------------

@description('App Service plan size: Premium v3, which zone redundancy needs.')
@allowed([
  'P1v3'
  'P2v3'
  'P3v3'
  'P1mv3'
  'P2mv3'
])
param appServiceSku string = 'P1v3'

@description('Instances of the web app: at least two, so one can restart or move while the other serves.')
@minValue(2)
@maxValue(10)
param instanceCount int = 2

@description('Spread the instances over availability zones; the region must have them.')
param zoneRedundant bool = true

@description('PostgreSQL compute size, e.g. Standard_B2s (Burstable) or Standard_D2ds_v5 (GeneralPurpose).')
param postgresSkuName string = 'Standard_D2ds_v5'

@description('PostgreSQL tier; high availability needs GeneralPurpose or MemoryOptimized.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'GeneralPurpose'

@description('PostgreSQL storage in GB; it grows by itself when nearly full.')
param postgresStorageGB int = 32

@description('A standby server: ZoneRedundant (another zone), SameZone, or Disabled.')
@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param postgresHighAvailability string = 'Disabled'

@description('Days of automated backups, and so how far back a point-in-time restore can go.')
@minValue(7)
@maxValue(35)
param postgresBackupRetentionDays int = 35

@description('Copy backups to the paired region, to restore there if the region is lost. Fixed when the server is created.')
param postgresGeoRedundantBackup bool = true

@description('The database the app uses.')
param databaseName string = 'reflective_practice'

@description('Enabled: App Service reads the key over the vault\'s public endpoint (Entra RBAC still decides who may). Disabled needs a private endpoint and VNet integration, which this template does not build.')
@allowed([
  'Enabled'
  'Disabled'
])
param keyVaultPublicNetworkAccess string = 'Enabled'

@description('Days Log Analytics keeps logs and telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 90

@description('Azure Bot pricing tier: S1 has a service level agreement, F0 has none (both carry Teams messages without limit).')
@allowed([
  'F0'
  'S1'
])
param botSku string = 'S1'

@description('The bot\'s name in the Azure Bot registration.')
param botDisplayName string = 'Reflective practice'

// --- What the partnership chooses (README, "Settings") ------------------------------------------

@description('ALLOWED_TENANT_IDS: Entra tenant ids whose people may use the bot.')
@minLength(1)
param allowedTenantIds array

@description('PARTNERSHIP_NAME: shown on the welcome card and in refusals.')
param partnershipName string

@description('ADMIN_IDS: Entra object ids of the triage admins.')
param adminIds array = []

@description('ADMIN_GROUP_CONVERSATION_ID: a Teams channel (19:...) whose members are admins.')
param adminGroupConversationId string = ''

@description('FACILITATORS: [{"name": "...", "aad_object_id": "...", "email": "..."}].')
param facilitators array = []

@description('OFFERED_MODELS: the session models a practitioner may choose.')
param offeredModels array = [
  'think_space'
  'space_to_think'
  're_think'
]

@description('TIME_ZONE: working hours, reminders and the digest follow it.')
param timeZone string = 'Europe/London'

@description('RETENTION_CASE_DAYS: days after a referral closes before its case text and names are erased.')
param retentionCaseDays int = 365

@description('RETENTION_PEOPLE_DAYS: days after someone last used the bot before it forgets them.')
param retentionPeopleDays int = 365

@description('RETENTION_DRAFT_DAYS: days an unfinished form is kept.')
param retentionDraftDays int = 30

@description('RETENTION_AUDIT_DAYS: days before audit actors become pseudonyms.')
param retentionAuditDays int = 2190

@description('MIGRATE_ON_START: migrate the database when the app starts (under a lock). false: run reflective-practice-migrate as a release step.')
param migrateOnStart bool = true

@description('GRAPH_ORGANISER: Entra object id of the mailbox meetings are booked in; empty turns Graph off.')
param graphOrganiser string = ''

@description('TEAMS_APP_CATALOG_ID: the app\'s id in the organisation\'s app catalog (not the manifest id).')
param teamsAppCatalogId string = ''

@description('Any other settings from .env.example, as [{"name": "CHILD_PROTECTION_URL", "value": "..."}]. Never a secret.')
param extraAppSettings array = []

// --- Resources ----------------------------------------------------------------------------------

// The name Key Vault keeps the Fernet keys under; README, "Deploying to Azure", step 2, sets it.
var encryptionKeysSecretName = 'encryption-keys'
var botEndpoint = 'https://${webAppName}.azurewebsites.net/api/messages'
// Known before the server exists, so the app's settings and the server's firewall (which needs
// the app's outbound addresses) do not wait on each other.
var databaseHost = '${postgresServerName}.postgres.database.azure.com'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-identity'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    namePrefix: namePrefix
    retentionDays: logRetentionDays
    tags: tags
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    name: keyVaultName
    publicNetworkAccess: keyVaultPublicNetworkAccess
    secretReaderPrincipalId: identity.properties.principalId
    workspaceId: monitoring.outputs.workspaceId
    tags: tags
  }
}

// Every name here is a field of bot/core/settings.py (upper-cased) or belongs to App Service,
// azure-identity or Application Insights; tests/test_infra.py checks that.
var appSettings = concat([
  {
    name: 'MODE'
    value: 'production'
  }
  {
    name: 'HOST'
    value: '0.0.0.0'
  }
  {
    name: 'PORT'
    value: '8000'
  }
  {
    name: 'WEBSITES_PORT'
    value: '8000'
  }
  {
    name: 'LOG_LEVEL'
    value: 'INFO'
  }
  {
    // Oryx installs build/deploy.zip's requirements.txt on the host.
    name: 'SCM_DO_BUILD_DURING_DEPLOYMENT'
    value: 'true'
  }
  {
    // Seconds between SIGTERM and SIGKILL: turns under way (15 s) and the scheduler's run finish.
    name: 'WEBSITES_CONTAINER_STOP_TIME_LIMIT'
    value: '30'
  }
  {
    // The portal's Application Insights auto-instrumentation would attach the distro, which
    // records full URLs (Graph ids, join links): the app makes its own spans instead.
    name: 'ApplicationInsightsAgent_EXTENSION_VERSION'
    value: 'disabled'
  }
  {
    name: 'MIGRATE_ON_START'
    value: migrateOnStart ? 'true' : 'false'
  }
  {
    // No password: the pool signs in with an Entra token for the managed identity.
    name: 'DATABASE_URL'
    value: 'postgresql+asyncpg://${identity.name}@${databaseHost}:5432/${databaseName}?ssl=require'
  }
  {
    name: 'DATABASE_AUTH'
    value: 'entra'
  }
  {
    // azure-identity picks the user-assigned identity by its client id.
    name: 'AZURE_CLIENT_ID'
    value: identity.properties.clientId
  }
  {
    name: 'ENCRYPTION_KEYS'
    value: '@Microsoft.KeyVault(SecretUri=${vault.outputs.uri}secrets/${encryptionKeysSecretName}/)'
  }
  {
    name: 'MICROSOFT_APP_TYPE'
    value: 'UserAssignedMSI'
  }
  {
    name: 'MICROSOFT_APP_ID'
    value: identity.properties.clientId
  }
  {
    name: 'MICROSOFT_APP_TENANT_ID'
    value: identity.properties.tenantId
  }
  {
    name: 'ALLOWED_TENANT_IDS'
    value: join(allowedTenantIds, ',')
  }
  {
    name: 'PARTNERSHIP_NAME'
    value: partnershipName
  }
  {
    name: 'ADMIN_IDS'
    value: join(adminIds, ',')
  }
  {
    name: 'ADMIN_GROUP_CONVERSATION_ID'
    value: adminGroupConversationId
  }
  {
    name: 'FACILITATORS'
    value: string(facilitators)
  }
  {
    name: 'OFFERED_MODELS'
    value: join(offeredModels, ',')
  }
  {
    name: 'TIME_ZONE'
    value: timeZone
  }
  {
    name: 'RETENTION_CASE_DAYS'
    value: string(retentionCaseDays)
  }
  {
    name: 'RETENTION_PEOPLE_DAYS'
    value: string(retentionPeopleDays)
  }
  {
    name: 'RETENTION_DRAFT_DAYS'
    value: string(retentionDraftDays)
  }
  {
    name: 'RETENTION_AUDIT_DAYS'
    value: string(retentionAuditDays)
  }
  {
    name: 'GRAPH_ORGANISER'
    value: graphOrganiser
  }
  {
    name: 'GRAPH_USE_MANAGED_IDENTITY'
    value: 'true'
  }
  {
    name: 'GRAPH_CLIENT_ID'
    value: identity.properties.clientId
  }
  {
    name: 'GRAPH_TENANT_ID'
    value: identity.properties.tenantId
  }
  {
    name: 'TEAMS_APP_CATALOG_ID'
    value: teamsAppCatalogId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: monitoring.outputs.connectionString
  }
], extraAppSettings)

module web 'modules/web.bicep' = {
  name: 'web'
  params: {
    location: location
    name: webAppName
    planName: '${namePrefix}-plan'
    sku: appServiceSku
    instanceCount: instanceCount
    zoneRedundant: zoneRedundant
    identityId: identity.id
    appSettings: appSettings
    workspaceId: monitoring.outputs.workspaceId
    tags: tags
  }
}

module database 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    location: location
    name: postgresServerName
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    storageSizeGB: postgresStorageGB
    highAvailability: postgresHighAvailability
    backupRetentionDays: postgresBackupRetentionDays
    geoRedundantBackup: postgresGeoRedundantBackup
    databaseName: databaseName
    tenantId: identity.properties.tenantId
    adminPrincipalId: identity.properties.principalId
    adminPrincipalName: identity.name
    allowedIpAddresses: web.outputs.outboundIpAddresses
    workspaceId: monitoring.outputs.workspaceId
    tags: tags
  }
}

module bot 'modules/bot.bicep' = {
  name: 'bot'
  params: {
    name: botName
    displayName: botDisplayName
    sku: botSku
    endpoint: botEndpoint
    identityClientId: identity.properties.clientId
    identityResourceId: identity.id
    tenantId: identity.properties.tenantId
    tags: tags
  }
}

// What the README's next steps need: `az deployment group show ... --query properties.outputs`.
output webAppName string = webAppName
output webAppHostName string = web.outputs.hostName
output keyVaultName string = vault.outputs.name
output encryptionKeysSecretName string = encryptionKeysSecretName
output postgresServerName string = postgresServerName
output postgresHost string = database.outputs.host
output identityName string = identity.name
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
output botEndpoint string = botEndpoint
