"""The further reflection feature, put together: the job that finds them due, the desk's
buttons, the card on the desk and, with Microsoft Graph set up, the booking in Outlook."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time

from bot.core.outbox import Kind
from bot.core.shared import Shared
from bot.further_reflection.deliveries import BookingDelivery, CardDelivery
from bot.further_reflection.desk import FurtherDesk
from bot.further_reflection.due import DueReflections, months_asked
from bot.further_reflection.store import FurtherStore
from bot.scheduling.calendar_port import CalendarPort
from bot.teams.admins import AdminCheck
from bot.teams.deliveries import Deliveries
from bot.teams.people import People
from bot.teams.routes import Deliver, Feature


@dataclass(frozen=True)
class FurtherReflections:
    feature: Feature
    # Graph calls may wait minutes on Retry-After: run by the calendar outbox. Empty without.
    calendar_deliveries: Mapping[str, Deliver] = field(default_factory=dict)


def wiring(
    shared: Shared,
    *,
    admins: AdminCheck,
    deliveries: Deliveries,
    people: People,
    calendar_port: CalendarPort | None,
) -> FurtherReflections:
    settings, calendar = shared.settings, shared.calendar
    graph = calendar_port is not None
    store = FurtherStore(
        sessions=shared.database,
        clock=shared.clock,
        writer=shared.writer,
        models=shared.models,
        facilitators={f.aad_object_id: f for f in settings.facilitators},
        directory=people,
    )
    due = DueReflections(
        store=store,
        calendar=calendar,
        opens=time(settings.working_day_start_hour),
        months=months_asked(shared.protocols.values()),
    )
    desk = FurtherDesk(
        store=store,
        admins=admins,
        calendar=calendar,
        clock=shared.clock,
        wake=shared.wake,
        graph=graph,
    )
    card = CardDelivery(deliveries=deliveries, store=store, calendar=calendar, graph=graph)
    feature = Feature(
        card_actions=desk.card_actions(),
        jobs={"further reflections due": due},
        deliveries={Kind.FURTHER_REFLECTION_CARD: card.deliver},
    )
    if calendar_port is None:
        return FurtherReflections(feature)
    booking = BookingDelivery(
        store=store,
        port=calendar_port,
        calendar=calendar,
        clock=shared.clock,
        partnership=settings.partnership_name,
    )
    return FurtherReflections(feature, {Kind.FURTHER_REFLECTION_BOOKING: booking.deliver})
