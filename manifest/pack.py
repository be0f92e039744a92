"""Build the Teams app package from `manifest.template.json` and `Settings`.

    python -m manifest.pack build/appPackage.zip

The zip holds manifest.json, color.png and outline.png at its root, ready to upload in Teams
(Apps > Manage your apps > Upload an app) or the Teams admin centre. Values that come from
settings are assigned to the parsed template, never spliced into JSON text.
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.core.settings import Settings

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "manifest.template.json"
ICONS = ("color.png", "outline.png")

# Used for id, botId and webApplicationInfo when MICROSOFT_APP_ID is empty: a fixed, made-up
# GUID so local packages validate. Not a registered bot; set the real Entra app id to upload.
DEV_APP_ID = "5f3c9d2e-7a41-4b8e-9c6d-1e2f3a4b5c6d"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# Limits from the manifest schema that a settings value can break.
_MAX_SHORT_NAME = 30
_MAX_DEVELOPER_NAME = 32


def app_id(settings: Settings) -> str:
    """The Entra app id of the bot, or DEV_APP_ID when none is set."""
    value = settings.microsoft_app_id.strip() or DEV_APP_ID
    if not _GUID.match(value):
        raise ValueError(f"MICROSOFT_APP_ID must be a GUID (the Entra app id), got {value!r}.")
    return value


def _check_length(env_name: str, value: str, limit: int) -> str:
    if not value or len(value) > limit:
        raise ValueError(
            f"{env_name} must be 1 to {limit} characters for the Teams manifest; "
            f"{value!r} has {len(value)}."
        )
    return value


def build_manifest(settings: Settings) -> dict[str, Any]:
    """The manifest as a dict: the template with the settings-dependent fields assigned."""
    manifest: dict[str, Any] = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    bot_id = app_id(settings)

    manifest["id"] = bot_id
    manifest["name"]["short"] = _check_length("APP_NAME", settings.app_name, _MAX_SHORT_NAME)
    manifest["developer"] = {
        "name": _check_length(
            "APP_DEVELOPER_NAME", settings.app_developer_name, _MAX_DEVELOPER_NAME
        ),
        "websiteUrl": settings.app_website_url,
        "privacyUrl": settings.app_privacy_url,
        "termsOfUseUrl": settings.app_terms_url,
    }
    manifest["bots"][0]["botId"] = bot_id
    # Resource-specific consent (the meeting permissions) needs the app id and this resource.
    manifest["webApplicationInfo"] = {"id": bot_id, "resource": f"api://botid-{bot_id}"}
    if settings.public_url.startswith("https://"):
        _add_session_tab(manifest, settings, bot_id)
    return manifest


def _add_session_tab(manifest: dict[str, Any], settings: Settings, bot_id: str) -> None:
    """The session tab (bot.sessions.tab) for meetings' side panel and stage, served by the
    app at PUBLIC_URL. Its single sign-on needs the app's resource on that host."""
    base = settings.public_url.rstrip("/")
    host = urlsplit(base).hostname or ""
    manifest["configurableTabs"] = [
        {
            "configurationUrl": f"{base}/live/tab/config",
            "canUpdateConfiguration": False,
            "scopes": ["groupChat"],
            "context": ["meetingSidePanel", "meetingStage"],
        }
    ]
    manifest["validDomains"] = [host]
    manifest["webApplicationInfo"]["resource"] = (
        settings.tab_sso_audience or f"api://{host}/{bot_id}"
    )


def write_package(settings: Settings, path: Path) -> Path:
    """Write the app package zip to `path` (parent folders are created) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    members = {"manifest.json": json.dumps(build_manifest(settings), indent=2).encode() + b"\n"}
    members.update({name: (HERE / name).read_bytes() for name in ICONS})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            # A fixed timestamp keeps the package byte-for-byte reproducible.
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m manifest.pack OUT.zip", file=sys.stderr)
        return 2
    settings = Settings()
    if not settings.microsoft_app_id:
        print(
            f"note: MICROSOFT_APP_ID is empty, using the placeholder {DEV_APP_ID}; "
            "set the real Entra app id before uploading to Teams.",
            file=sys.stderr,
        )
    try:
        out = write_package(settings, Path(args[0]))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
