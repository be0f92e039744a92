"""The built-in session protocols (Space to Think, Think Space, Re-think) and loader errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.protocols import (
    BUILT_IN,
    Collect,
    Protocol,
    ProtocolError,
    Step,
    catalogue_of,
    load_file,
    load_protocols,
    plan,
)
from bot.core.settings import DEFAULT_OFFERED_MODELS


@pytest.fixture(scope="module")
def built_in() -> dict[str, Protocol]:
    return load_protocols([BUILT_IN])


def _text(name: str) -> str:
    return (BUILT_IN / f"{name}.toml").read_text(encoding="utf-8")


def _write(directory: Path, file_name: str, text: str) -> Path:
    path = directory / file_name
    path.write_text(text, encoding="utf-8")
    return path


def _changed(text: str, old: str, new: str) -> str:
    """`text` with the first `old` replaced; fails if `old` is not there (so no silent no-op)."""
    assert old in text, f"{old!r} is not in the built-in file any more"
    return text.replace(old, new, 1)


def _error(path: Path) -> str:
    with pytest.raises(ProtocolError) as caught:
        load_file(path)
    return str(caught.value)


# The built-ins


def test_built_ins_load_with_the_model_names(built_in: dict[str, Protocol]) -> None:
    assert set(built_in) == {"think_space", "space_to_think", "re_think"}
    assert set(built_in) == set(DEFAULT_OFFERED_MODELS)
    assert {path.stem for path in BUILT_IN.glob("*.toml")} == set(built_in)
    for key, protocol in built_in.items():
        assert protocol.id == key
        assert load_file(BUILT_IN / f"{key}.toml") == protocol


def test_space_to_think_follows_the_tees_timings(built_in: dict[str, Protocol]) -> None:
    protocol = built_in["space_to_think"]
    assert protocol.name == "Space to Think"
    assert [role.key for role in protocol.roles] == ["facilitator", "case_presenter", "consultants"]
    assert (protocol.facilitator_role, protocol.presenter_role) == ("facilitator", "case_presenter")
    stages = {stage.key: stage for stage in protocol.stages}
    assert list(stages) == [
        "offload",
        "checking_facts",
        "group_exploration",
        "strengths",
        "purposeful_reflection",
        "summary_next_steps",
    ]
    guidance = {
        "offload": (5, 10),
        "checking_facts": (3, 6),
        "group_exploration": (10, 20),
        "strengths": (2, 4),
        "purposeful_reflection": (10, 10),
        "summary_next_steps": (5, 10),
    }
    for key, (low, high) in guidance.items():
        minutes = stages[key].minutes
        assert minutes is not None
        assert (minutes.min, minutes.max) == (low, high), key
        assert minutes.default == low, key

    steps = plan(protocol)
    assert len(steps) == 6
    assert sum(step.default_minutes for step in steps) == 35
    assert [step.collect for step in steps] == [Collect.NONE] * 5 + [Collect.ACTIONS]
    assert (steps[0].speaks, steps[0].listens) == ("Case Presenter", "Consultants")
    assert steps[1].speaks == "Facilitator and Case Presenter"
    assert (steps[3].speaks, steps[3].listens) == ("Consultants", "Case Presenter")
    assert (steps[5].speaks, steps[5].listens) == ("Case Presenter", "Consultants")
    assert (protocol.extend_minutes, protocol.warning_minutes) == (2, 1)
    assert len(protocol.question_bank) == 18
    assert any("new information" in item for item in protocol.is_not)
    assert any("CIN" in item and "Core Group" in item for item in protocol.is_not)
    assert protocol.anonymous_contributions and not protocol.independent_means_no_notes


def test_think_space_unrolls_the_reflecting_team(built_in: dict[str, Protocol]) -> None:
    protocol = built_in["think_space"]
    assert protocol.name == "Think Space"
    assert (protocol.facilitator_role, protocol.presenter_role) == ("facilitator", "referrer")
    steps = plan(protocol)
    assert [step.stage_key for step in steps if step.stage_key != "reflecting_team"] == [
        "welcome",
        "pen_picture",
        "hopes",
        "blockers_enablers",
        "summing_up",
    ]
    collects = {step.stage_key: step.collect for step in steps}
    assert collects["hopes"] is Collect.HOPES
    assert collects["blockers_enablers"] is Collect.BLOCKERS_ENABLERS

    cycling = [step for step in steps if step.stage_key == "reflecting_team"]
    assert [step.title for step in cycling] == [
        "Reflecting team: Practitioners talk",
        "Reflecting team: Membership reflects",
    ] * 3
    assert [step.cycle for step in cycling] == [1, 1, 2, 2, 3, 3]
    assert {step.cycles for step in cycling} == {3}
    assert all(step.auto_advance for step in cycling)
    assert not any(step.auto_advance for step in steps if step.stage_key != "reflecting_team")
    assert {step.default_minutes for step in cycling} == {5}
    assert cycling[0].listens == "Membership"
    assert cycling[1].speaks == "Membership"
    # The whole cycle sits between blockers/enablers and summing up.
    assert steps[4 : 4 + len(cycling)] == cycling
    assert 80 <= sum(step.default_minutes for step in steps) <= 100


def test_think_space_cycles_can_be_chosen_within_limits(built_in: dict[str, Protocol]) -> None:
    protocol = built_in["think_space"]

    def cycles(steps: list[Step]) -> list[tuple[int | None, int | None]]:
        return [(s.cycle, s.cycles) for s in steps if s.stage_key == "reflecting_team"]

    assert cycles(plan(protocol, cycles=2)) == [(1, 2), (1, 2), (2, 2), (2, 2)]
    assert cycles(plan(protocol, cycles=0)) == [(1, 1), (1, 1)]
    too_many = cycles(plan(protocol, cycles=50))
    assert len(too_many) == 12 and too_many[-1] == (6, 6)


def test_think_space_panel_does_not_write_the_action_plan(built_in: dict[str, Protocol]) -> None:
    summing_up = built_in["think_space"].stages[-1]
    assert summing_up.key == "summing_up"
    assert summing_up.speaks == ["everyone"]
    assert "not for the panel to create the action plan" in summing_up.guidance
    assert "supervisory responsibility" in summing_up.guidance


def test_re_think_follows_the_portsmouth_steps(built_in: dict[str, Protocol]) -> None:
    protocol = built_in["re_think"]
    assert protocol.name == "Re-think"
    assert (protocol.facilitator_role, protocol.presenter_role) == (
        "facilitator",
        "lead_professional",
    )
    steps = plan(protocol)
    assert [step.stage_key for step in steps] == [
        "introduction",
        "introductions",
        "group_agreement",
        "perspectives",
        "reflections",
        "actions",
        "who_when",
        "where_recorded",
        "wrap_up",
    ]
    assert sum(step.default_minutes for step in steps) == 120
    assert [step.stage_key for step in steps if step.collect is Collect.ACTIONS] == [
        "actions",
        "who_when",
        "where_recorded",
    ]
    assert protocol.independent_means_no_notes is True
    assert any("equal voice" in item for item in protocol.group_agreement)
    assert "only an introduction" in steps[1].guidance
    assert "NO notes" in steps[-1].guidance
    assert {"A scary place to be.", "A place for blame."} <= set(protocol.is_not)


def test_a_plan_survives_its_json_round_trip(built_in: dict[str, Protocol]) -> None:
    steps = plan(built_in["think_space"], cycles=2)
    assert [Step.from_json(step.as_json()) for step in steps] == steps


# Errors name the file and the field


def test_missing_required_field(tmp_path: Path) -> None:
    # The first `guidance` in the file is the first stage's (roles have none).
    text, count = re.subn(r"(?m)^guidance = .*\n", "", _text("space_to_think"), count=1)
    assert count == 1
    path = _write(tmp_path, "space_to_think.toml", text)
    message = _error(path)
    assert str(path) in message
    assert "stages[0].guidance" in message


def test_min_greater_than_default(tmp_path: Path) -> None:
    text = _changed(
        _text("space_to_think"),
        "minutes = { min = 3, default = 3, max = 6 }",
        "minutes = { min = 4, default = 3, max = 6 }",
    )
    path = _write(tmp_path, "space_to_think.toml", text)
    message = _error(path)
    assert str(path) in message
    assert "stages[1].minutes" in message
    assert "min <= default <= max" in message


def test_unknown_role_in_speaks(tmp_path: Path) -> None:
    text = _changed(
        _text("space_to_think"), 'speaks = ["case_presenter"]', 'speaks = ["presenter"]'
    )
    path = _write(tmp_path, "space_to_think.toml", text)
    message = _error(path)
    assert str(path) in message
    assert "stages[0].speaks" in message
    assert "'presenter'" in message


def test_unknown_role_in_a_phase(tmp_path: Path) -> None:
    text = _changed(
        _text("think_space"),
        'listens = ["practitioners", "referrer"]\nguidance = "The membership reflects',
        'listens = ["practitioner", "referrer"]\nguidance = "The membership reflects',
    )
    path = _write(tmp_path, "think_space.toml", text)
    message = _error(path)
    assert str(path) in message
    assert "stages[4].phases[1].listens" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    text = _changed(
        _text("re_think"), 'id = "re_think"\n', 'id = "re_think"\nnotes_allowed = true\n'
    )
    path = _write(tmp_path, "re_think.toml", text)
    message = _error(path)
    assert str(path) in message
    assert "notes_allowed" in message


def test_invalid_toml(tmp_path: Path) -> None:
    text = _changed(_text("re_think"), 'name = "Re-think"', 'name = "Re-think')
    line = text.splitlines().index('name = "Re-think') + 1
    path = _write(tmp_path, "re_think.toml", text)
    message = _error(path)
    assert str(path) in message
    assert "not valid TOML" in message
    assert f"line {line}" in message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "re_think.toml"
    path.write_bytes(_text("re_think").encode("utf-8").replace(b"Re-think", b"Re\x96think", 1))
    message = _error(path)
    assert str(path) in message
    assert "UTF-8" in message


def test_id_must_match_the_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "space_to_think_copy.toml", _text("space_to_think"))
    message = _error(path)
    assert str(path) in message
    assert "id: 'space_to_think' must match the file name 'space_to_think_copy'" in message


def test_facilitator_role_must_be_a_role(tmp_path: Path) -> None:
    text = _changed(
        _text("think_space"), 'facilitator_role = "facilitator"', 'facilitator_role = "chair"'
    )
    path = _write(tmp_path, "think_space.toml", text)
    message = _error(path)
    assert str(path) in message
    assert "facilitator_role 'chair'" in message


def test_load_protocols_reports_the_broken_file(tmp_path: Path) -> None:
    _write(tmp_path, "re_think.toml", _changed(_text("re_think"), "is_not = [", "isnt = ["))
    with pytest.raises(ProtocolError, match=re.escape(str(tmp_path / "re_think.toml"))):
        load_protocols([BUILT_IN, tmp_path])
    with pytest.raises(ProtocolError, match="is not a directory"):
        load_protocols([tmp_path / "missing"])


# A partnership's own directory


def test_override_directory_replaces_and_adds(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "space_to_think.toml",
        _changed(
            _text("space_to_think"),
            "minutes = { min = 5, default = 5, max = 10 }",
            "minutes = { min = 5, default = 8, max = 10 }",
        ),
    )
    custom = _changed(_text("re_think"), 'id = "re_think"', 'id = "custom_model"')
    _write(tmp_path, "custom_model.toml", _changed(custom, 'name = "Re-think"', 'name = "Ours"'))

    protocols = load_protocols([BUILT_IN, tmp_path])
    assert set(protocols) == {"think_space", "space_to_think", "re_think", "custom_model"}
    assert plan(protocols["space_to_think"])[0].default_minutes == 8
    assert protocols["custom_model"].name == "Ours"
    assert protocols["re_think"].name == "Re-think"

    # The later directory wins: the built-in, listed last, is back.
    assert plan(load_protocols([tmp_path, BUILT_IN])["space_to_think"])[0].default_minutes == 5


# The models a partnership offers: the referral form, triage and booking read them from here


def test_the_catalogue_reads_names_and_notes_from_the_files(
    built_in: dict[str, Protocol],
) -> None:
    models = catalogue_of(built_in, DEFAULT_OFFERED_MODELS)
    assert models.ids == ("think_space", "space_to_think", "re_think")
    assert [model.label for model in models.offered] == [
        "Think Space",
        "Space to Think",
        "Re-think",
    ]
    assert models.label("re_think") == "Re-think"
    note = models.offered[1].note
    assert note.startswith("30-35 minutes in six timed stages")
    assert [model.id for model in models.offered if model.asks_strategy] == ["re_think"]
    assert models.offered[0].help == "Think Space is a monthly reflecting-teams panel."


def test_a_model_not_offered_is_still_known_by_name(built_in: dict[str, Protocol]) -> None:
    models = catalogue_of(built_in, ["space_to_think"])
    assert "space_to_think" in models and "re_think" not in models
    # A referral made while Re-think was offered still shows its name.
    assert models.label("re_think") == "Re-think"
    assert models.get("re_think") is not None
    # An id with no file at all (one removed since) shows as itself.
    assert models.label("retired_model") == "retired_model"
    assert models.get("retired_model") is None


def test_offering_a_model_without_a_file_names_it(built_in: dict[str, Protocol]) -> None:
    with pytest.raises(ProtocolError, match="OFFERED_MODELS names .huddle. with no protocol file"):
        catalogue_of(built_in, ["think_space", "huddle"])


def test_a_file_without_a_referral_table_is_offered_with_its_summary(tmp_path: Path) -> None:
    text = _changed(_text("space_to_think"), 'id = "space_to_think"', 'id = "plain"')
    text = text[: text.index("# How the referral form offers this model")]
    _write(tmp_path, "plain.toml", text)
    protocols = load_protocols([tmp_path])
    (model,) = catalogue_of(protocols, ["plain"]).offered
    assert model.note == protocols["plain"].summary
    assert not model.asks_strategy
    assert model.help.startswith("Space to Think: ")


def test_an_unknown_key_in_the_referral_table_is_named(tmp_path: Path) -> None:
    text = _changed(_text("re_think"), "asks_strategy = true", "asks_strategies = true")
    path = _write(tmp_path, "re_think.toml", text)
    assert "referral.asks_strategies" in _error(path)
