"""Teams meeting join links: which meeting chat a link belongs to.

A classic join link carries the chat's thread id in its path:
https://teams.microsoft.com/l/meetup-join/19%3ameeting_...%40thread.v2/0?context=...
so a session scheduled by hand (no Graph) still knows its chat when the meeting starts.
Newer short links (https://teams.microsoft.com/meet/...) do not: those sessions are linked
when someone starts them with the reference.
"""

from __future__ import annotations

from urllib.parse import unquote, urlparse

MAX_LENGTH = 2048


def is_meeting_link(url: str) -> bool:
    parsed = urlparse(url.strip())
    host = (parsed.hostname or "").lower()
    return (
        parsed.scheme == "https"
        and len(url) <= MAX_LENGTH
        and (host.endswith("teams.microsoft.com") or host.endswith("teams.live.com")
             or host.endswith("teams.microsoft.us") or host.endswith("teams.microsoftonline.cn"))
        and ("/l/meetup-join/" in parsed.path or parsed.path.startswith("/meet/"))
    )  # fmt: skip


def chat_id_of(url: str) -> str | None:
    """The meeting chat's thread id (19:meeting_...@thread.v2), if the link carries it."""
    parts = urlparse(url.strip()).path.split("/")
    if "meetup-join" not in parts:
        return None
    index = parts.index("meetup-join") + 1
    if index >= len(parts):
        return None
    thread = unquote(parts[index])
    if thread.startswith("19:") and "@thread." in thread:
        return thread
    return None


def is_meeting_chat(conversation_id: str) -> bool:
    """A Teams meeting's chat (19:meeting_...@thread.v2), e.g. one Graph installed the app in:
    its conversationUpdate may come without the meeting in channelData."""
    return conversation_id.startswith("19:meeting_")
