"""The feedback feature, put together: the card's buttons, the job that asks and reminds,
and the delivery of its cards."""

from __future__ import annotations

from bot.core.outbox import Kind
from bot.core.shared import Shared
from bot.feedback.deliveries import FeedbackCardDelivery
from bot.feedback.handler import FeedbackHandler
from bot.feedback.jobs import FeedbackJob
from bot.feedback.store import FeedbackStore
from bot.teams.deliveries import Deliveries
from bot.teams.routes import Feature


def wiring(shared: Shared, *, deliveries: Deliveries) -> Feature:
    store = FeedbackStore(shared.database, shared.clock, shared.calendar)
    job = FeedbackJob(shared.database, shared.writer, shared.calendar)
    cards = FeedbackCardDelivery(deliveries, store)
    return Feature(
        card_actions=FeedbackHandler(store).card_actions(),
        jobs={"feedback": job.run_due},
        deliveries={Kind.FEEDBACK_CARD: cards.deliver},
    )
