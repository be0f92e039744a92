"""Files sent to a person in their 1:1 chat with the bot, Teams' way: a file consent card,
then, once they accept, a PUT of the bytes to the upload URL Teams gives (a session on their
OneDrive), then a file info card that opens the file.

The upload URL arrives in an invoke, so it is checked before anything is sent: https on a host
FILE_UPLOAD_HOSTS allows (SharePoint by default), no user or password in it, no redirects
followed. Plain http only to a loopback host listed there (the tests' stand-in).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from botbuilder.schema import Activity
from botbuilder.schema.teams import FileConsentCardResponse
from yarl import URL

from bot.teams.turn import Turn

log = logging.getLogger(__name__)

FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"
UPLOAD_SECONDS = 10.0  # well inside the 15 s Teams waits for the invoke's answer


class UploadRefused(Exception):
    """The upload URL is not one the bot may send a file to."""


class UploadFailed(Exception):
    """The host did not take the file."""


@dataclass(frozen=True)
class UploadInfo:
    """Where Teams says to put the file, and how to show it afterwards."""

    name: str
    upload_url: str
    content_url: str
    unique_id: str
    file_type: str


@dataclass(frozen=True)
class FileConsentAnswer:
    """The person's answer to a file consent card, read at the boundary."""

    accepted: bool
    context: dict[str, Any]  # the card's acceptContext or declineContext, as sent
    upload: UploadInfo | None

    @classmethod
    def of(cls, response: FileConsentCardResponse) -> FileConsentAnswer:
        info = response.upload_info
        upload = None
        if info is not None and info.upload_url:
            upload = UploadInfo(
                name=str(info.name or ""),
                upload_url=str(info.upload_url),
                content_url=str(info.content_url or ""),
                unique_id=str(info.unique_id or ""),
                file_type=str(info.file_type or ""),
            )
        context = response.context if isinstance(response.context, dict) else {}
        return cls(response.action == "accept", context, upload)


class FileConsent(Protocol):
    """What a feature does when someone accepts or declines a file it offered."""

    async def on_file_consent(self, context: Turn, answer: FileConsentAnswer) -> None: ...


def consent_message(
    name: str,
    description: str,
    size: int,
    accept_context: dict[str, Any],
    decline_context: dict[str, Any],
) -> dict[str, Any]:
    """The activity (as JSON, for the outbox) offering a file: Teams shows Allow and Decline."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": FILE_CONSENT,
                "name": name,
                "content": {
                    "description": description,
                    "sizeInBytes": size,
                    "acceptContext": accept_context,
                    "declineContext": decline_context,
                },
            }
        ],
    }


def file_info_message(upload: UploadInfo, text: str) -> dict[str, Any]:
    """The activity showing the uploaded file, which opens it in Teams."""
    return {
        "type": "message",
        "text": text,
        "attachments": [
            {
                "contentType": FILE_INFO,
                "contentUrl": upload.content_url,
                "name": upload.name,
                "content": {"uniqueId": upload.unique_id, "fileType": upload.file_type},
            }
        ],
    }


def file_info_activity(upload: UploadInfo, text: str) -> Activity:
    """The same, as the activity a turn replies with."""
    return Activity().deserialize(file_info_message(upload, text))


@dataclass
class Uploader:
    http: aiohttp.ClientSession
    # "*.sharepoint.com" (any host under it) or a host name; https only, but for loopback.
    allowed_hosts: tuple[str, ...]

    def allows(self, url: str) -> bool:
        try:
            parsed = URL(url)
        except ValueError:
            return False
        host = (parsed.host or "").lower().rstrip(".")
        if not parsed.is_absolute() or not host or parsed.user or parsed.password:
            return False
        if not any(_matches(host, pattern) for pattern in self.allowed_hosts):
            return False
        if parsed.scheme == "https":
            return True
        return parsed.scheme == "http" and _is_loopback(host)

    async def put(self, url: str, content: bytes) -> None:
        """Sends the whole file in one PUT, with Content-Range, as Teams' upload session
        expects; raises UploadRefused for a URL not allowed, UploadFailed if it is not taken."""
        if not self.allows(url):
            raise UploadRefused("the upload URL is not on a host FILE_UPLOAD_HOSTS allows")
        size = len(content)
        headers = {"Content-Length": str(size), "Content-Range": f"bytes 0-{size - 1}/{size}"}
        try:
            async with self.http.put(
                URL(url, encoded=True),
                data=content,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=UPLOAD_SECONDS),
            ) as response:
                if response.status not in (200, 201):
                    raise UploadFailed(f"the upload was answered {response.status}")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise UploadFailed(f"the upload did not go through: {type(error).__name__}") from None


def _matches(host: str, pattern: str) -> bool:
    pattern = pattern.strip().lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
