"""Session models as data: one TOML file per protocol, checked against a schema when loaded.

The built-in files live in `protocols/` at the top of the checkout (Think Space, Space to
Think, Re-think, following the partnerships' guidance). A partnership adds or changes one
by putting a file in `PROTOCOLS_DIR`: a file there with the same `id` replaces the built-in.
Naming its id in OFFERED_MODELS offers it on the referral form, at triage and for booking:
its name, its `[referral]` note and help, and its `[booking]` window come from the file
(`catalogue_of`), never from code.

A running session keeps the plan it started with (`plan()`, stored with the session), so a
file edited mid-session changes the next session, not the one in the room.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import protocols as built_in_protocols  # the top-level data package, not this module

# The built-in files travel with the app as a package: found in a checkout and a wheel alike.
BUILT_IN = Path(built_in_protocols.__file__).resolve().parent
EVERYONE = "everyone"  # may stand in `speaks` or `listens` for the whole group
_KEY = r"^[a-z][a-z0-9_]*$"


class ProtocolError(ValueError):
    """A protocol file is missing, unreadable or breaks the schema; the message names both."""


class Collect(StrEnum):
    """What a stage gathers from the people in the room (never in no-notes mode)."""

    NONE = "none"
    HOPES = "hopes"  # each practitioner's hopes for the session
    BLOCKERS_ENABLERS = "blockers_enablers"  # three blockers and three enablers each
    ACTIONS = "actions"  # what, who, by when, where recorded


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Minutes(_Strict):
    min: float = Field(gt=0, le=240)
    default: float = Field(gt=0, le=240)
    max: float = Field(gt=0, le=240)

    @model_validator(mode="after")
    def _ordered(self) -> Minutes:
        if not self.min <= self.default <= self.max:
            raise ValueError("needs min <= default <= max")
        return self


class Cycles(_Strict):
    default: int = Field(ge=1, le=12)
    min: int = Field(ge=1, le=12)
    max: int = Field(ge=1, le=12)

    @model_validator(mode="after")
    def _ordered(self) -> Cycles:
        if not self.min <= self.default <= self.max:
            raise ValueError("needs min <= default <= max")
        return self


class Role(_Strict):
    key: str = Field(pattern=_KEY)
    name: str = Field(min_length=1, max_length=60)
    description: str = Field(min_length=1)
    # "one" person holds it (the case presenter), or "many" (consultants, the membership).
    holders: str = Field(default="one", pattern="^(one|many)$")


class Phase(_Strict):
    """One half of a repeating stage: Think Space's "practitioners talk" / "membership reflect"."""

    title: str = Field(min_length=1, max_length=80)
    speaks: list[str] = Field(min_length=1)
    listens: list[str] = Field(default_factory=list)
    guidance: str = Field(min_length=1)
    prompts: list[str] = Field(default_factory=list)
    minutes: Minutes


class Stage(_Strict):
    key: str = Field(pattern=_KEY)
    title: str = Field(min_length=1, max_length=80)
    speaks: list[str] = Field(default_factory=list)
    listens: list[str] = Field(default_factory=list)
    guidance: str = Field(min_length=1)
    prompts: list[str] = Field(default_factory=list)
    minutes: Minutes | None = None  # a repeating stage times each phase instead
    collect: Collect = Collect.NONE
    # Move on by itself when the time is up (else the facilitator is asked to move on).
    auto_advance: bool = False
    cycles: Cycles | None = None
    phases: list[Phase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _timed_once(self) -> Stage:
        if self.cycles is None:
            if self.phases:
                raise ValueError("phases need cycles (how many times they repeat)")
            if self.minutes is None:
                raise ValueError("needs minutes (or cycles with phases)")
            if not self.speaks:
                raise ValueError("speaks must name at least one role")
        else:
            if len(self.phases) < 2:
                raise ValueError("a repeating stage needs at least two phases")
            if self.minutes is not None:
                raise ValueError("a repeating stage times its phases: remove minutes")
        return self


class Booking(_Strict):
    """When this model's sessions may be booked, in the partnership's time zone."""

    minutes: int = Field(gt=0, le=480)  # how long the meeting is booked for
    earliest: time  # the first start, e.g. "13:00"
    latest_end: time  # the meeting must end by then, e.g. "16:00"
    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)
    step_minutes: int = Field(default=30, ge=5, le=240)  # starts on :00 and :30 by default

    @model_validator(mode="after")
    def _fits(self) -> Booking:
        if any(day not in range(7) for day in self.weekdays):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        span = datetime_span(self.earliest, self.latest_end)
        if span < timedelta(minutes=self.minutes):
            raise ValueError(
                f"{self.minutes} minutes do not fit between {self.earliest:%H:%M} and "
                f"{self.latest_end:%H:%M}"
            )
        return self


class Referral(_Strict):
    """How the referral form offers this model (the `[referral]` table)."""

    # The short line under the choice on the form; without it, the summary.
    note: str | None = Field(default=None, min_length=1, max_length=300)
    # One sentence for the form's help at "Which session", e.g. "Re-think is for ...".
    help: str | None = Field(default=None, min_length=1, max_length=300)
    # Ask Re-think's question: which strategy (1, 2 or 3) the referrer is at.
    asks_strategy: bool = False


class QuestionKind(StrEnum):
    SCALE = "scale"  # 1 to 5, labelled at both ends
    YES_NO = "yes_no"


# The questions every model asks, before its own: how the session felt (1-5, and in words),
# and three months on how it changed their practice. Protocol questions may not reuse the keys.
FELT, FELT_WORDS, CHANGED, CHANGED_WORDS = "felt", "felt_words", "changed", "changed_words"
RESERVED_KEYS = frozenset({FELT, FELT_WORDS, CHANGED, CHANGED_WORDS})


class Question(_Strict):
    """One feedback question a model asks, besides the ones every model asks."""

    key: str = Field(pattern=_KEY, max_length=40)
    text: str = Field(min_length=1, max_length=200)
    kind: QuestionKind = QuestionKind.SCALE
    low: str = Field(default="Not at all", min_length=1, max_length=40)  # the scale's 1
    high: str = Field(default="Very much", min_length=1, max_length=40)  # and its 5


class Feedback(_Strict):
    """What each practitioner is asked after a session (the `[feedback]` table)."""

    # After the session, besides how it felt.
    questions: list[Question] = Field(default_factory=list, max_length=6)
    # Months after the session when each is asked how it changed their practice; 0: never.
    follow_up_months: int = Field(default=3, ge=0, le=12)
    # Asked then, besides how the session changed their practice.
    follow_up_questions: list[Question] = Field(default_factory=list, max_length=6)
    # The desk is asked to book a further reflection meeting then (Think Space's).
    further_reflection: bool = False
    # One reminder, this many working days after a question unanswered; never more.
    reminder_working_days: int = Field(default=2, ge=1, le=10)

    @classmethod
    def of_session(cls, protocol: Mapping[str, Any]) -> Feedback:
        """The `[feedback]` of a protocol as a session stored it (MeetingSession.protocol);
        the defaults for sessions started before there was one."""
        return cls.model_validate(protocol.get("feedback") or {})

    @model_validator(mode="after")
    def _keys(self) -> Feedback:
        for name in ("questions", "follow_up_questions"):
            keys = [question.key for question in getattr(self, name)]
            if len(set(keys)) != len(keys):
                raise ValueError(f"two {name} share a key")
            taken = RESERVED_KEYS.intersection(keys)
            if taken:
                raise ValueError(
                    f"{name}: {sorted(taken)} is kept for the questions every model asks"
                )
        return self


def datetime_span(start: time, end: time) -> timedelta:
    """The time from `start` to `end` on one day (negative if end comes first)."""
    return timedelta(hours=end.hour - start.hour, minutes=end.minute - start.minute)


class Protocol(_Strict):
    id: str = Field(pattern=_KEY)
    name: str = Field(min_length=1, max_length=60)
    source: str = Field(min_length=1)  # the guidance this file follows
    summary: str = Field(min_length=1)
    roles: list[Role] = Field(min_length=1)
    facilitator_role: str  # the role that drives the session's controls
    # The role that brings the case (case presenter, referrer, Lead Professional), if any.
    presenter_role: str | None = None
    group_agreement: list[str] = Field(min_length=1)
    is_: list[str] = Field(alias="is", min_length=1)
    is_not: list[str] = Field(min_length=1)
    question_bank: list[str] = Field(default_factory=list)
    # Contributions are shown without names (the guidance asks for anonymised comments).
    anonymous_contributions: bool = True
    # With an independent facilitator nothing said or typed in the session is stored.
    independent_means_no_notes: bool = False
    extend_minutes: float = Field(default=5, gt=0, le=30)
    warning_minutes: float = Field(default=2, gt=0, le=10)
    stages: list[Stage] = Field(min_length=1)
    # When it may be booked; without it, the planned length inside working hours.
    booking: Booking | None = None
    referral: Referral = Field(default_factory=Referral)
    feedback: Feedback = Field(default_factory=Feedback)

    @model_validator(mode="after")
    def _references(self) -> Protocol:
        keys = [role.key for role in self.roles]
        if len(set(keys)) != len(keys):
            raise ValueError("two roles share a key")
        known = set(keys) | {EVERYONE}
        for field_name in ("facilitator_role", "presenter_role"):
            value = getattr(self, field_name)
            if value is not None and value not in keys:
                raise ValueError(f"{field_name} {value!r} is not one of the roles {keys}")
        stage_keys = [stage.key for stage in self.stages]
        if len(set(stage_keys)) != len(stage_keys):
            raise ValueError("two stages share a key")
        for number, stage in enumerate(self.stages):
            parts: list[tuple[str, Any]] = [(f"stages[{number}]", stage)]
            parts += [
                (f"stages[{number}].phases[{index}]", phase)
                for index, phase in enumerate(stage.phases)
            ]
            for where, part in parts:
                for field_name in ("speaks", "listens"):
                    for role in getattr(part, field_name):
                        if role not in known:
                            raise ValueError(
                                f"{where}.{field_name} ({stage.key}) names role {role!r}, "
                                f"which is not one of {sorted(known)}"
                            )
        return self

    def booking_or_default(self, day_start: time, day_end: time) -> Booking:
        if self.booking is not None:
            return self.booking
        planned = sum(step.default_minutes for step in plan(self))
        minutes = int(-(-planned // 15) * 15)  # rounded up to a quarter of an hour
        return Booking(minutes=minutes, earliest=day_start, latest_end=day_end)

    def role_name(self, key: str) -> str:
        if key == EVERYONE:
            return "Everyone"
        return next(role.name for role in self.roles if role.key == key)


@dataclass(frozen=True)
class Step:
    """One timed part of a session: a stage, or one phase of one cycle of a repeating stage.

    Stored with the session as plain JSON (`as_json`), so a session runs on the plan it
    started with.
    """

    stage_key: str
    title: str
    speaks: str  # role names, ready to show: "Case Presenter"
    listens: str
    guidance: str
    prompts: tuple[str, ...]
    default_minutes: float
    min_minutes: float
    max_minutes: float
    collect: Collect
    auto_advance: bool
    cycle: int | None = None  # 1-based, for a repeating stage
    cycles: int | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["prompts"] = list(self.prompts)
        data["collect"] = self.collect.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        return cls(
            **{
                **data,
                "prompts": tuple(data.get("prompts", ())),
                "collect": Collect(data.get("collect", "none")),
            }
        )


def plan(protocol: Protocol, cycles: int | None = None) -> list[Step]:
    """The session's steps in order, with each repeating stage unrolled `cycles` times."""
    names = protocol.role_name

    def who(keys: list[str]) -> str:
        people = [names(key) for key in keys]
        if len(people) <= 1:
            return people[0] if people else "-"
        return ", ".join(people[:-1]) + " and " + people[-1]

    steps: list[Step] = []
    for stage in protocol.stages:
        if stage.cycles is None:
            assert stage.minutes is not None
            steps.append(
                Step(
                    stage.key,
                    stage.title,
                    who(stage.speaks),
                    who(stage.listens),
                    stage.guidance,
                    tuple(stage.prompts),
                    stage.minutes.default,
                    stage.minutes.min,
                    stage.minutes.max,
                    stage.collect,
                    stage.auto_advance,
                )
            )
            continue
        count = stage.cycles.default if cycles is None else cycles
        count = max(stage.cycles.min, min(stage.cycles.max, count))
        for cycle in range(1, count + 1):
            for phase in stage.phases:
                steps.append(
                    Step(
                        stage.key,
                        f"{stage.title}: {phase.title}",
                        who(phase.speaks),
                        who(phase.listens),
                        phase.guidance,
                        tuple(phase.prompts),
                        phase.minutes.default,
                        phase.minutes.min,
                        phase.minutes.max,
                        stage.collect,
                        stage.auto_advance,
                        cycle,
                        count,
                    )
                )
    return steps


def load_file(path: Path) -> Protocol:
    """One protocol file, checked; a ProtocolError names the file and the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProtocolError(f"{path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ProtocolError(f"{path}: is not UTF-8 text ({error.reason})") from None
    except tomllib.TOMLDecodeError as error:
        raise ProtocolError(f"{path}: is not valid TOML ({error})") from None
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = _field_path(first["loc"]) or "(file)"
        raise ProtocolError(f"{path}: {where}: {_message(first)}") from None
    if protocol.id != path.stem:
        raise ProtocolError(f"{path}: id: {protocol.id!r} must match the file name {path.stem!r}")
    return protocol


def load_protocols(directories: Iterable[Path]) -> dict[str, Protocol]:
    """Every `*.toml` in the directories, by id; a later directory's file wins."""
    protocols: dict[str, Protocol] = {}
    for directory in directories:
        if not directory.is_dir():
            raise ProtocolError(f"{directory}: is not a directory of protocol files")
        for path in sorted(directory.glob("*.toml")):
            protocol = load_file(path)
            protocols[protocol.id] = protocol
    return protocols


@dataclass(frozen=True)
class ModelInfo:
    """What the referral form, triage and booking need to know about one model."""

    id: str  # the protocol file's id, e.g. "think_space"
    label: str  # its name, e.g. "Think Space"
    note: str  # the short line the referral form shows under the choice
    asks_strategy: bool  # Re-think's strategy 1/2/3 question
    help: str = ""  # one sentence for the form's help at "Which session"


@dataclass(frozen=True)
class ModelCatalogue:
    """The models this partnership offers, in OFFERED_MODELS order, from the protocol files."""

    offered: tuple[ModelInfo, ...]
    # Every loaded protocol: a referral may name one that is no longer offered.
    known: Mapping[str, ModelInfo]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(model.id for model in self.offered)

    def label(self, model_id: str) -> str:
        model = self.known.get(model_id)
        return model.label if model is not None else model_id

    def __contains__(self, model_id: object) -> bool:
        return any(model.id == model_id for model in self.offered)

    def get(self, model_id: str) -> ModelInfo | None:
        return self.known.get(model_id)


def model_info(protocol: Protocol) -> ModelInfo:
    referral = protocol.referral
    return ModelInfo(
        id=protocol.id,
        label=protocol.name,
        note=referral.note or protocol.summary,
        asks_strategy=referral.asks_strategy,
        help=referral.help or f"{protocol.name}: {referral.note or protocol.summary}",
    )


def catalogue_of(protocols: Mapping[str, Protocol], offered: Sequence[str]) -> ModelCatalogue:
    """The offered models, in order; a ProtocolError names any id in OFFERED_MODELS that has
    no protocol file (checked when the app starts)."""
    known = {model_id: model_info(protocol) for model_id, protocol in protocols.items()}
    missing = [model_id for model_id in offered if model_id not in known]
    if missing:
        names = ", ".join(repr(model_id) for model_id in missing)
        raise ProtocolError(
            f"OFFERED_MODELS names {names} with no protocol file: add <id>.toml to "
            f"PROTOCOLS_DIR or take it out of OFFERED_MODELS (there are files for "
            f"{', '.join(sorted(known)) or 'none'})"
        )
    return ModelCatalogue(offered=tuple(known[model_id] for model_id in offered), known=known)


def _field_path(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _message(error: Any) -> str:
    message = str(error.get("msg", "is not valid"))
    return re.sub(r"^Value error, ", "", message)
