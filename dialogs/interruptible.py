"""`cancel`, `help` and `restart` at every step of a dialog: written once, here."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.dialogs import ComponentDialog, DialogContext, DialogTurnResult, DialogTurnStatus

from bot.teams.commands import command_of
from cards.verbs import Verb


class InterruptibleDialog(ComponentDialog):
    def owns_button(self, inner_dc: DialogContext) -> bool:
        """False when the pressed button belongs to another (earlier) run of this dialog."""
        return True

    @abstractmethod
    def fresh_options(self) -> Any:
        """The options for starting over (restart)."""

    @abstractmethod
    async def on_cancelled(self, context: TurnContext) -> None:
        """Tells the user what cancelling did."""

    @abstractmethod
    async def send_help(self, inner_dc: DialogContext) -> None:
        """Help for where the user is now."""

    async def on_continue_dialog(self, inner_dc: DialogContext) -> DialogTurnResult:
        command = command_of(inner_dc.context.activity)
        if command is not None and not self.owns_button(inner_dc):
            await inner_dc.context.send_activity(
                "That button is on a card from an earlier referral, so I have left this one as "
                "it is. Carry on here."
            )
            await inner_dc.reprompt_dialog()
            return DialogTurnResult(DialogTurnStatus.Waiting)
        if command is Verb.CANCEL:
            await inner_dc.cancel_all_dialogs()
            await self.on_cancelled(inner_dc.context)
            return DialogTurnResult(DialogTurnStatus.Cancelled)
        if command is Verb.HELP:
            await self.send_help(inner_dc)
            await inner_dc.reprompt_dialog()
            return DialogTurnResult(DialogTurnStatus.Waiting)
        if command is Verb.RESTART:
            await inner_dc.cancel_all_dialogs()
            await inner_dc.context.send_activity("Starting again from the beginning.")
            return await inner_dc.begin_dialog(self.initial_dialog_id, self.fresh_options())
        return await super().on_continue_dialog(inner_dc)
