"""Signed, short-lived links to a session's page: what the room display and the Teams tab open.

A link is `v1.<session>.<scope>.<expires>.<signature>`: the signature is an HMAC under a key
derived from the app's encryption keys (bot.core.crypto), so no table of links is kept and
any instance can check one. It holds no name and nothing said: only which session, what the
holder may see (`Scope`), and until when. A link stops working when it expires, and when its
session ends (the page checks the session each time), whichever comes first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot.core.crypto import Cipher

VERSION = "v1"
_SHAPE = re.compile(r"^v1\.([1-9][0-9]{0,12})\.(room|member)\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")


class Scope(StrEnum):
    ROOM = "room"  # the stage and the clock only: no names, no roles' holders
    MEMBER = "member"  # someone in the meeting's chat (the Teams tab): the roles' holders too


@dataclass(frozen=True)
class Link:
    session_id: int
    scope: Scope
    expires_at: datetime

    def body(self) -> str:
        return f"{VERSION}.{self.session_id}.{self.scope.value}.{int(self.expires_at.timestamp())}"


def issue(cipher: Cipher, session_id: int, scope: Scope, now: datetime, lasts: timedelta) -> str:
    link = Link(session_id, scope, (now + lasts).replace(microsecond=0))
    body = link.body()
    return f"{body}.{cipher.sign(body)}"


def read(cipher: Cipher, token: str, now: datetime) -> Link | None:
    """The link `token` stands for, if it is ours, unaltered and not expired; else None."""
    shape = _SHAPE.match(token)
    if shape is None:
        return None
    session, scope, expires, signature = shape.groups()
    link = Link(int(session), Scope(scope), datetime.fromtimestamp(int(expires), UTC))
    if not cipher.signed(link.body(), signature) or link.expires_at <= now:
        return None
    return link


@dataclass(frozen=True)
class RoomLinks:
    """Makes the room display's links: `<PUBLIC_URL>/live/<link>`, lasting ROOM_LINK_HOURS."""

    cipher: Cipher
    base_url: str
    lasts: timedelta

    def url(self, session_id: int, now: datetime) -> str:
        token = issue(self.cipher, session_id, Scope.ROOM, now, self.lasts)
        return f"{self.base_url.rstrip('/')}/live/{token}"
