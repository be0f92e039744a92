"""Settings, read from the environment and `.env` (see `.env.example` for every key)."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# In a checkout, `.env` and the default SQLite file live at its top, wherever the bot is started
# from. An installed wheel has no checkout: there both are relative to the working directory.
_SOURCE_TOP = Path(__file__).resolve().parents[2]
PROJECT_ROOT = _SOURCE_TOP if (_SOURCE_TOP / "pyproject.toml").is_file() else Path()


DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'reflective-practice.db'}"


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class DatabaseAuth(StrEnum):
    PASSWORD = "password"  # whatever DATABASE_URL carries (a password, or none for trust)
    ENTRA = "entra"  # a Microsoft Entra access token from the host's managed identity


class AppType(StrEnum):
    """MICROSOFT_APP_TYPE, as botframework-connector spells the values."""

    MULTI_TENANT = "MultiTenant"
    SINGLE_TENANT = "SingleTenant"
    USER_ASSIGNED_MSI = "UserAssignedMSI"  # the app id is a user-assigned managed identity


class Facilitator(BaseModel):
    """Someone in the partnership's facilitator pool (FACILITATORS, a JSON list)."""

    name: str
    aad_object_id: str  # their Entra object id: how the bot finds them in Teams
    email: str = ""


DEFAULT_OFFERED_MODELS = ("think_space", "space_to_think", "re_think")
_PROTOCOL_ID = re.compile(r"^[a-z][a-z0-9_]*$")  # as bot.core.protocols checks a file's id

DEFAULT_SIGNPOSTS = [
    "The statutory route: raise it at the child's child in need, core group or strategy meeting.",
    "The partnership's escalation protocol for resolving professional differences.",
    "Supervision with your own manager.",
]


class SettingsError(ValueError):
    """A setting is missing or wrong; the message says which and what to do."""


def _is_guid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # A refusal must not quote the settings it was given: they hold secrets (a database
        # URL's password, the encryption keys), and pydantic would print part of them.
        hide_input_in_errors=True,
    )

    mode: Mode = Mode.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = 3978
    log_level: str = "INFO"
    # Traces (bot.core.telemetry) go to this Application Insights resource when set; else to
    # OTLP/HTTP when the standard OTEL_EXPORTER_OTLP_ENDPOINT variable is set; else nowhere.
    applicationinsights_connection_string: str = ""

    # Database: SQLite file by default, PostgreSQL with postgresql+asyncpg://...
    database_url: str = DEFAULT_DATABASE_URL
    # entra: PostgreSQL's password is an Entra access token from the host's managed identity
    # (DATABASE_URL names the identity's role, without a password).
    database_auth: DatabaseAuth = DatabaseAuth.PASSWORD
    # The user-assigned managed identity to sign in to the database as (its client id); empty:
    # the host's system-assigned one. azure-identity's ManagedIdentityCredential, unlike
    # DefaultAzureCredential, does not read this variable itself, so settings pass it on.
    azure_client_id: str = ""
    # How long to wait for a connection, or for one statement, before giving up: a turn that
    # gives up answers 503 so Teams sends it again (Teams itself gives up on a turn at 15 s).
    database_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Bring the schema up to date when the app starts (under a PostgreSQL advisory lock, so
    # instances started together migrate once). Off: `reflective-practice-migrate` does it, as
    # a release's one-off step; an app whose database is behind its code refuses to start.
    migrate_on_start: bool = False

    # Channels served besides Teams ("msteams"): none in production. The Bot Framework
    # Emulator is "emulator"; webchat and directline let anyone with a token type a from.id.
    extra_channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # How long a turn's claim on an activity holds without renewal: a process killed mid-turn
    # blocks Teams' retry of that activity for at most this long.
    activity_claim_seconds: float = Field(default=20.0, ge=1, le=300)

    # Bot identity. Empty app id means "no inbound authentication", for local tries only.
    microsoft_app_id: str = ""
    microsoft_app_password: str = ""
    microsoft_app_type: AppType = AppType.MULTI_TENANT
    microsoft_app_tenant_id: str = ""
    # Only these Entra tenants may use the bot; empty list means any (development only).
    allowed_tenant_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Overrides of the Bot Framework token endpoints (national clouds; loopback in tests).
    to_bot_from_channel_openid_metadata_url: str = ""
    to_bot_from_channel_token_issuer: str = ""
    to_channel_from_bot_login_url: str = ""
    to_channel_from_bot_oauth_scope: str = ""

    # Fernet keys (url-safe base64, 32 bytes), newest first; older keys still decrypt.
    encryption_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)

    partnership_name: str = "Safeguarding Children Partnership"
    reference_prefix: str = "RP"
    # Protocol ids (the files' names without .toml), in the order the form offers them; each
    # needs a protocol file, built in or in PROTOCOLS_DIR (checked when the app starts).
    offered_models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_OFFERED_MODELS)
    )
    child_protection_text: str = (
        "If a child is at immediate risk of harm, do not wait: follow your local child "
        "protection procedures now. Call the police on 999 if a child is in immediate danger, "
        "or contact children's social care (out of hours: the emergency duty team)."
    )
    child_protection_url: str = "https://www.proceduresonline.com/"
    narrative_max_chars: int = 1000

    # Triage. Admins: Entra object ids, and/or the members of one Teams conversation (a team's
    # channel or a group chat where the bot is installed), read through the Bot Connector.
    admin_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    admin_group_conversation_id: str = ""
    facilitators: list[Facilitator] = Field(default_factory=list)
    decline_signposts: list[str] = Field(default_factory=lambda: list(DEFAULT_SIGNPOSTS))
    triage_reminder_working_days: int = Field(default=2, ge=1, le=30)
    digest_weekday: int = Field(default=0, ge=0, le=6)  # 0 = Monday
    digest_hour: int = Field(default=9, ge=0, le=23)
    time_zone: str = "Europe/London"
    working_day_start_hour: int = Field(default=9, ge=0, le=23)
    working_day_end_hour: int = Field(default=17, ge=1, le=24)
    # Bank holidays announced after this release (England and Wales ones come built in).
    extra_bank_holidays: Annotated[list[date], NoDecode] = Field(default_factory=list)
    # How often the scheduler looks for due work (messages to send, reminders, digests).
    scheduler_interval_seconds: float = Field(default=15.0, gt=0)

    # Sessions in meeting chats. Extra or changed protocol files (TOML) beside the built-in ones.
    protocols_dir: Path | None = None
    # How often the live stage card's "time left" is redrawn (Teams allows 60 posts or
    # updates in 30 s per conversation; once a minute keeps well inside that).
    session_card_refresh_seconds: float = Field(default=60.0, ge=5, le=600)
    # A running or paused session nobody uses (no button, role or contribution) for this many
    # hours past its planned end is ended by the bot, with its summary; its card stops being
    # redrawn. Meetings' own end (Teams' meetingEnd) ends a session at once.
    session_idle_hours: float = Field(default=3.0, gt=0, le=168)
    # Meeting roles that may drive a session besides its facilitator; empty: facilitator only.
    # Organiser only by default: many tenants let everyone present, guests included.
    session_control_roles: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["organizer"]
    )

    # The session on a screen (bot.sessions.pages). The address people's browsers reach the
    # app at, for the links it gives (https://reflective.example.org); empty: http://HOST:PORT.
    public_url: str = ""
    # How long a room display's link works (it stops sooner if its session ends).
    room_link_hours: float = Field(default=4.0, gt=0, le=24)

    # The Teams tab (the session in a meeting's side panel and on its stage): its sign-on
    # tokens' audience, empty: api://<PUBLIC_URL's host>/<MICROSOFT_APP_ID>; and where their
    # issuer publishes its signing keys.
    tab_sso_audience: str = ""
    tab_sso_metadata_url: str = (
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
    )

    # Microsoft Graph: finding free times and booking Teams meetings. Off while GRAPH_ORGANISER
    # is empty (admins then schedule by hand, with a join link).
    # The mailbox the meetings live on, as its Entra object id: Graph's look-up of an online
    # meeting by its join link takes the object id only, not a UPN.
    graph_organiser: str = ""
    graph_tenant_id: str = ""  # empty: MICROSOFT_APP_TENANT_ID
    graph_client_id: str = ""  # empty: MICROSOFT_APP_ID
    # Exactly one way to sign in: a secret, a certificate file, or the host's managed identity.
    graph_client_secret: str = ""
    graph_certificate_path: str = ""
    graph_use_managed_identity: bool = False
    # National clouds use other hosts (https://graph.microsoft.us/v1.0, login.microsoftonline.us).
    graph_endpoint: str = "https://graph.microsoft.com/v1.0"
    graph_authority_host: str = "https://login.microsoftonline.com"
    # The app's id in the organisation's app catalog, to install it in booked meetings' chats;
    # empty: the facilitator adds the app to the meeting by hand.
    teams_app_catalog_id: str = ""
    # How far ahead to look for free times, in calendar days, and how many to offer.
    slot_search_days: int = Field(default=21, ge=1, le=90)
    slots_offered: int = Field(default=3, ge=1, le=6)
    # The facilitator's reminders: the day before (at this hour) and this many minutes before.
    reminder_day_before_hour: int = Field(default=9, ge=0, le=23)
    reminder_minutes_before: int = Field(default=15, ge=1, le=240)

    # Files the bot sends (the report's CSV, bot.teams.files) are PUT only to upload URLs on
    # these hosts, over https: "*.sharepoint.com" is any host under it. A loopback host listed
    # here may be plain http (tests); no other.
    file_upload_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*.sharepoint.com"]
    )

    # Retention (bot.privacy.retention; the README's data map says what each covers), in days.
    # Case text, names and who was involved: from the referral's closure (declined, withdrawn,
    # noted, or its session held).
    retention_case_days: int = Field(default=365, ge=1, le=3650)
    # The people the bot knows by email, and where to reach them: from their last use.
    retention_people_days: int = Field(default=365, ge=1, le=3650)
    # A referral being written, or any conversation's dialog state: from its last change.
    retention_draft_days: int = Field(default=30, ge=1, le=365)
    # The audit log's actors, then replaced by pseudonyms (the entries stay).
    retention_audit_days: int = Field(default=2190, ge=30, le=7300)

    # Teams app package (make package).
    app_name: str = "Reflective practice"
    app_developer_name: str = "Safeguarding Partnership"  # Teams allows 32 characters
    app_website_url: str = "https://example.org/reflective-practice"
    app_privacy_url: str = "https://example.org/reflective-practice/privacy"
    app_terms_url: str = "https://example.org/reflective-practice/terms"

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def tab_audience(self) -> str:
        host = self.base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        return self.tab_sso_audience or f"api://{host}/{self.microsoft_app_id}"

    @property
    def graph_enabled(self) -> bool:
        return bool(self.graph_organiser)

    @property
    def app_install_link(self) -> str:
        """A Teams deep link that opens the app's page, to add it; empty without an app id.
        An app in the organisation's catalog goes by its catalog id, an uploaded one by its
        manifest id (MICROSOFT_APP_ID: manifest/pack.py makes the two the same)."""
        app_id = self.teams_app_catalog_id or self.microsoft_app_id
        return f"https://teams.microsoft.com/l/app/{app_id}" if app_id else ""

    _split = field_validator(
        "allowed_tenant_ids",
        "extra_channels",
        "encryption_keys",
        "offered_models",
        "admin_ids",
        "extra_bank_holidays",
        "session_control_roles",
        "file_upload_hosts",
        mode="before",
    )(_split_csv)

    @field_validator("protocols_dir", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        return value or None

    @field_validator("database_url", mode="before")
    @classmethod
    def _empty_means_default(cls, value: object) -> object:
        return value or DEFAULT_DATABASE_URL

    @field_validator("microsoft_app_type", mode="before")
    @classmethod
    def _known_app_type(cls, value: object) -> object:
        # botframework-connector compares the type in lower case, and takes anything it does
        # not know for MultiTenant: a typo would silently change how the bot signs in.
        if isinstance(value, str):
            for app_type in AppType:
                if value.strip().lower() == app_type.value.lower():
                    return app_type
            raise SettingsError(
                f"MICROSOFT_APP_TYPE is {value!r}: use one of "
                + ", ".join(app_type.value for app_type in AppType)
                + "."
            )
        return value

    @model_validator(mode="after")
    def _bot_identity_is_complete(self) -> Settings:
        kind = f"MICROSOFT_APP_TYPE={self.microsoft_app_type.value}"
        if self.microsoft_app_type is AppType.USER_ASSIGNED_MSI:
            if not self.microsoft_app_id:
                raise SettingsError(
                    f"{kind} needs MICROSOFT_APP_ID: the managed identity's client id."
                )
            if not self.microsoft_app_tenant_id:
                raise SettingsError(
                    f"{kind} needs MICROSOFT_APP_TENANT_ID: the tenant the identity is in."
                )
            if self.microsoft_app_password:
                raise SettingsError(
                    f"{kind} gets the bot's tokens from the host's managed identity: leave "
                    "MICROSOFT_APP_PASSWORD empty, and delete the secret wherever it is kept."
                )
        if self.microsoft_app_type is AppType.SINGLE_TENANT:
            for name, value in (
                ("MICROSOFT_APP_ID", self.microsoft_app_id),
                ("MICROSOFT_APP_PASSWORD", self.microsoft_app_password),
                ("MICROSOFT_APP_TENANT_ID", self.microsoft_app_tenant_id),
            ):
                if not value:
                    raise SettingsError(f"{kind} needs {name} (the app registration's).")
        return self

    @model_validator(mode="after")
    def _entra_database_url(self) -> Settings:
        if self.database_auth is not DatabaseAuth.ENTRA:
            return self
        shape = (
            "DATABASE_AUTH=entra signs in to PostgreSQL with a Microsoft Entra token, so "
            "DATABASE_URL must look like postgresql+asyncpg://<identity name>@<server>"
            ".postgres.database.azure.com:5432/<database>?ssl=require"
        )
        try:
            url = make_url(self.database_url)
        except ArgumentError:
            raise SettingsError(f"{shape}; it is not a database URL.") from None
        if url.get_backend_name() != "postgresql":
            raise SettingsError(f"{shape}; it names {url.get_backend_name()}.")
        if url.password:
            raise SettingsError(f"{shape}, without a password: remove the one it carries.")
        if not url.username:
            raise SettingsError(f"{shape}: it names no user (the identity's role).")
        return self

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.mode is Mode.PRODUCTION:
            if not self.encryption_keys:
                raise SettingsError(
                    "ENCRYPTION_KEYS is required in production: referral narratives are "
                    "encrypted at rest. Generate one with `make key` and keep it in Key Vault."
                )
            if not self.microsoft_app_id:
                raise SettingsError("MICROSOFT_APP_ID is required in production.")
            if not self.allowed_tenant_ids:
                raise SettingsError(
                    "ALLOWED_TENANT_IDS is required in production: only your tenant(s) may "
                    "use the bot."
                )
            if self.extra_channels:
                raise SettingsError(
                    "EXTRA_CHANNELS is for development only: in production only Teams is "
                    "served, as other channels let a caller name any user and tenant."
                )
        if self.graph_organiser:
            if not _is_guid(self.graph_organiser):
                raise SettingsError(
                    "GRAPH_ORGANISER must be the organiser's Entra object id (a GUID such as "
                    "3f2504e0-4f89-11d3-9a0c-0305e82c3301), not an email or UPN: Graph finds "
                    "a meeting's chat only by the object id. Entra admin centre > Users shows it."
                )
            ways = [
                bool(self.graph_client_secret),
                bool(self.graph_certificate_path),
                self.graph_use_managed_identity,
            ]
            if sum(ways) != 1:
                raise SettingsError(
                    "GRAPH_ORGANISER is set, so set exactly one of GRAPH_CLIENT_SECRET, "
                    "GRAPH_CERTIFICATE_PATH and GRAPH_USE_MANAGED_IDENTITY=true for Graph sign-in."
                )
        if self.working_day_start_hour >= self.working_day_end_hour:
            raise SettingsError("WORKING_DAY_START_HOUR must be before WORKING_DAY_END_HOUR.")
        if not self.offered_models:
            raise SettingsError("OFFERED_MODELS must name at least one session model.")
        for model in self.offered_models:
            if not _PROTOCOL_ID.match(model):
                raise SettingsError(
                    f"OFFERED_MODELS names {model!r}, which is not a protocol id: use the "
                    "protocol file's name without .toml, such as think_space."
                )
        if len(set(self.offered_models)) != len(self.offered_models):
            raise SettingsError("OFFERED_MODELS names a session model twice.")
        return self
