"""`cancel`, `help` and `restart` at every step of a dialog: written once, here.

Cancelling may ask first (`cancel_choice`): the question's buttons send `cancel` again with
the answer, and a second `cancel` typed straight after the question confirms it.
"""

from __future__ import annotations

from abc import abstractmethod
from enum import Enum
from typing import Any

from botbuilder.dialogs import ComponentDialog, DialogContext, DialogTurnResult, DialogTurnStatus

from bot.teams.commands import command_of
from cards.verbs import Verb

# Set in the waiting dialog's state when this turn asked "Cancel?"; gone on the next turn.
_CANCEL_ASKED = "cancel_asked"


class CancelChoice(Enum):
    CANCEL = "cancel"  # cancel now
    ASK = "ask"  # ask first
    KEEP_GOING = "keep_going"  # the answer to the question was no


class InterruptibleDialog(ComponentDialog):
    def owns_button(self, inner_dc: DialogContext) -> bool:
        """False when the pressed button belongs to another (earlier) run of this dialog."""
        return True

    def cancel_choice(self, inner_dc: DialogContext, asked: bool) -> CancelChoice:
        """What a `cancel` does here; `asked` when the turn before asked "Cancel?"."""
        return CancelChoice.CANCEL

    async def ask_to_cancel(self, inner_dc: DialogContext) -> None:
        """Asks whether to cancel (when `cancel_choice` said ASK)."""

    async def on_kept_going(self, inner_dc: DialogContext) -> None:
        """The user answered the question with "keep going": show where they are."""
        await inner_dc.reprompt_dialog()

    @abstractmethod
    def fresh_options(self) -> Any:
        """The options for starting over (restart)."""

    @abstractmethod
    async def on_cancelled(self, inner_dc: DialogContext) -> None:
        """Tells the user what cancelling did (the dialog's state is still there)."""

    @abstractmethod
    async def send_help(self, inner_dc: DialogContext) -> None:
        """Help for where the user is now."""

    async def on_continue_dialog(self, inner_dc: DialogContext) -> DialogTurnResult:
        command = command_of(inner_dc.context.activity)
        state = inner_dc.active_dialog.state if inner_dc.active_dialog is not None else {}
        asked = bool(state.pop(_CANCEL_ASKED, False))
        if command is not None and not self.owns_button(inner_dc):
            await inner_dc.context.send_activity(
                "That button is on a card from an earlier referral, so I have left this one as "
                "it is. Carry on here."
            )
            await inner_dc.reprompt_dialog()
            return DialogTurnResult(DialogTurnStatus.Waiting)
        if command is Verb.CANCEL:
            choice = self.cancel_choice(inner_dc, asked)
            if choice is CancelChoice.KEEP_GOING:
                await self.on_kept_going(inner_dc)
                return DialogTurnResult(DialogTurnStatus.Waiting)
            if choice is CancelChoice.ASK:
                state[_CANCEL_ASKED] = True
                await self.ask_to_cancel(inner_dc)
                return DialogTurnResult(DialogTurnStatus.Waiting)
            await self.on_cancelled(inner_dc)
            await inner_dc.cancel_all_dialogs()
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
