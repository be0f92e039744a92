"""SqlStorage: botbuilder's Storage contract on SQLite and PostgreSQL, with eTags."""

from __future__ import annotations

import asyncio
import base64
import os
import pickle
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from bot.core.crypto import Cipher
from bot.core.database import session_factory
from bot.core.models import BotStateRow, utcnow
from bot.referrals.model import AboutReferrer, Narrative, ReferralDraft, ReferralKind
from bot.teams.storage import ETagConflictError, SqlStorage, load_state
from cards.verbs import Verb
from dialogs.form_prompt import FormRequest
from tests.conftest import TEST_KEY, RunningBot
from tests.support.client import TeamsUser, card_text, cards_in
from tests.support.databases import engine_for
from tests.support.referral_steps import INVITEES, NARRATIVE, TIMING


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[SqlStorage]:
    engine = engine_for(database_url)
    yield SqlStorage(engine, Cipher([TEST_KEY]))
    await engine.dispose()


async def test_write_read_delete_round_trip(storage: SqlStorage) -> None:
    draft = ReferralDraft(narrative=Narrative("stuck", "help"))
    await storage.write({"a": {"draft": draft, "count": 1}})
    items = await storage.read(["a", "missing"])
    assert set(items) == {"a"}
    assert items["a"]["draft"] == draft
    assert items["a"]["e_tag"]
    await storage.delete(["a"])
    assert await storage.read(["a"]) == {}


async def test_stale_etag_is_refused_and_leaves_the_stored_item(storage: SqlStorage) -> None:
    await storage.write({"k": {"v": 1}})
    first = (await storage.read(["k"]))["k"]
    second = (await storage.read(["k"]))["k"]
    first["v"] = 2
    await storage.write({"k": first})
    second["v"] = 3
    with pytest.raises(ETagConflictError):
        await storage.write({"k": second})
    assert (await storage.read(["k"]))["k"]["v"] == 2


async def test_star_etag_overwrites(storage: SqlStorage) -> None:
    await storage.write({"k": {"v": 1}})
    await storage.write({"k": {"v": 5, "e_tag": "*"}})
    assert (await storage.read(["k"]))["k"]["v"] == 5


async def test_two_writers_at_once_one_wins(storage: SqlStorage) -> None:
    await storage.write({"k": {"v": 0}})
    a = (await storage.read(["k"]))["k"]
    b = (await storage.read(["k"]))["k"]
    a["v"], b["v"] = "a", "b"
    results = await asyncio.gather(
        storage.write({"k": a}), storage.write({"k": b}), return_exceptions=True
    )
    assert sum(isinstance(r, ETagConflictError) for r in results) == 1
    assert (await storage.read(["k"]))["k"]["v"] in {"a", "b"}


async def test_items_are_encrypted_at_rest(storage: SqlStorage, database_url: str) -> None:
    await storage.write({"k": {"secret": "Child A is stuck"}})
    engine = engine_for(database_url)
    try:
        async with session_factory(engine)() as session:
            row = await session.scalar(select(BotStateRow))
    finally:
        await engine.dispose()
    assert row is not None and b"Child A" not in row.data


async def test_unreadable_state_starts_afresh_instead_of_failing(
    storage: SqlStorage, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A key that was replaced must not lock a conversation out for good."""
    await storage.write({"k": {"v": 1}})
    engine = engine_for(database_url)
    try:
        other = SqlStorage(engine, Cipher([Fernet.generate_key().decode()]))
        assert await other.read(["k"]) == {}
        assert "cannot be read (DecryptionError)" in caplog.text
        await other.write({"k": {"v": 2}})  # and the conversation can go on
        assert (await other.read(["k"]))["k"]["v"] == 2
    finally:
        await engine.dispose()


def _exploit_ran() -> bool:
    return os.path.exists("/tmp/pwned-by-state")


class _Exploit:
    def __reduce__(self) -> tuple:
        return (os.system, ("touch /tmp/pwned-by-state",))


async def _store_pickled(database_url: str, key: str, pickled: bytes) -> None:
    """Puts an item in the table as the app does, from pickle bytes made elsewhere."""
    payload = Cipher([TEST_KEY]).encrypt_bytes(pickled)
    engine = engine_for(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(BotStateRow).values(key=key, etag="e1", data=payload, updated_at=utcnow())
            )
    finally:
        await engine.dispose()


async def test_state_cannot_unpickle_arbitrary_callables(
    storage: SqlStorage, database_url: str
) -> None:
    """Even with the key (say it leaked), stored state cannot make the bot run code."""
    await _store_pickled(database_url, "evil", pickle.dumps({"x": _Exploit()}))
    assert await storage.read(["evil"]) == {}
    assert not _exploit_ran()


def _global(module: str, name: str) -> bytes:
    """A pickle that names one global, as pickle writes a class reference."""

    def text(value: str) -> bytes:
        encoded = value.encode()
        return pickle.SHORT_BINUNICODE + bytes([len(encoded)]) + encoded

    return pickle.PROTO + b"\x04" + text(module) + text(name) + pickle.STACK_GLOBAL + pickle.STOP


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("bot.referralsX", "ReferralDraft"),
        ("bot.referrals_evil", "ReferralDraft"),
        ("bot.referrals.store", "ReferralStore"),  # the old prefix `bot.referral` let it in
        ("bot.referrals.model_evil", "ReferralDraft"),
        ("dialogsX.form_prompt", "FormRequest"),
        ("cards.verbsX", "Verb"),
        ("bot.core.settings", "Settings"),
        # A dotted name walks attributes out of an allowed module: here to `os.getcwd`.
        ("bot.referrals.model", "uuid.os.getcwd"),
        # Imported into an allowed module, but defined elsewhere.
        ("cards.verbs", "StrEnum"),
    ],
)
def test_state_may_name_only_whole_allowed_modules(module: str, name: str) -> None:
    with pytest.raises(pickle.UnpicklingError, match="state may not hold"):
        load_state(_global(module, name))


def test_moved_classes_load_from_their_old_module_paths() -> None:
    assert load_state(_global("bot.referrals.model", "ReferralDraft")) is ReferralDraft
    assert load_state(_global("bot.referral", "ReferralDraft")) is ReferralDraft
    assert load_state(_global("cards.verbs", "Verb")) is Verb


# Dialog state of a referral answered up to "who is coming", as the code at commit 958e2b2
# (before the feature packages) pickled it: made by running that tree's app (git archive
# 958e2b2) through risk, kind, model, narrative and about (tests/support/referral_steps.py),
# then decrypting its conversation-state row. It names bot.referral and bot.settings.ModelName.
OLD_REFERRAL_STATE = Path(__file__).parent / "fixtures" / "referral_state_958e2b2.pickle.b64"


def _old_referral_state() -> bytes:
    return base64.b64decode(OLD_REFERRAL_STATE.read_text(encoding="ascii"))


async def test_state_pickled_before_the_move_still_loads(
    storage: SqlStorage, database_url: str
) -> None:
    old = _old_referral_state()
    assert b"bot.referral\x94" in old and b"bot.settings\x94" in old  # the old paths
    await _store_pickled(database_url, "old", old)
    item = (await storage.read(["old"]))["old"]
    (referral,) = item["dialog_state"].dialog_stack
    assert referral.id == "ReferralDialog"
    form, waterfall = referral.state["dialogs"].dialog_stack
    request, draft = form.state["request"], waterfall.state["options"]
    assert isinstance(request, FormRequest) and request.verb == Verb.INVITEES
    assert isinstance(draft, ReferralDraft) and request.draft == draft
    assert draft.risk_checked
    assert draft.kind is ReferralKind.CHILD_FAMILY
    assert draft.model == "space_to_think" and type(draft.model) is str  # was ModelName
    assert draft.narrative == Narrative(NARRATIVE["what_is_stuck"], NARRATIVE["help_wanted"])
    assert draft.about == AboutReferrer(
        agency="Health Visiting",
        role="Health visitor",
        is_lead_professional=False,
        manager_agreed=True,
        manager_name="Alex Manager",
        manager_email="alex.manager@nhs.example",
    )
    assert draft.invitees is None and draft.timing is None


async def test_a_referral_half_finished_before_the_move_goes_on(
    user: TeamsUser, running_bot: RunningBot
) -> None:
    """The practitioner picks up at "who is coming", not at the start of the form."""
    key = f"msteams/conversations/{user.conversation_id}"
    await _store_pickled(running_bot.settings.database_url, key, _old_referral_state())
    await user.press(INVITEES)
    review = cards_in(await user.press(TIMING))
    text = "\n".join(card_text(card) for card in review)
    assert "Check and submit" in text
    assert "Space to Think" in text
    # The narrative came through (the review says it is written, never what it says).
    assert f"Written and checked, {len(NARRATIVE['what_is_stuck'])} characters" in text
    assert NARRATIVE["what_is_stuck"] not in text
    assert "Health Visiting" in text


async def test_key_rotation_reads_old_items(storage: SqlStorage, database_url: str) -> None:
    await storage.write({"k": {"v": 1}})
    engine = engine_for(database_url)
    try:
        rotated = SqlStorage(engine, Cipher([Fernet.generate_key().decode(), TEST_KEY]))
        assert (await rotated.read(["k"]))["k"]["v"] == 1
    finally:
        await engine.dispose()
