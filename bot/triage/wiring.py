"""The triage feature, put together: the desk's commands and buttons, its jobs and cards."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.outbox import Kind, Outbox
from bot.core.shared import Shared
from bot.teams.admins import AdminCheck
from bot.teams.deliveries import Deliveries
from bot.teams.routes import Feature
from bot.triage.answers import AnswerHandler
from bot.triage.deliveries import TriageCardDelivery
from bot.triage.desk import DeskHandler
from bot.triage.digest import Digests
from bot.triage.notify import BookedNews, TriageNews
from bot.triage.options import DeskOptions
from bot.triage.reminders import Reminders
from bot.triage.store import TriageStore
from cards.verbs import Verb


@dataclass(frozen=True)
class Triage:
    feature: Feature
    store: TriageStore  # scheduling books what triage decided


def wiring(
    shared: Shared,
    *,
    admins: AdminCheck,
    outbox: Outbox,
    deliveries: Deliveries,
    options: DeskOptions,
    booked_by_hand: BookedNews,
) -> Triage:
    settings, calendar = shared.settings, shared.calendar
    news = TriageNews(
        partnership=settings.partnership_name,
        calendar=calendar,
        models=shared.models,
        booked_by_hand=booked_by_hand,
    )
    store = TriageStore(
        sessions=shared.database,
        cipher=shared.cipher,
        clock=shared.clock,
        outbox=shared.writer,
        calendar=calendar,
        reminder_days=settings.triage_reminder_working_days,
        notify=news.after_decision,
    )
    digests = Digests(
        sessions=shared.database,
        outbox=shared.writer,
        calendar=calendar,
        models=shared.models,
        weekday=settings.digest_weekday,
        hour=settings.digest_hour,
    )
    desk = DeskHandler(
        store=store,
        admins=admins,
        options=options,
        calendar=calendar,
        clock=shared.clock,
        outbox=outbox,
        wake=shared.wake,
        partnership=settings.partnership_name,
        digests=digests,
        retention_days=settings.retention_audit_days,
    )
    answers = AnswerHandler(store, shared.wake)
    reminders = Reminders(
        sessions=shared.database, outbox=shared.writer, calendar=calendar, models=shared.models
    )
    card = TriageCardDelivery(
        deliveries=deliveries,
        triage=store,
        calendar=calendar,
        options=options,
        clock=shared.clock,
    )
    feature = Feature(
        commands={
            Verb.REGISTER_TRIAGE: desk.register,
            Verb.DIGEST: desk.post_digest,
            Verb.ANSWER_QUESTION: answers.on_answer,
        },
        argument_commands={Verb.AUDIT: desk.show_audit},
        card_actions=desk.card_actions(),
        jobs={"reminders": reminders.send_due, "digests": digests.send_due},
        deliveries={Kind.TRIAGE_CARD: card.deliver},
        help_here=desk.help_here,
    )
    return Triage(feature, store)
