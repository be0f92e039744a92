"""The async engine and session factory, for SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from azure.core.exceptions import AzureError
from sqlalchemy import CursorResult, Result, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession  # re-exported for callers
from sqlalchemy.util import await_

from bot.core.crypto import Cipher, cipher_from_settings
from bot.core.quiet_logs import keep_data_out_of_logs
from bot.core.sealed import seal_with
from bot.core.settings import DatabaseAuth

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from bot.core.settings import Settings

# The audience of Azure Database for PostgreSQL's Entra tokens (public cloud; national
# clouds have their own, such as https://ossrdbms-aad.database.usgovcloudapi.net/.default).
ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"

# Makes the credential an engine signs in with. Called again after the engine is disposed:
# a closed credential cannot be opened again, and the engine may still be used.
CredentialFactory = Callable[[], "AsyncTokenCredential"]


def create_engine(
    database_url: str,
    timeout_seconds: float = 10.0,
    cipher: Cipher | None = None,
    credential: CredentialFactory | None = None,
) -> AsyncEngine:
    """`timeout_seconds` bounds the wait for a connection and for each statement, so a
    database that is down or frozen fails a turn quickly instead of hanging it. `cipher`
    encrypts and decrypts the sealed columns (names, emails, references); an engine without
    one can still run migrations and read everything else. With `credential` (PostgreSQL
    only), each new connection signs in with a Microsoft Entra access token from it instead
    of a password; disposing the engine closes the credential."""
    engine = _create(database_url, timeout_seconds, credential)
    if cipher is not None:
        seal_with(engine.sync_engine.dialect, cipher)
    return engine


def engine_from_settings(settings: Settings) -> AsyncEngine:
    """The app's database with the app's keys: for the app and the operator commands."""
    return create_engine(
        settings.database_url,
        settings.database_timeout_seconds,
        cipher=cipher_from_settings(settings),
        credential=database_credential(settings),
    )


def database_credential(settings: Settings) -> CredentialFactory | None:
    """How the engine signs in besides what DATABASE_URL says: with DATABASE_AUTH=entra, the
    host's managed identity (AZURE_CLIENT_ID picks a user-assigned one)."""
    if settings.database_auth is not DatabaseAuth.ENTRA:
        return None
    client_id = settings.azure_client_id or None

    def managed_identity() -> AsyncTokenCredential:
        # Not DefaultAzureCredential: the role in DATABASE_URL is the identity's, so a token
        # for anyone else (a developer's `az login`, an AZURE_CLIENT_SECRET) could only be
        # refused, after a chain of attempts that hides why.
        from azure.identity.aio import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=client_id)

    return managed_identity


class DatabaseTokenUnavailable(ConnectionError):
    """No Entra token for the database could be had from the credential. To the app this is
    the database being unreachable: a turn answers 503 so Teams retries, /readyz says not
    ready (bot.core.outage counts a connection error raised while connecting)."""


class EntraPassword:
    """asyncpg's `password`: a coroutine function asyncpg awaits for each new connection.
    The credential caches the token and asks for a new one only as it nears expiry (halfway
    through a token of two hours or more, else in its last five minutes), so each connection
    signs in with a valid token without a request to the identity endpoint each time.
    Connections already open stay open when their token expires: PostgreSQL checks the
    password only when a connection signs in, so no pool_recycle is needed."""

    def __init__(self, make_credential: CredentialFactory) -> None:
        self._make_credential = make_credential
        self._credential: AsyncTokenCredential | None = None

    async def __call__(self) -> str:
        if self._credential is None:
            # Made on first use, on the loop that uses it (its HTTP session belongs there).
            self._credential = self._make_credential()
        try:
            access = await self._credential.get_token(ENTRA_SCOPE)
        except AzureError as error:
            raise DatabaseTokenUnavailable(
                "could not get a Microsoft Entra token for PostgreSQL (DATABASE_AUTH=entra) "
                f"from the managed identity: {error.message}"
            ) from error
        return access.token

    async def close(self) -> None:
        credential, self._credential = self._credential, None
        if credential is not None:
            await credential.close()


def _create(
    database_url: str, timeout_seconds: float, credential: CredentialFactory | None = None
) -> AsyncEngine:
    # hide_parameters: a failing statement's message must not carry what was typed to the log;
    # nor may the drivers' own DEBUG records (parameters, rows).
    keep_data_out_of_logs()
    if database_url.startswith("sqlite"):
        # One connection: SQLite takes one writer at a time anyway, and queueing for the
        # pool is cheaper than SQLite's busy-wait sleeps when writers collide.
        engine = create_async_engine(
            database_url,
            connect_args={"timeout": timeout_seconds},
            pool_size=1,
            max_overflow=0,
            pool_timeout=timeout_seconds,
            hide_parameters=True,
        )
        _tune_sqlite(engine)
        return engine
    # asyncpg: `timeout` for connecting (the token's fetch included), `command_timeout` for
    # each statement.
    connect_args: dict[str, Any] = {"timeout": timeout_seconds, "command_timeout": timeout_seconds}
    password = None
    if credential is not None:
        if not database_url.startswith("postgresql"):
            raise ValueError("Entra sign-in (DATABASE_AUTH=entra) is for PostgreSQL only")
        # SQLAlchemy hands connect_args to asyncpg.connect as they are (after the URL's own
        # parts, which carry no password here); asyncpg calls a callable password and awaits
        # what it returns, on every new connection.
        password = EntraPassword(credential)
        connect_args["password"] = password
    engine = create_async_engine(
        database_url,
        connect_args=connect_args,
        pool_size=10,
        max_overflow=10,
        pool_timeout=timeout_seconds,
        # Also how a connection the server has dropped is replaced, with a fresh token.
        pool_pre_ping=True,
        hide_parameters=True,
    )
    if password is not None:
        _close_on_dispose(engine, password)
    return engine


def _close_on_dispose(engine: AsyncEngine, password: EntraPassword) -> None:
    # engine_disposed is SQLAlchemy's hook for resources that belong to an engine. It runs
    # inside AsyncEngine.dispose's greenlet, where await_ may wait on a coroutine.
    @event.listens_for(engine.sync_engine, "engine_disposed")
    def _on_dispose(_engine: Engine) -> None:
        await_(password.close())


def _tune_sqlite(engine: AsyncEngine) -> None:
    # WAL lets readers go on while one writer commits; foreign keys are off by default.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched: how the bot's claims know they won."""
    return cast(CursorResult[Any], result).rowcount
