from tests.support.client import TeamsUser, card_text, cards_in


async def test_welcome_on_install(user: TeamsUser) -> None:
    sent = await user.install()
    assert user.last_status in (200, 201)
    assert "Make a referral" in card_text(cards_in(sent)[0])
