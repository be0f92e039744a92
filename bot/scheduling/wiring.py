"""The scheduling feature, put together: booking news, the facilitator's reminders and,
with Microsoft Graph set up, finding times and booking the Teams meeting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta

from bot.core.outbox import Kind
from bot.core.protocols import Protocol
from bot.core.settings import Settings
from bot.core.shared import Shared
from bot.scheduling.bookings import BookingRules, Bookings
from bot.scheduling.calendar_port import CalendarPort
from bot.scheduling.notify import BookingNews
from bot.scheduling.reminders import FacilitatorReminders
from bot.scheduling.slots import Window
from bot.teams.people import People
from bot.teams.proactive import Proactive
from bot.teams.routes import Deliver, Feature
from bot.triage.store import TriageStore


@dataclass(frozen=True)
class Scheduling:
    feature: Feature
    # Graph calls may wait minutes on Retry-After: these run on an outbox of their own, so
    # that a throttled Graph never holds back a session's prompts. Empty without Graph.
    calendar_deliveries: Mapping[str, Deliver] = field(default_factory=dict)


def booking_windows(protocols: Mapping[str, Protocol], settings: Settings) -> dict[str, Window]:
    """Each model's booking window (its protocol file's [booking], or working hours)."""
    day = (time(settings.working_day_start_hour), time(settings.working_day_end_hour % 24))
    windows = {}
    for model, protocol in protocols.items():
        booking = protocol.booking_or_default(*day)
        windows[model] = Window(
            duration=timedelta(minutes=booking.minutes),
            earliest=booking.earliest,
            latest_end=booking.latest_end,
            weekdays=frozenset(booking.weekdays),
            step=timedelta(minutes=booking.step_minutes),
        )
    return windows


def booking_news(shared: Shared) -> BookingNews:
    """Built before triage, which tells people of a meeting booked by hand through it."""
    settings = shared.settings
    return BookingNews(
        calendar=shared.calendar,
        models=shared.models,
        day_before_hour=settings.reminder_day_before_hour,
        minutes_before=settings.reminder_minutes_before,
    )


def wiring(
    shared: Shared,
    *,
    news: BookingNews,
    triage: TriageStore,
    proactive: Proactive,
    people: People,
    windows: dict[str, Window],
    calendar_port: CalendarPort | None,
) -> Scheduling:
    settings = shared.settings
    reminders = FacilitatorReminders(
        sessions=shared.database,
        proactive=proactive,
        calendar=shared.calendar,
        models=shared.models,
    )
    feature = Feature(deliveries={Kind.FACILITATOR_REMINDER: reminders.deliver})
    if calendar_port is None:
        return Scheduling(feature)
    bookings = Bookings(
        sessions=shared.database,
        port=calendar_port,
        triage=triage,
        news=news,
        writer=shared.writer,
        working=shared.calendar,
        clock=shared.clock,
        facilitators={f.aad_object_id: f for f in settings.facilitators},
        rules=BookingRules(
            windows=windows,
            search_days=settings.slot_search_days,
            count=settings.slots_offered,
            teams_app_id=settings.teams_app_catalog_id,
            partnership=settings.partnership_name,
        ),
        directory=people,
    )
    return Scheduling(
        feature, {Kind.FIND_TIMES: bookings.find_times, Kind.CALENDAR_SYNC: bookings.sync}
    )
