"""`report` on the triage desk over real HTTP: the card for admins, a refusal (recorded) for
anyone else, a polite answer to a period it cannot read; Download as CSV through Teams' file
consent card in the admin's 1:1 chat, the PUT to the upload URL, the file info card."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.core.database import session_factory
from bot.core.models import AuditEntry, ReferralRow
from bot.reports.handler import (
    DECLINED,
    NOT_HERE,
    NOT_THIS_TENANT,
    SENT_TO_CHAT,
    UPLOAD_FAILED,
    UPLOAD_REFUSED,
)
from bot.teams.files import FILE_CONSENT, FILE_INFO
from bot.triage.desk import NOT_ADMIN
from tests.support.card_schema import card_errors
from tests.support.client import TENANT, TeamsUser, card_text, cards_in, texts_in
from tests.support.connector import FakeConnector
from tests.support.databases import engine_for
from tests.support.triage import ADMIN, DESK, MESSAGE, Scene, triage_scene

MENTION = "<at>Reflective practice</at>"
Q4 = "2026-10-01..2026-12-31"


@pytest.fixture
async def desk(
    database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
) -> AsyncIterator[Scene]:
    """The triage desk registered, three referrals this quarter (the clock: 23 Nov 2026), and
    the loopback connector's host allowed for uploads (plain http, as it is loopback)."""
    hosts = ["*.sharepoint.com", "127.0.0.1"]
    async with triage_scene(database_url, connector, http, file_upload_hosts=hosts) as scene:
        await scene.register_desk()
        await _plant(database_url)
        yield scene


async def _plant(url: str) -> None:
    engine = engine_for(url)
    async with session_factory(engine)() as session, session.begin():
        for number, (created, agency, status) in enumerate(
            [
                (datetime(2026, 10, 5, 10, tzinfo=UTC), "Oak School", "declined"),
                (datetime(2026, 11, 2, 10, tzinfo=UTC), "oak school", "submitted"),
                (datetime(2026, 11, 9, 10, tzinfo=UTC), "Police", "submitted"),
            ],
            start=1,
        ):
            session.add(
                ReferralRow(
                    reference=f"RP-2026-09{number:02d}",
                    status=status,
                    created_at=created,
                    updated_at=created,
                    tenant_id=TENANT,
                    referrer_id=f"referrer-{number}",
                    referrer_name="Name",
                    conversation_reference={},
                    kind="child_family",
                    model="space_to_think",
                    agency=agency,
                    role="DSL",
                    is_lead_professional=True,
                    manager_agreed=True,
                    invitees=[],
                )
            )
    await engine.dispose()


async def test_admins_get_the_card_and_nobody_else(desk: Scene) -> None:
    sent = await desk.admin.say(f"{MENTION} report")
    [card] = cards_in(sent)
    assert card_errors(card) == []
    text = card_text(card)
    assert "Q4 2026: 1 October to 31 December 2026" in text
    charts = [node for node in card["body"][4]["items"] if node["type"].startswith("Chart.")]
    assert [chart["type"] for chart in charts] == [
        "Chart.VerticalBar",
        "Chart.Pie",
        "Chart.Donut",
        "Chart.HorizontalBar",
    ]
    by_month = {point["x"]: point["y"] for point in charts[0]["data"]}
    assert by_month == {"Oct 2026": 1, "Nov 2026": 2, "Dec 2026": 0}
    agencies = charts[3]["fallback"]["facts"]
    assert agencies == [{"title": "Oak School", "value": "2"}, {"title": "Police", "value": "1"}]
    [download] = card["actions"]
    assert (download["verb"], download["data"]) == ("report_download", {"period": Q4})

    month = cards_in(await desk.admin.say(f"{MENTION} report 2026-10"))
    assert "October 2026" in card_text(month[0])

    refused = await desk.outsider.say(f"{MENTION} report")
    assert texts_in(refused) == [NOT_ADMIN] and not cards_in(refused)
    engine = engine_for(desk.bot.settings.database_url)
    async with session_factory(engine)() as session:
        details = list(
            await session.scalars(
                select(AuditEntry.detail).where(AuditEntry.action == "triage.refused")
            )
        )
    await engine.dispose()
    assert details == [f"report conversation={DESK} tenant={TENANT}"]
    # Who saw which period's figures is in the desk's own log.
    [log] = cards_in(await desk.admin.say(f"{MENTION} audit desk"))
    logged = card_text(log)
    assert (
        "The partnership's figures (October 2026: 1 October to 31 October 2026) shown to" in logged
    ), logged
    assert "Olly Outsider, who is not in business support, tried to see the partnership's" in (
        logged
    )

    nonsense = texts_in(await desk.admin.say(f"{MENTION} report nonsense"))
    assert len(nonsense) == 1 and "report 2026-Q3" in nonsense[0] and "report month" in nonsense[0]
    backwards = texts_in(await desk.admin.say(f"{MENTION} report 2026-03-31 to 2026-01-01"))
    assert backwards == ["The period ends before it starts: put the earlier date first."]
    elsewhere = desk.in_chat("Alex Admin", "19:some-other-chat@thread.v2", aad_id=ADMIN)
    assert texts_in(await elsewhere.say(f"{MENTION} report")) == [NOT_HERE]


async def _consent_card(scene: Scene) -> tuple[str, dict[str, Any]]:
    """Download pressed on the desk by the admin: the consent card in their 1:1 chat."""
    body = await scene.admin.invoke("report_download", {"period": Q4})
    assert body == {"statusCode": 200, "type": MESSAGE, "value": SENT_TO_CHAT}
    await scene.bot.settle()
    [opened] = [c for c in scene.connector.created if c["members"] == [{"id": ADMIN}]]
    [offer] = scene.connector.sent_to(opened["id"])
    [attachment] = offer["attachments"]
    assert attachment["contentType"] == FILE_CONSENT
    return opened["id"], attachment


def _answer(action: str, context: dict[str, Any], upload_url: str = "") -> dict[str, Any]:
    value: dict[str, Any] = {"type": "fileUpload", "action": action, "context": context}
    if upload_url:
        value["uploadInfo"] = {
            "name": "partnership-figures-2026-10-01-to-2026-12-31.csv",
            "uploadUrl": upload_url,
            "contentUrl": "https://contoso.sharepoint.com/personal/alex/Documents/figures.csv",
            "uniqueId": "1E5B2E7C-0D1F-4C7B-9B8A-0F7A5B2D3C4E",
            "fileType": "csv",
        }
    return value


async def _file_consent(chat: TeamsUser, value: dict[str, Any]) -> list[dict[str, Any]]:
    sent = await chat.post(chat.activity(type="invoke", name="fileConsent/invoke", value=value))
    assert chat.last_status == 200
    return sent


async def test_the_csv_goes_through_the_file_consent_card(desk: Scene) -> None:
    outsider = await desk.outsider.invoke("report_download", {"period": Q4})
    assert outsider["value"] == NOT_ADMIN
    chat_id, attachment = await _consent_card(desk)
    content = attachment["content"]
    assert attachment["name"] == "partnership-figures-2026-10-01-to-2026-12-31.csv"
    assert content["acceptContext"] == {"report": Q4, "tenant": TENANT}
    assert content["declineContext"] == {"report": Q4}
    assert "Q4 2026" in content["description"]
    chat = TeamsUser(
        desk.bot.url,
        desk.connector,
        desk.admin.session,
        name="Alex Admin",
        aad_id=ADMIN,
        conversation_id=chat_id,
    )

    declined = await _file_consent(chat, _answer("decline", content["declineContext"]))
    assert texts_in(declined) == [DECLINED] and desk.connector.uploads == []

    url = desk.connector.upload_url("figures.csv")
    sent = await _file_consent(chat, _answer("accept", content["acceptContext"], url))
    [upload] = desk.connector.uploads
    size = len(upload.body)
    assert size == content["sizeInBytes"]
    assert upload.headers["Content-Length"] == str(size)
    assert upload.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
    rows = list(csv.reader(io.StringIO(upload.body.decode("utf-8-sig"))))
    assert ["Referrals", "Received", "3", "referrals made in the period"] in rows
    assert ["Referrals by referrer's agency", "Oak School", "2", ""] in rows
    [info] = [a for activity in sent for a in activity.get("attachments") or []]
    assert info == {
        "contentType": FILE_INFO,
        "contentUrl": "https://contoso.sharepoint.com/personal/alex/Documents/figures.csv",
        "name": "partnership-figures-2026-10-01-to-2026-12-31.csv",
        "content": {"uniqueId": "1E5B2E7C-0D1F-4C7B-9B8A-0F7A5B2D3C4E", "fileType": "csv"},
    }
    # Not an admin any more (or never was): nothing is uploaded.
    stranger = TeamsUser(desk.bot.url, desk.connector, desk.admin.session, name="Olly Outsider")
    refused = await _file_consent(stranger, _answer("accept", content["acceptContext"], url))
    assert texts_in(refused) == [NOT_ADMIN] and len(desk.connector.uploads) == 1


async def test_an_upload_url_not_allowed_or_failing_is_said_politely(desk: Scene) -> None:
    chat_id, attachment = await _consent_card(desk)
    accept = attachment["content"]["acceptContext"]
    chat = TeamsUser(
        desk.bot.url,
        desk.connector,
        desk.admin.session,
        name="Alex Admin",
        aad_id=ADMIN,
        conversation_id=chat_id,
    )
    for url in (
        "https://uploads.example.com/figures.csv",  # a host not in FILE_UPLOAD_HOSTS
        "http://contoso.sharepoint.com/figures.csv",  # not https
        desk.connector.upload_url("x").replace("http://", "http://user:pw@"),
        "not a url",
    ):
        sent = await _file_consent(chat, _answer("accept", accept, url))
        assert texts_in(sent) == [UPLOAD_REFUSED], url
    assert desk.connector.uploads == []
    desk.connector.upload_status = 500
    failed = await _file_consent(chat, _answer("accept", accept, desk.connector.upload_url("y")))
    assert texts_in(failed) == [UPLOAD_FAILED]
    assert len(desk.connector.uploads) == 1  # tried once, not sent as a file


async def test_a_malformed_file_consent_answer_is_refused_not_a_crash(desk: Scene) -> None:
    chat = TeamsUser(desk.bot.url, desk.connector, desk.admin.session, aad_id=ADMIN)
    for value in (5, "accept", None, {"action": "maybe"}):
        await chat.post(chat.activity(type="invoke", name="fileConsent/invoke", value=value))
        assert chat.last_status == 400, value
    # An answer naming no tenant (or another): nothing is uploaded, and the person is told.
    url = desk.connector.upload_url("z")
    for context in (5, {"report": Q4}, {"report": Q4, "tenant": "another-tenant"}):
        sent = await _file_consent(chat, _answer("accept", context, url))  # type: ignore[arg-type]
        assert texts_in(sent) == [NOT_THIS_TENANT]
    assert desk.connector.uploads == []
