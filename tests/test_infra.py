"""infra/: what checkov does not look at (`make infra-check` runs checkov).

The parameters file and main.bicep agree, nothing secret is in either, the app settings the
Bicep writes are ones the app (or its host) reads, and the web app keeps two instances behind
the /readyz health check. The Bicep is our own, so plain regular expressions read it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.core.settings import Settings

INFRA = Path(__file__).resolve().parents[1] / "infra"
MAIN = INFRA / "main.bicep"
PARAMETERS = INFRA / "main.parameters.json"
WEB = INFRA / "modules" / "web.bicep"

# App settings the app does not read through Settings: App Service reads them, or a library
# reads them from the environment itself.
PLATFORM_SETTINGS = {
    "WEBSITES_PORT": "App Service: the port it sends requests to",
    "SCM_DO_BUILD_DURING_DEPLOYMENT": "App Service: Oryx installs requirements.txt on deploy",
    "WEBSITES_CONTAINER_STOP_TIME_LIMIT": "App Service: seconds from SIGTERM to SIGKILL",
    "AZURE_CLIENT_ID": "azure-identity: which user-assigned managed identity to use",
    "ApplicationInsightsAgent_EXTENSION_VERSION": "App Service: its own agent, kept off",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "Azure Monitor OpenTelemetry: where traces go",
}

# Words and shapes that mean a secret: a name that says so, PEM key material, a Fernet key
# (what ENCRYPTION_KEYS holds), a connection string's key.
SECRET_WORDS = re.compile(r"password|secret|private.?key|accountkey|sharedaccess", re.I)
SECRET_SHAPES = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"^[A-Za-z0-9_-]{43}=$"),  # a Fernet key: 32 bytes, url-safe base64
    re.compile(r"(AccountKey|SharedAccessKey|InstrumentationKey)=", re.I),
]

PARAM = re.compile(r"^param (\w+) (\w+)(?: = (.*))?$", re.M)


def _params() -> dict[str, dict[str, Any]]:
    """main.bicep's params: type, default text (None without one), decorators above it."""
    text = MAIN.read_text(encoding="utf-8")
    lines = text.splitlines()
    params: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines):
        match = PARAM.match(line)
        if not match:
            continue
        name, kind, default = match.groups()
        decorators = []
        above = number - 1
        while above >= 0 and lines[above].startswith("@"):
            decorators.append(lines[above])
            above -= 1
        params[name] = {"type": kind, "default": default, "decorators": decorators}
    return params


def _parameter_values() -> dict[str, Any]:
    document = json.loads(PARAMETERS.read_text(encoding="utf-8"))
    return {name: entry["value"] for name, entry in document["parameters"].items()}


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _app_settings() -> dict[str, str]:
    """The app settings main.bicep writes: name to its value's Bicep text."""
    text = MAIN.read_text(encoding="utf-8")
    block = re.search(
        r"^var appSettings = concat\(\[\n(.*?)^\], extraAppSettings\)", text, re.M | re.S
    )
    assert block, "main.bicep builds the app settings as `var appSettings = concat([...], ...)`"
    pairs = re.findall(r"name: '([^']+)'\n\s*value: (.+)", block.group(1))
    assert pairs
    return dict(pairs)


def _minimum(decorators: list[str]) -> int | None:
    for decorator in decorators:
        match = re.fullmatch(r"@minValue\((\d+)\)", decorator)
        if match:
            return int(match.group(1))
    return None


def test_every_required_parameter_has_a_value_and_every_value_a_parameter() -> None:
    params = _params()
    values = _parameter_values()
    required = {name for name, param in params.items() if param["default"] is None}
    assert required, "main.bicep has no required parameter: the regex no longer reads it"
    assert not required - values.keys(), "parameters without a default need a value"
    assert not values.keys() - params.keys(), "values for parameters main.bicep does not have"


def test_no_parameter_is_secure_or_named_like_a_secret() -> None:
    # The deployment takes no secret at all: ENCRYPTION_KEYS goes into Key Vault by hand.
    assert "@secure()" not in MAIN.read_text(encoding="utf-8")
    for name in _params():
        assert not SECRET_WORDS.search(name), name


@pytest.mark.parametrize("source", ["defaults", "parameters file"])
def test_no_value_looks_like_a_secret(source: str) -> None:
    if source == "defaults":
        strings = [p["default"] for p in _params().values() if p["default"] is not None]
    else:
        strings = _strings(_parameter_values())
    assert strings
    for value in strings:
        assert not SECRET_WORDS.search(value), value
        for shape in SECRET_SHAPES:
            assert not shape.search(value), value


def test_app_settings_are_ones_the_app_or_its_host_reads() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    extra = [entry["name"] for entry in _parameter_values().get("extraAppSettings", [])]
    names = [*_app_settings(), *extra]
    assert len(names) == len(set(names)), "an app setting is written twice"
    unknown = [name for name in names if name not in fields and name not in PLATFORM_SETTINGS]
    assert not unknown, f"not read by Settings nor listed in PLATFORM_SETTINGS: {unknown}"


def test_production_settings_hold_no_secret() -> None:
    settings = _app_settings()
    assert settings["MODE"] == "'production'"
    # The keys are a Key Vault reference, never a value; the bot and Graph sign in as the
    # managed identity, so there is no app password or client secret to set.
    assert settings["ENCRYPTION_KEYS"].startswith("'@Microsoft.KeyVault(SecretUri=")
    assert settings["MICROSOFT_APP_TYPE"] == "'UserAssignedMSI'"
    assert settings["GRAPH_USE_MANAGED_IDENTITY"] == "'true'"
    for name in ("MICROSOFT_APP_PASSWORD", "GRAPH_CLIENT_SECRET", "GRAPH_CERTIFICATE_PATH"):
        assert name not in settings
    # The database URL names the identity's role and no password.
    assert re.fullmatch(
        r"'postgresql\+asyncpg://\$\{identity\.name\}@[^:']+:5432/.*'", settings["DATABASE_URL"]
    )
    assert settings["DATABASE_AUTH"] == "'entra'"


def test_the_health_check_is_readyz() -> None:
    web = WEB.read_text(encoding="utf-8")
    assert re.findall(r"healthCheckPath: '([^']*)'", web) == ["/readyz"]


def test_at_least_two_instances() -> None:
    params = _params()
    count = params["instanceCount"]
    minimum = _minimum(count["decorators"])
    assert minimum is not None and minimum >= 2
    assert int(count["default"]) >= 2
    assert _parameter_values().get("instanceCount", 2) >= 2
    # The plan's capacity and the site's workers both come from it, in the module too.
    web = WEB.read_text(encoding="utf-8")
    assert "capacity: instanceCount" in web
    assert "numberOfWorkers: instanceCount" in web
    module_count = re.search(r"((?:^@.*\n)*)^param instanceCount int = (\d+)$", web, re.M)
    assert module_count
    assert int(module_count.group(2)) >= 2
    module_minimum = _minimum(module_count.group(1).splitlines())
    assert module_minimum is not None and module_minimum >= 2
    assert "instanceCount: instanceCount" in MAIN.read_text(encoding="utf-8")
