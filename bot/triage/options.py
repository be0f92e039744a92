"""What the triage forms offer, from settings and the protocol files."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.protocols import ModelCatalogue
from bot.core.settings import Facilitator

DEFAULT_MINUTES = 60


@dataclass(frozen=True)
class DeskOptions:
    facilitators: tuple[Facilitator, ...]
    models: ModelCatalogue
    signposts: tuple[str, ...]
    # With Graph the bot finds times and books the meeting; without, the admin pastes a link.
    graph: bool = False
    booking_minutes: tuple[tuple[str, int], ...] = ()  # (model id, minutes booked)
    # Sent to someone the bot cannot reach, to add the app (Settings.app_install_link).
    app_install_link: str = ""

    def minutes_for(self, model: str) -> int:
        return dict(self.booking_minutes).get(model, DEFAULT_MINUTES)

    def facilitator(self, aad_object_id: str) -> Facilitator | None:
        return next((f for f in self.facilitators if f.aad_object_id == aad_object_id), None)
