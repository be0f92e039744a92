"""The Teams app package: manifest valid against Microsoft's schema, icons, RSC, zip."""

from __future__ import annotations

import copy
import functools
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema import Draft4Validator, Draft7Validator, FormatChecker
from jsonschema.protocols import Validator

from bot.core.settings import Settings
from manifest import make_icons
from manifest.pack import DEV_APP_ID, HERE, ICONS, TEMPLATE, build_manifest, write_package

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = REPO_ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas"
APP_ID = "3b7f1c52-9d4e-4a8b-b1f0-6c2d8e9a7f41"
RSC = {
    "OnlineMeeting.ReadBasic.Chat",
    "ChannelMeeting.ReadBasic.Group",
    "OnlineMeetingParticipant.Read.Chat",
}


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "microsoft_app_id": APP_ID,
        # The default (33 characters) is over the schema's 32; see test below.
        "app_developer_name": "Safeguarding Partnership",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@functools.cache
def schema_validator() -> Validator:
    """Loaded inside the tests (not a fixture) so a missing schema is a FAILED test."""
    version = json.loads(TEMPLATE.read_text(encoding="utf-8"))["manifestVersion"]
    path = SCHEMAS / "teams" / f"v{version}" / "MicrosoftTeams.schema.json"
    if not path.is_file():
        pytest.fail(
            f"Teams manifest schema not found at {path.relative_to(REPO_ROOT)}. "
            "Install the Node tools first: run `npm ci` in the repo root (or `make test`).",
            pytrace=False,
        )
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    base = jsonschema.validators.validator_for(schema)
    assert base is Draft4Validator, schema.get("$schema")
    # The schema says draft-04 but also uses `const` and `if`/`then`, which Microsoft's own
    # validator (Ajv) enforces; Draft4Validator would silently ignore them.
    cls = jsonschema.validators.extend(
        Draft4Validator,
        {k: Draft7Validator.VALIDATORS[k] for k in ("const", "if")},
    )
    # Format checks off here: a few patterns use ECMAScript's \p{L}, which Python's re lacks
    # (only in Office add-in extensions, which this manifest does not use).
    cls.check_schema(schema, format_checker=None)
    return cls(schema, format_checker=FormatChecker())  # $refs resolve within the file


def errors(validator: Validator, manifest: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]


def test_manifest_is_valid() -> None:
    validator = schema_validator()
    manifest = build_manifest(make_settings())
    assert errors(validator, manifest) == []
    version = manifest["manifestVersion"]
    assert manifest["$schema"] == (
        f"https://developer.microsoft.com/json-schemas/teams/v{version}/MicrosoftTeams.schema.json"
    )


def test_dev_placeholder_manifest_is_valid() -> None:
    validator = schema_validator()
    manifest = build_manifest(make_settings(microsoft_app_id=""))
    assert manifest["id"] == manifest["bots"][0]["botId"] == DEV_APP_ID
    assert errors(validator, manifest) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("colour",), "#0E7C7B"),  # unknown top-level property
        (("accentColor",), "teal"),
        (("manifestVersion",), "1.17"),  # `const`, only enforced thanks to the extension
        (("bots", 0, "scopes"), ["personal", "meeting"]),
        (("developer", "websiteUrl"), "example.org"),
        (("description", "short"), "x" * 81),
    ],
)
def test_wrong_field_fails_validation(path: tuple[Any, ...], value: Any) -> None:
    validator = schema_validator()
    manifest = copy.deepcopy(build_manifest(make_settings()))
    target = manifest
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert errors(validator, manifest)


def test_ids_and_rsc() -> None:
    manifest = build_manifest(make_settings())
    assert manifest["id"] == manifest["bots"][0]["botId"] == APP_ID
    assert manifest["webApplicationInfo"] == {"id": APP_ID, "resource": f"api://botid-{APP_ID}"}
    rsc = manifest["authorization"]["permissions"]["resourceSpecific"]
    assert {p["name"] for p in rsc} == RSC
    assert {p["type"] for p in rsc} == {"Application"}
    assert "meetingExtensionDefinition" not in manifest


def test_bot_shape() -> None:
    bot = build_manifest(make_settings())["bots"][0]
    assert set(bot["scopes"]) == {"personal", "groupChat", "team"}
    # Files: the report's CSV goes to an admin through the file consent card (bot.teams.files).
    assert bot["supportsFiles"] is True and bot["isNotificationOnly"] is False
    commands = {
        tuple(sorted(lst["scopes"])): [c["title"] for c in lst["commands"]]
        for lst in bot["commandLists"]
    }
    assert commands == {
        ("personal",): ["refer", "my referrals", "help", "cancel"],
        ("groupChat", "team"): [
            "start session",
            "register triage here",
            "audit",
            "digest",
            "report",
            "help",
        ],
    }


def test_settings_flow_into_manifest() -> None:
    manifest = build_manifest(
        make_settings(app_name="RP bot", app_website_url="https://rp.example.net")
    )
    assert manifest["name"]["short"] == "RP bot"
    assert manifest["developer"]["name"] == "Safeguarding Partnership"
    assert manifest["developer"]["websiteUrl"] == "https://rp.example.net"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"microsoft_app_id": "not-a-guid"}, "MICROSOFT_APP_ID"),
        ({"app_developer_name": "Safeguarding Children Partnership"}, "APP_DEVELOPER_NAME"),
        ({"app_name": "A name that is far too long for Teams"}, "APP_NAME"),
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_manifest(make_settings(**overrides))


# --- icons -------------------------------------------------------------------------------


def read_png(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int, int]]]]:
    """Decode a non-interlaced 8-bit RGB/RGBA PNG to RGBA rows (all five filter types)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
    bpp = 4 if ctype == 6 else 3
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * bpp
    assert len(raw) == height * (stride + 1)
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        ftype, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 0:
                pred = 0
            elif ftype == 1:
                pred = a
            elif ftype == 2:
                pred = b
            elif ftype == 3:
                pred = (a + b) // 2
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            else:
                raise AssertionError(f"bad filter type {ftype} on row {y}")
            line[i] = (line[i] + pred) & 0xFF
        rows.append(
            [
                tuple(line[x * bpp : x * bpp + 3]) + ((line[x * bpp + 3],) if bpp == 4 else (255,))
                for x in range(width)
            ]
        )
        prev = line
    return width, height, rows  # type: ignore[return-value]


def test_icon_sizes() -> None:
    for name, size in (("color.png", 192), ("outline.png", 32)):
        data = (HERE / name).read_bytes()
        assert data[12:16] == b"IHDR"
        assert struct.unpack(">II", data[16:24]) == (size, size), name


def test_outline_is_white_on_transparent() -> None:
    width, height, rows = read_png((HERE / "outline.png").read_bytes())
    assert (width, height) == (32, 32)
    bad = [
        (x, y, px)
        for y, row in enumerate(rows)
        for x, px in enumerate(row)
        if px[3] != 0 and px[:3] != (255, 255, 255)
    ]
    assert bad == []
    assert any(px[3] == 255 for row in rows for px in row), "outline icon is empty"
    assert any(px[3] == 0 for row in rows for px in row), "outline icon has no transparency"


def test_committed_icons_match_the_script() -> None:
    assert make_icons.color_icon() == (HERE / "color.png").read_bytes()
    assert make_icons.outline_icon() == (HERE / "outline.png").read_bytes()


# --- package -----------------------------------------------------------------------------


def test_package_zip(tmp_path: Path) -> None:
    settings = make_settings()
    out = write_package(settings, tmp_path / "out" / "appPackage.zip")
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == sorted(["manifest.json", *ICONS])
        assert json.loads(zf.read("manifest.json")) == build_manifest(settings)
        for name in ICONS:
            assert zf.read(name) == (HERE / name).read_bytes()


def test_session_tab_for_meetings_is_valid() -> None:
    manifest = build_manifest(make_settings(public_url="https://reflective.example.org"))
    assert errors(schema_validator(), manifest) == []
    (tab,) = manifest["configurableTabs"]
    assert tab["configurationUrl"] == "https://reflective.example.org/live/tab/config"
    assert tab["scopes"] == ["groupChat"]
    assert set(tab["context"]) == {"meetingSidePanel", "meetingStage"}
    assert manifest["validDomains"] == ["reflective.example.org"]
    # Single sign-on: the tab's token is issued for the app's resource on its host.
    assert manifest["webApplicationInfo"] == {
        "id": APP_ID,
        "resource": f"api://reflective.example.org/{APP_ID}",
    }


def test_no_session_tab_without_an_https_address() -> None:
    assert "configurableTabs" not in build_manifest(make_settings())
