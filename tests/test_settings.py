import pytest
from pydantic import ValidationError

from bot.core.crypto import Cipher, cipher_from_settings
from bot.core.settings import Settings, SettingsError
from bot.scheduling.graph import config_from_settings


def test_production_without_encryption_key_fails_clearly() -> None:
    with pytest.raises(ValidationError, match="ENCRYPTION_KEYS is required in production"):
        Settings(_env_file=None, mode="production", microsoft_app_id="x", allowed_tenant_ids=["t"])


def test_production_needs_allowed_tenants() -> None:
    with pytest.raises(ValidationError, match="ALLOWED_TENANT_IDS"):
        Settings(_env_file=None, mode="production", microsoft_app_id="x", encryption_keys=["k"])


def test_lists_come_from_comma_separated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_TENANT_IDS", "t1, t2")
    monkeypatch.setenv("OFFERED_MODELS", "space_to_think,re_think")
    settings = Settings(_env_file=None)
    assert settings.allowed_tenant_ids == ["t1", "t2"]
    assert settings.offered_models == ["space_to_think", "re_think"]


def test_offered_models_default_to_the_three_built_in_ones() -> None:
    assert Settings(_env_file=None).offered_models == ["think_space", "space_to_think", "re_think"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("Think Space", "not a protocol id"),
        ("think_space,think_space", "twice"),
        (" , ", "at least one"),
    ],
)
def test_offered_models_that_cannot_be_protocol_ids_are_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("OFFERED_MODELS", value)
    with pytest.raises(ValidationError, match=problem):
        Settings(_env_file=None)


def test_a_malformed_key_is_named_in_the_error() -> None:
    with pytest.raises(SettingsError, match="not a Fernet key"):
        Cipher(["not-a-key"])


def test_development_without_key_uses_a_temporary_one(caplog: pytest.LogCaptureFixture) -> None:
    cipher = cipher_from_settings(Settings(_env_file=None))
    assert cipher.decrypt(cipher.encrypt("x")) == "x"
    assert "temporary key" in caplog.text


def test_an_empty_database_url_means_the_sqlite_file_in_the_checkout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    url = Settings(_env_file=None).database_url
    assert url.startswith("sqlite+aiosqlite:////") and url.endswith("/reflective-practice.db")


ORGANISER_ID = "5b0a3c2e-7d41-4f6a-9e83-0c1d2e3f4a5b"


def test_graph_organiser_is_an_object_id_not_an_email() -> None:
    with pytest.raises(ValidationError, match="GRAPH_ORGANISER must be the organiser's Entra"):
        Settings(_env_file=None, graph_organiser="rp@contoso.example", graph_client_secret="s")


def test_graph_needs_exactly_one_way_to_sign_in() -> None:
    with pytest.raises(ValidationError, match="exactly one of GRAPH_CLIENT_SECRET"):
        Settings(_env_file=None, graph_organiser=ORGANISER_ID)
    with pytest.raises(ValidationError, match="exactly one of GRAPH_CLIENT_SECRET"):
        Settings(
            _env_file=None,
            graph_organiser=ORGANISER_ID,
            graph_client_secret="s",
            graph_use_managed_identity=True,
        )
    assert not Settings(_env_file=None).graph_enabled


def test_graph_signs_in_as_the_bot_unless_told_otherwise() -> None:
    settings = Settings(
        _env_file=None,
        graph_organiser=ORGANISER_ID,
        graph_client_secret="s",
        microsoft_app_id="bot-app",
        microsoft_app_tenant_id="tenant-1",
        graph_endpoint="https://graph.microsoft.us/v1.0",
        graph_authority_host="https://login.microsoftonline.us",
    )
    config = config_from_settings(settings)
    assert (config.client_id, config.tenant_id) == ("bot-app", "tenant-1")
    assert config.endpoint == "https://graph.microsoft.us/v1.0"
    assert config.authority_host == "https://login.microsoftonline.us"
    # Installing in a chat consents to the manifest's chat permissions, not the team one.
    managed = Settings(
        _env_file=None,
        graph_organiser=ORGANISER_ID,
        graph_use_managed_identity=True,
        microsoft_app_id="bot-app",
    )
    assert config_from_settings(managed).client_id == ""  # system-assigned, not the bot's
    assert config.consented_permissions == (
        "OnlineMeeting.ReadBasic.Chat",
        "OnlineMeetingParticipant.Read.Chat",
    )
