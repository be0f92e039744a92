import aiohttp

from tests.conftest import RunningBot


async def test_readyz_reports_the_database_and_healthz_only_that_the_app_is_alive(
    running_bot: RunningBot, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{running_bot.url}readyz") as response:
        assert response.status == 200
        assert await response.json() == {"database": "ok", "schema": "current"}
    async with http.get(f"{running_bot.url}healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "alive"}


async def test_readyz_is_503_when_the_database_is_gone(
    tmp_path, http: aiohttp.ClientSession
) -> None:
    from tests.conftest import make_settings

    bot = RunningBot(make_settings(f"sqlite+aiosqlite:///{tmp_path}/missing-dir/none.db"))
    await bot.start()
    try:
        async with http.get(f"{bot.url}readyz") as response:
            assert response.status == 503
        async with http.get(f"{bot.url}healthz") as response:
            assert response.status == 200
    finally:
        await bot.stop()


async def test_non_json_bodies_are_refused(
    running_bot: RunningBot, http: aiohttp.ClientSession
) -> None:
    url = f"{running_bot.url}api/messages"
    async with http.post(url, data="hello", headers={"Content-Type": "text/plain"}) as response:
        assert response.status == 415
    async with http.post(
        url, data="{not json", headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400


async def test_json_that_is_not_an_activity_is_refused(
    running_bot: RunningBot, http: aiohttp.ClientSession
) -> None:
    for body in ("[]", '"x"', "5", "null"):
        async with http.post(
            f"{running_bot.url}api/messages",
            data=body,
            headers={"Content-Type": "application/json"},
        ) as response:
            assert response.status == 400, body
