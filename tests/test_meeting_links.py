"""Which meeting chat a Teams join link belongs to."""

from __future__ import annotations

import pytest

from bot.teams.meeting_links import chat_id_of, is_meeting_link

CLASSIC = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA2ZTk1YjQtYjQ0MS00%40thread.v2/0"
    "?context=%7b%22Tid%22%3a%22aa%22%2c%22Oid%22%3a%22bb%22%7d"
)


def test_a_classic_link_names_its_chat() -> None:
    assert is_meeting_link(CLASSIC)
    assert chat_id_of(CLASSIC) == "19:meeting_NjA2ZTk1YjQtYjQ0MS00@thread.v2"


def test_a_short_link_is_a_meeting_link_without_a_chat() -> None:
    short = "https://teams.microsoft.com/meet/3456789012345?p=AbCdEf"
    assert is_meeting_link(short)
    assert chat_id_of(short) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0",  # not https
        "https://teams.microsoft.com.evil.example/l/meetup-join/19%3ameeting_x%40thread.v2/0",
        "https://example.org/l/meetup-join/19%3ameeting_x%40thread.v2/0",
        "https://teams.microsoft.com/l/chat/19%3ameeting_x%40thread.v2/0",
        "not a link",
    ],
)
def test_other_links_are_refused(url: str) -> None:
    assert not is_meeting_link(url)
