"""The calendar port on Microsoft Graph v1.0, with msgraph-sdk.

The events live on one organiser mailbox (a service account or a shared mailbox with a
Teams licence); the app calls Graph with application permissions. Throttling (429) and
unavailability (503, 504) are retried by msgraph-core's default RetryHandler, which waits
as long as Retry-After says; what still fails becomes a `CalendarError` whose message
tells the admin what to fix.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Awaitable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ClientAuthenticationError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.kiota_client_factory import DEFAULT_CONNECTION_TIMEOUT, DEFAULT_REQUEST_TIMEOUT
from msgraph import GraphServiceClient
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.free_busy_status import FreeBusyStatus
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.online_meeting_provider_type import OnlineMeetingProviderType
from msgraph.generated.models.teams_app_installation import TeamsAppInstallation
from msgraph.generated.models.teams_app_permission_set import TeamsAppPermissionSet
from msgraph.generated.models.teams_app_resource_specific_permission import (
    TeamsAppResourceSpecificPermission,
)
from msgraph.generated.models.teams_app_resource_specific_permission_type import (
    TeamsAppResourceSpecificPermissionType,
)
from msgraph.generated.users.item.calendar.get_schedule.get_schedule_post_request_body import (
    GetSchedulePostRequestBody,
)
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import (
    CancelPostRequestBody,
)
from msgraph.generated.users.item.events.item.event_item_request_builder import (
    EventItemRequestBuilder,
)
from msgraph.generated.users.item.online_meetings.online_meetings_request_builder import (
    OnlineMeetingsRequestBuilder,
)
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as graph_middleware_options
from msgraph_core import GraphClientFactory

from bot.core.quiet_logs import keep_urls_out_of_logs
from bot.core.settings import Settings
from bot.scheduling.calendar_port import Booked, CalendarError, FreeBusy, NewMeeting
from bot.scheduling.graph_tracing import TracedTransport
from manifest.pack import TEMPLATE as MANIFEST_TEMPLATE

log = logging.getLogger(__name__)

GLOBAL_ENDPOINT = "https://graph.microsoft.com/v1.0"
GLOBAL_AUTHORITY = "https://login.microsoftonline.com"
# kiota sends a token over plain http only to these hosts (the tests' loopback Graph).
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})

T = TypeVar("T")


@dataclass(frozen=True)
class GraphConfig:
    """How to reach Graph; filled from settings. Exactly one way to sign in must be set."""

    tenant_id: str
    client_id: str
    client_secret: str = ""
    certificate_path: str = ""  # PEM or PKCS12 with the private key
    use_managed_identity: bool = False  # client_id, if set, picks a user-assigned identity
    # The mailbox the events live on. Prefer its Entra object id: the onlineMeetings API
    # documents /users/{userId} with the object id (the calendar API takes either).
    organiser: str = ""
    endpoint: str = GLOBAL_ENDPOINT  # national clouds: https://graph.microsoft.us/v1.0, ...
    authority_host: str = GLOBAL_AUTHORITY  # ... and https://login.microsoftonline.us, ...
    # Application RSC permissions in the app manifest, consented to when the app is installed
    # in a meeting chat (Graph wants them to match the manifest; empty sends none).
    consented_permissions: tuple[str, ...] = ()


def _credential(config: GraphConfig) -> AsyncTokenCredential:
    from azure.identity.aio import (
        CertificateCredential,
        ClientSecretCredential,
        ManagedIdentityCredential,
    )

    chosen = [
        name
        for name, on in (
            ("client_secret", bool(config.client_secret)),
            ("certificate_path", bool(config.certificate_path)),
            ("use_managed_identity", config.use_managed_identity),
        )
        if on
    ]
    if len(chosen) != 1:
        raise ValueError(
            "Graph sign-in: set exactly one of client_secret, certificate_path and "
            f"use_managed_identity (set now: {', '.join(chosen) or 'none'})"
        )
    if config.use_managed_identity:
        # Managed identity tokens come from the host (IMDS, App Service), not an authority.
        return ManagedIdentityCredential(client_id=config.client_id or None)
    if not config.tenant_id or not config.client_id:
        raise ValueError("Graph sign-in: tenant_id and client_id are required")
    if config.certificate_path:
        return CertificateCredential(
            config.tenant_id,
            config.client_id,
            certificate_path=config.certificate_path,
            authority=config.authority_host,
        )
    return ClientSecretCredential(
        config.tenant_id, config.client_id, config.client_secret, authority=config.authority_host
    )


def _endpoint_host(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("https", "http"):
        raise ValueError(f"Graph endpoint {endpoint!r} is not an absolute URL")
    if parts.scheme == "http" and host not in _LOOPBACK:
        raise ValueError(f"Graph endpoint {endpoint!r} must use https")
    return host


def graph_client(
    credential: AsyncTokenCredential,
    endpoint: str = GLOBAL_ENDPOINT,
    http_client: httpx.AsyncClient | None = None,
) -> GraphServiceClient:
    """A GraphServiceClient for `endpoint` that sends tokens to that host and no other.

    The scope is the endpoint host's `.default` (https://graph.microsoft.com/.default for
    the global cloud), so a national cloud asks its own Graph for tokens.
    """
    host = _endpoint_host(endpoint)
    keep_urls_out_of_logs()
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=[f"https://{host}/.default"], allowed_hosts=[host]
    )
    adapter = GraphRequestAdapter(auth, client=http_client)
    adapter.base_url = endpoint.rstrip("/")
    return GraphServiceClient(request_adapter=adapter)


class _Call(Enum):
    """What the adapter was doing, for messages an admin can act on."""

    FREE_BUSY = "read free/busy through the organiser's calendar"
    CREATE_EVENT = "create the meeting in the organiser's calendar"
    READ_EVENT = "read the meeting in the organiser's calendar"
    UPDATE_EVENT = "move the meeting in the organiser's calendar"
    CANCEL_EVENT = "cancel the meeting in the organiser's calendar"
    FIND_MEETING = "find the Teams meeting (and its chat) of the event"
    INSTALL_APP = "install the app in the meeting chat"


_CALENDAR_CALLS = frozenset(
    {_Call.CREATE_EVENT, _Call.READ_EVENT, _Call.UPDATE_EVENT, _Call.CANCEL_EVENT}
)
_NOT_BUSY = frozenset({FreeBusyStatus.Free})


class GraphCalendar:
    """`bot.scheduling.calendar_port.CalendarPort` on Graph: events on the organiser's mailbox."""

    def __init__(
        self,
        client: GraphServiceClient,
        organiser: str,
        *,
        consented_permissions: Sequence[str] = (),
    ) -> None:
        if not organiser:
            raise ValueError("the organiser mailbox (its Entra object id) is required")
        self._client = client
        self._organiser = organiser
        self._consented = tuple(consented_permissions)
        self._resources = AsyncExitStack()

    @classmethod
    def with_credential(
        cls,
        credential: AsyncTokenCredential,
        organiser: str,
        *,
        endpoint: str = GLOBAL_ENDPOINT,
        consented_permissions: Sequence[str] = (),
    ) -> GraphCalendar:
        """Builds the SDK client on its own HTTP client; `close()` closes both and the
        credential. Tests pass a credential with a fixed token and a loopback endpoint."""
        if not organiser:
            raise ValueError("the organiser mailbox (its Entra object id) is required")
        _endpoint_host(endpoint)  # refuse a bad endpoint before opening anything
        # msgraph-core wraps the client's transport in an AsyncGraphTransport without
        # aclose(), so closing the client leaves its connections open: keep the real
        # transport and close it ourselves.
        transport = httpx.AsyncHTTPTransport(http2=True)
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(
                transport=TracedTransport(transport),
                timeout=httpx.Timeout(DEFAULT_REQUEST_TIMEOUT, connect=DEFAULT_CONNECTION_TIMEOUT),
            ),
            options=graph_middleware_options,
        )
        calendar = cls(
            graph_client(credential, endpoint, http),
            organiser,
            consented_permissions=consented_permissions,
        )
        calendar._resources.push_async_callback(credential.close)
        calendar._resources.push_async_callback(transport.aclose)
        calendar._resources.push_async_callback(http.aclose)
        return calendar

    async def close(self) -> None:
        await self._resources.aclose()

    @property
    def endpoint(self) -> str:
        """The Graph base URL calls go to, e.g. https://graph.microsoft.com/v1.0."""
        return self._client.request_adapter.base_url

    @property
    def _user(self) -> UserItemRequestBuilder:
        return self._client.users.by_user_id(self._organiser)

    # The port.

    async def free_busy(self, people: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
        if not people:
            return []
        body = GetSchedulePostRequestBody(
            schedules=list(people),
            start_time=_graph_time(start, "UTC"),
            end_time=_graph_time(end, "UTC"),
            availability_view_interval=30,
        )
        answer = await self._graph(_Call.FREE_BUSY, self._user.calendar.get_schedule.post(body))
        asked = {person.lower(): person for person in people}
        result: list[FreeBusy] = []
        for schedule in (answer.value if answer else None) or []:
            person = asked.get((schedule.schedule_id or "").lower(), schedule.schedule_id or "")
            if schedule.error is not None:
                # Not whose (an email address), nor Graph's message, which may name them.
                log.warning(
                    "Graph could not read one person's free/busy: %s",
                    schedule.error.response_code,
                )
                continue
            busy = [
                (_utc(item.start), _utc(item.end))
                for item in schedule.schedule_items or []
                if item.status not in _NOT_BUSY and item.start and item.end
            ]
            result.append(FreeBusy(person=person, busy=busy))
        return result

    async def book(self, meeting: NewMeeting) -> Booked:
        event = Event(
            subject=meeting.subject,
            body=ItemBody(content_type=BodyType.Html, content=meeting.body_html),
            start=_graph_time(meeting.start, meeting.time_zone),
            end=_graph_time(meeting.end, meeting.time_zone),
            attendees=[
                Attendee(
                    email_address=EmailAddress(address=email, name=name or None),
                    type=AttendeeType.Required,
                )
                for name, email in meeting.attendees
            ],
            is_online_meeting=True,
            online_meeting_provider=OnlineMeetingProviderType.TeamsForBusiness,
            # Nobody reads the organiser mailbox: times are changed through the bot.
            allow_new_time_proposals=False,
            transaction_id=meeting.transaction_id,
        )
        created = await self._graph(_Call.CREATE_EVENT, self._user.events.post(event))
        if created is None or not created.id:
            raise CalendarError(502, "EmptyResponse", "Graph created the event but sent no id")
        join_url = created.online_meeting.join_url if created.online_meeting else None
        if not join_url:
            raise CalendarError(
                502,
                "NoTeamsMeeting",
                f"Graph created event {created.id} without a Teams meeting: the organiser "
                f"mailbox {self._organiser} needs a Teams licence and Teams as an allowed "
                "online meeting provider. Cancel the event in Outlook once that is fixed.",
            )
        # The chat is looked up separately (meeting_chat): a failure there must not hide
        # the id of an event that now exists.
        start = _utc(created.start) if created.start and created.start.date_time else None
        return Booked(event_id=created.id, join_url=join_url, chat_id=None, start=start)

    async def meeting_chat(self, join_url: str) -> str | None:
        query = OnlineMeetingsRequestBuilder.OnlineMeetingsRequestBuilderGetQueryParameters(
            filter="JoinWebUrl eq '{}'".format(join_url.replace("'", "''"))
        )
        found = await self._graph(
            _Call.FIND_MEETING,
            self._user.online_meetings.get(RequestConfiguration(query_parameters=query)),
        )
        for meeting in (found.value if found else None) or []:
            if meeting.chat_info and meeting.chat_info.thread_id:
                return meeting.chat_info.thread_id
        # Not visible yet: booking again with the same transaction id looks again.
        return None

    async def move(self, event_id: str, start: datetime, end: datetime, note: str) -> None:
        item = self._user.events.by_event_id(event_id)
        patch = Event(start=_graph_time(start, "UTC"), end=_graph_time(end, "UTC"))
        if note:
            # Graph: read the body first and keep the Teams "meeting blob" in it, or the
            # update turns the online meeting off.
            query = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(
                select=["body"]
            )
            current = await self._graph(
                _Call.READ_EVENT, item.get(RequestConfiguration(query_parameters=query))
            )
            old = current.body.content if current and current.body else None
            patch.body = ItemBody(content_type=BodyType.Html, content=_with_note(old or "", note))
        await self._graph(_Call.UPDATE_EVENT, item.patch(patch))

    async def cancel(self, event_id: str, note: str) -> None:
        body = CancelPostRequestBody(comment=note)
        try:
            await self._graph(
                _Call.CANCEL_EVENT, self._user.events.by_event_id(event_id).cancel.post(body)
            )
        except CalendarError as error:
            if error.status != 404:
                raise
            log.info("Event %s was already deleted; nothing to cancel", event_id)

    async def install_app(self, chat_id: str, teams_app_id: str) -> bool:
        base = self.endpoint.rstrip("/")
        installation = TeamsAppInstallation(
            additional_data={"teamsApp@odata.bind": f"{base}/appCatalogs/teamsApps/{teams_app_id}"}
        )
        if self._consented:
            installation.consented_permission_set = TeamsAppPermissionSet(
                resource_specific_permissions=[
                    TeamsAppResourceSpecificPermission(
                        permission_value=name,
                        permission_type=TeamsAppResourceSpecificPermissionType.Application,
                    )
                    for name in self._consented
                ]
            )
        try:
            await self._graph(
                _Call.INSTALL_APP,
                self._client.chats.by_chat_id(chat_id).installed_apps.post(installation),
            )
        except CalendarError as error:
            if error.status == 409:
                return False
            raise
        return True

    # Errors.

    async def _graph(self, call: _Call, request: Awaitable[T]) -> T:
        try:
            return await request
        except APIError as error:
            raise self._error(call, error) from error
        except ClientAuthenticationError as error:
            raise CalendarError(
                401,
                "TokenRequestFailed",
                f"Could not get a Graph token to {call.value}: check the Graph tenant id, "
                f"client id and secret, certificate or managed identity ({error.message})",
            ) from error
        except httpx.TransportError as error:
            raise CalendarError(
                0,
                "Unreachable",
                f"Could not reach Graph to {call.value}: {type(error).__name__} {error}",
            ) from error

    def _error(self, call: _Call, error: APIError) -> CalendarError:
        status = error.response_status_code or 0
        code, said = "", ""
        if isinstance(error, ODataError) and error.error is not None:
            code, said = error.error.code or "", error.error.message or ""
        code = code or f"Http{status}"
        graph_said = f"(Graph: {status} {code}{': ' + said if said else ''})"
        retry_after = _retry_after(error.response_headers)
        organiser = self._organiser
        if status == 401:
            text = (
                f"Graph rejected the bot's token when trying to {call.value}: check the Graph "
                "tenant id, client id and credential, and that the endpoint matches the cloud"
            )
        elif status == 403:
            text = f"Graph refused to {call.value}. " + self._permission_hint(call)
        elif status == 404 and call in (_Call.READ_EVENT, _Call.UPDATE_EVENT):
            text = "The event was deleted in Outlook, so it cannot be moved; book a new one"
        elif status == 404 and call is _Call.INSTALL_APP:
            text = (
                "Graph found no such chat or no such app in the organisation's app catalog: "
                "use the app's catalog id (appCatalogs/teamsApps id), which for an app "
                "uploaded to the org catalog differs from the manifest id"
            )
        elif status == 404:
            text = (
                f"Graph found no mailbox {organiser!r} to {call.value}: check the organiser "
                "setting (its Entra object id, of a user with an Exchange Online mailbox)"
            )
        elif status in (429, 503, 504):
            wait = f"; try again after {retry_after:g} s" if retry_after else ""
            text = (
                f"Graph is throttling or unavailable and still was after the SDK's retries "
                f"when trying to {call.value}{wait}"
            )
        else:
            text = f"Graph failed to {call.value}"
        return CalendarError(status, code, f"{text} {graph_said}", retry_after)

    def _permission_hint(self, call: _Call) -> str:
        organiser = self._organiser
        if call is _Call.FREE_BUSY:
            return (
                "Grant the application permission Calendars.ReadBasic (least; the bot's "
                "Calendars.ReadWrite also covers it) with admin consent; if RBAC for "
                "Applications in Exchange Online (or an older application access policy) "
                f"scopes the app, include the organiser mailbox {organiser}"
            )
        if call in _CALENDAR_CALLS:
            return (
                "Grant the application permission Calendars.ReadWrite with admin consent; if "
                "RBAC for Applications in Exchange Online (or an older application access "
                f"policy) scopes the app, include the organiser mailbox {organiser}"
            )
        if call is _Call.FIND_MEETING:
            return (
                "Grant the application permission OnlineMeetings.Read.All with admin consent, "
                "and an application access policy for the organiser: "
                "New-CsApplicationAccessPolicy -AppIds <bot app id>, then "
                f"Grant-CsApplicationAccessPolicy -Identity {organiser}. The event exists: "
                "booking again with the same transaction id does not make a second one"
            )
        return (
            "Grant the application permission "
            "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All with admin consent (the "
            "app declares resource-specific permissions, which ...ReadWriteSelfForChat.All "
            "cannot consent to)"
        )


def _retry_after(headers: object) -> float | None:
    """Seconds from a Retry-After header (number or HTTP date), if there is one."""
    value = None
    if isinstance(headers, httpx.Headers):
        value = headers.get("retry-after")
    elif isinstance(headers, dict):
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(when.tzinfo or UTC)).total_seconds())


def _graph_time(moment: datetime, zone: str) -> DateTimeTimeZone:
    """An aware datetime as Graph's dateTimeTimeZone: wall time in `zone` (IANA or UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone")
    try:
        tz = UTC if zone == "UTC" else ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"time zone {zone!r} is not an IANA name like Europe/London") from error
    wall = moment.astimezone(tz).replace(tzinfo=None)
    return DateTimeTimeZone(date_time=wall.isoformat(timespec="seconds"), time_zone=zone)


def _utc(value: DateTimeTimeZone | None) -> datetime:
    """A dateTimeTimeZone from Graph as an aware UTC datetime.

    Without a Prefer: outlook.timezone header Graph answers in UTC, as wall time with no
    offset ("2024-05-01T09:00:00.0000000"), so a missing offset means UTC.
    """
    if value is None or not value.date_time:
        raise CalendarError(502, "BadDateTime", "Graph sent a schedule item without a time")
    moment = datetime.fromisoformat(value.date_time)
    if moment.tzinfo is None:
        zone = value.time_zone or "UTC"
        if zone in ("UTC", "Etc/UTC", "tzone://Microsoft/Utc"):
            moment = moment.replace(tzinfo=UTC)
        else:
            try:
                moment = moment.replace(tzinfo=ZoneInfo(zone))
            except (ZoneInfoNotFoundError, ValueError) as error:
                raise CalendarError(
                    502, "UnexpectedTimeZone", f"Graph answered in time zone {zone!r}"
                ) from error
    return moment.astimezone(UTC)


_BODY_TAG = re.compile(r"<body[^>]*>", re.IGNORECASE)


def _with_note(body_html: str, note: str) -> str:
    """The event body with the note as a first paragraph, the rest (the Teams blob) kept."""
    paragraph = f"<p>{html.escape(note)}</p>"
    opening = _BODY_TAG.search(body_html)
    if opening is None:
        return paragraph + body_html
    return body_html[: opening.end()] + paragraph + body_html[opening.end() :]


def config_from_settings(settings: Settings) -> GraphConfig:
    """Graph sign-in from settings; the bot's own app registration unless told otherwise."""
    if settings.graph_use_managed_identity:
        # The identity's own client id (user-assigned), or none (system-assigned): never
        # the bot's app registration, which is not a managed identity.
        client_id = settings.graph_client_id
    else:
        client_id = settings.graph_client_id or settings.microsoft_app_id
    return GraphConfig(
        tenant_id=settings.graph_tenant_id or settings.microsoft_app_tenant_id,
        client_id=client_id,
        client_secret=settings.graph_client_secret,
        certificate_path=settings.graph_certificate_path,
        use_managed_identity=settings.graph_use_managed_identity,
        organiser=settings.graph_organiser,
        endpoint=settings.graph_endpoint,
        authority_host=settings.graph_authority_host,
        consented_permissions=chat_permissions(),
    )


def chat_permissions() -> tuple[str, ...]:
    """The app's chat-scoped RSC permissions, as its manifest declares them: consented to
    when Graph installs the app in a meeting chat (team-scoped ones do not apply there)."""
    manifest = json.loads(MANIFEST_TEMPLATE.read_text(encoding="utf-8"))
    granted = manifest.get("authorization", {}).get("permissions", {})
    return tuple(
        str(item["name"])
        for item in granted.get("resourceSpecific", [])
        if item.get("type") == "Application" and str(item.get("name", "")).endswith(".Chat")
    )


def graph_calendar(
    config: GraphConfig, credential: AsyncTokenCredential | None = None
) -> GraphCalendar:
    """The production calendar: signs in as configured and talks to `config.endpoint`.

    `credential` replaces the configured sign-in (tests give a fixed token)."""
    return GraphCalendar.with_credential(
        credential or _credential(config),
        config.organiser,
        endpoint=config.endpoint,
        consented_permissions=config.consented_permissions,
    )
