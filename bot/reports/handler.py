"""`report` on the triage desk, its Download as CSV button, and the answer to the file consent
card that button sends. Admins only, each step: a refusal is recorded in the desk's log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.audit import Action
from bot.core.clock import Clock
from bot.core.outbox import Kind, Message, OutboxWriter
from bot.core.working_days import WorkingCalendar
from bot.reports.export import csv_of, file_name
from bot.reports.figures import Figures, Labels, figures_for
from bot.reports.period import Period, PeriodError, parse_period
from bot.teams.admins import AdminCheck
from bot.teams.files import (
    FileConsentAnswer,
    Uploader,
    UploadFailed,
    UploadRefused,
    consent_message,
    file_info_activity,
)
from bot.teams.identity import reference_of, tenant_of
from bot.teams.invoke import message_response
from bot.teams.turn import CardPress, InvokeReply, Turn, send_card, top_level_conversation
from bot.triage.desk import NOT_ADMIN, record_at_desk
from bot.triage.store import TriageStore
from cards.reports import report_card
from cards.verbs import ReportVerb

log = logging.getLogger(__name__)

NOT_HERE = "The partnership's figures are shown on the triage desk only: type **report** there."
SENT_TO_CHAT = "I have sent the CSV to your chat with me: accept it there."
NO_WORK_ACCOUNT = (
    "I can send the CSV only to someone signed in to Teams with a work account. "
    "Ask an operator for it (`python -m bot.reports`)."
)
OLD_BUTTON = "That button is from a card I cannot read any more: type **report** for a new one."
DECLINED = "No file sent. Press **Download as CSV** on the report whenever you want it."
NOT_THIS_TENANT = "Sorry, that file is not for this organisation: nothing was sent."
UPLOAD_REFUSED = (
    "Sorry, I could not upload the CSV: Teams offered a place I may not send files to. "
    "Nothing was sent. Press **Download as CSV** on the report to try again."
)
UPLOAD_FAILED = (
    "Sorry, the upload of the CSV did not go through. Press **Download as CSV** on the report "
    "to try again."
)


@dataclass
class ReportHandler:
    sessions: async_sessionmaker[AsyncSession]
    admins: AdminCheck
    triage: TriageStore  # where the desk is, and its audit log
    calendar: WorkingCalendar
    clock: Clock
    labels: Labels
    writer: OutboxWriter
    wake: Callable[[], None]
    uploader: Uploader

    # --- the typed command ----------------------------------------------------------------

    async def show(self, context: Turn) -> None:
        await self.show_for(context, "")

    async def show_for(self, context: Turn, argument: str) -> None:
        """`report`, or `report <period>`, in the registered desk: the card for the period."""
        desk = await self.triage.desk(tenant_of(context))
        if desk is None or desk.conversation_id != top_level_conversation(context):
            await context.send_activity(NOT_HERE)
            return
        if not await self.admins.is_admin(context):
            await self._refused(context, "report")
            await context.send_activity(NOT_ADMIN)
            return
        today = self.calendar.local(self.clock.now()).date()
        try:
            period = parse_period(argument, today)
        except PeriodError as problem:
            await context.send_activity(str(problem))
            return
        figures = await self._figures(tenant_of(context), period)
        await send_card(context, report_card(figures, self.calendar, self.clock.now()))
        await self._record(context, Action.REPORT_SHOWN, period)

    # --- Download as CSV ------------------------------------------------------------------

    async def on_download(self, context: Turn, press: CardPress) -> InvokeReply:
        """Sends a file consent card to the presser's 1:1 chat; the CSV goes once they accept."""
        if not await self.admins.is_admin(context):
            await self._refused(context, ReportVerb.DOWNLOAD.value)
            return message_response(NOT_ADMIN)
        try:
            period = Period.from_token(press.fields().get("period", ""))
        except PeriodError:
            return message_response(OLD_BUTTON)
        person_id = context.activity.from_property.aad_object_id
        if not person_id:
            return message_response(NO_WORK_ACCOUNT)
        tenant = tenant_of(context)
        figures = await self._figures(tenant, period)
        content = csv_of(figures)
        offer = consent_message(
            name=file_name(figures),
            description=f"The partnership's figures, {period.words()} (CSV)",
            size=len(content),
            accept_context={"report": period.token(), "tenant": tenant},
            decline_context={"report": period.token()},
        )
        here = reference_of(context)
        target = {
            "person_id": str(person_id),
            "tenant_id": tenant,
            "service_url": here.get("serviceUrl", ""),
            "bot": here.get("bot") or {},
        }
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            self.writer.add(session, [Message(Kind.PERSON, target, offer)], now)
        self.wake()
        return message_response(SENT_TO_CHAT)

    # --- the answer to the file consent card ----------------------------------------------

    async def on_file_consent(self, context: Turn, answer: FileConsentAnswer) -> None:
        if not answer.accepted:
            await context.send_activity(DECLINED)
            return
        if str(answer.context.get("tenant", "")) != tenant_of(context):
            await context.send_activity(NOT_THIS_TENANT)
            return
        if not await self.admins.is_admin(context):  # they may have left business support
            await self._refused(context, "report csv")
            await context.send_activity(NOT_ADMIN)
            return
        try:
            period = Period.from_token(str(answer.context.get("report", "")))
        except PeriodError:
            await context.send_activity(OLD_BUTTON)
            return
        if answer.upload is None:
            await context.send_activity(UPLOAD_FAILED)
            return
        # Counted again now, never stored: the figures as they are when the file is taken.
        content = csv_of(await self._figures(tenant_of(context), period))
        try:
            await self.uploader.put(answer.upload.upload_url, content)
        except UploadRefused:
            log.warning("a file consent answer named an upload host that is not allowed")
            await context.send_activity(UPLOAD_REFUSED)
            return
        except UploadFailed as failure:
            log.warning("the report's CSV was not uploaded: %s", failure)
            await context.send_activity(UPLOAD_FAILED)
            return
        await self._record(context, Action.REPORT_DOWNLOADED, period)
        await context.send_activity(
            file_info_activity(
                answer.upload, f"Here is the CSV of the partnership's figures, {period.words()}."
            )
        )

    # --- shared -----------------------------------------------------------------------------

    async def _figures(self, tenant_id: str, period: Period) -> Figures:
        async with self.sessions() as session:
            return await figures_for(session, tenant_id, period, self.calendar, self.labels)

    async def _record(self, context: Turn, action: str, period: Period) -> None:
        """Who saw or took the figures, and of which period, in the desk's log (`audit desk`)."""
        await record_at_desk(self.triage, context, action, period.words())

    async def _refused(self, context: Turn, what: str) -> None:
        """As every desk command: the attempt is in the desk's audit log (`audit desk`)."""
        await record_at_desk(self.triage, context, Action.REFUSED, what)
