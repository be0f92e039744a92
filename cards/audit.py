"""The audit listing in words: who did what, named as people know them, never by code or id.

The log itself keeps codes and ids (`python -m bot.core.audit REF` prints them for the
operator); admins in the desk read this: one sentence per entry, the actor by name where the
bot knows one, and "someone" where the name has gone (retention, or an erasure request).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.audit import OPERATOR, Action, AuditLine
from bot.core.working_days import WorkingCalendar
from bot.triage.decisions import BY_VERB, RULES, Decision
from bot.triage.desk_log import DeskDetail, registered_in
from bot.triage.options import DeskOptions
from cards.binder import render
from cards.common import when
from cards.verbs import ReportVerb, TriageVerb

UNNAMED = "someone whose name Teams did not give"
# Actors that are not people (bot.sessions.store names them): the words for each.
NOT_PEOPLE = {
    "teams:meeting_end": "Teams, as the meeting ended",
    "bot:timer": "the bot, as nobody used the session",
    "system": "the retention purge",
}
# What a refused person tried, by the command or button the entry names.
TRIED = {
    "register triage here": "register a triage desk",
    "digest": "see the weekly digest",
    "audit": "read an audit log",
    "report": "see the partnership's figures",
    "report csv": "download the partnership's figures",
    ReportVerb.DOWNLOAD: "download the partnership's figures",
    TriageVerb.DETAILS: "open a referral's details",
    TriageVerb.HIDE: "close a referral's details",
    TriageVerb.FIND_TIMES: "look for free times",
    TriageVerb.RETRY_BOOKING: "try a booking again",
}
_UTC_TIME = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC")


def period_text(days: int) -> str:
    """6 years, 1 year, 90 days: how long the log keeps names."""
    years, rest = divmod(days, 365)
    if years and rest == 0:
        return f"{years} year{'s' if years != 1 else ''}"
    return f"{days} days"


@dataclass(frozen=True)
class AuditWords:
    """What turning entries into sentences needs: the desk's options (model labels, the
    facilitators' names), local time, how long names are kept, and where the desk is."""

    options: DeskOptions
    calendar: WorkingCalendar
    now: datetime
    retention_days: int
    desk_conversation: str = ""

    def who(self, line: AuditLine) -> str:
        if line.pseudonymised:
            kept_until = line.at + timedelta(days=self.retention_days)
            if kept_until <= self.now:
                return f"someone (their name was removed after {period_text(self.retention_days)})"
            return "someone (their name was removed at their request)"
        if line.actor_id in NOT_PEOPLE:
            return NOT_PEOPLE[line.actor_id]
        if line.actor_id == OPERATOR.id:
            named = line.actor_name and line.actor_name != OPERATOR.name
            return f"an operator ({line.actor_name})" if named else "an operator"
        if line.actor_name:
            return line.actor_name
        facilitator = self.options.facilitator(line.actor_id)
        return facilitator.name if facilitator is not None else UNNAMED

    def sentence(self, line: AuditLine) -> str:
        say = SENTENCES.get(line.action)
        if say is None:  # an action newer than this table: say something true
            return f"Recorded: an action by {self.who(line)}"
        return say(self, line, self.who(line))

    def local(self, detail: str) -> str:
        """The first "YYYY-MM-DD HH:MM UTC" in a detail, in local time ("" if none)."""
        found = _UTC_TIME.search(detail)
        if found is None:
            return ""
        moment = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        return when(moment, self.calendar)

    def model(self, model_id: str) -> str:
        known = self.options.models.get(model_id.strip())
        return known.label if known is not None else ""


def _accepted(words: AuditWords, line: AuditLine, who: str) -> str:
    found = re.match(r"model (\S+?)(?:;|$)", line.detail)
    model = words.model(found.group(1)) if found else ""
    return f"Accepted by {who}" + (f", for a {model} session" if model else "")


def _declined(words: AuditWords, line: AuditLine, who: str) -> str:
    signpost = line.detail.removeprefix("signpost:").strip() if line.detail else ""
    return f"Declined by {who}" + (f"; signposted to {signpost}" if signpost else "")


def _withdrawn(words: AuditWords, line: AuditLine, who: str) -> str:
    why = {
        "withdrawn": ", as withdrawn by the referrer",
        "duplicate": ", as a duplicate of another referral",
    }
    return f"Closed by {who}" + why.get(line.detail.strip(), "")


def _scheduled(words: AuditWords, line: AuditLine, who: str) -> str:
    at = words.local(line.detail)
    how = "booked through Outlook" if "Outlook" in line.detail else "booked by hand"
    return f"Session scheduled by {who}" + (f" for {at}, {how}" if at else "")


def _cancelled(words: AuditWords, line: AuditLine, who: str) -> str:
    at = words.local(line.detail)
    return f"Session{f' of {at}' if at else ''} cancelled by {who}"


def _lost_race(words: AuditWords, line: AuditLine, who: str) -> str:
    found = re.match(r"(\w+) on v\d+", line.detail)
    decisions = {decision.value: decision for decision in Decision}
    decision = decisions.get(found.group(1)) if found else None
    button = f" of \u201c{RULES[decision].confirm}\u201d" if decision is not None else ""
    return (
        f"A press{button} by {who} on an out-of-date card was refused: someone had "
        "already changed the referral, so nothing was changed"
    )


def _refused(words: AuditWords, line: AuditLine, who: str) -> str:
    what = DeskDetail.parse(line.detail).what
    tried = TRIED.get(what)
    if tried is None and what in BY_VERB:
        rule, opens = BY_VERB[what]
        tried = f"press \u201c{rule.button if opens else rule.confirm}\u201d"
    return (
        f"Refused: {who}, who is not in business support, tried to "
        f"{tried or 'use a business support button'}"
    )


def _report(words: AuditWords, line: AuditLine, who: str) -> str:
    period = DeskDetail.parse(line.detail).what
    taken = "shown to" if line.action == Action.REPORT_SHOWN else "downloaded as CSV by"
    return f"The partnership's figures ({period}) {taken} {who}"


def _registered(words: AuditWords, line: AuditLine, who: str) -> str:
    here = words.desk_conversation and registered_in(line) == words.desk_conversation
    where = "here" if here else "in another channel or chat"
    return f"The triage desk was registered {where} by {who}"


def _audit_read(words: AuditWords, line: AuditLine, who: str) -> str:
    if line.detail:  # a desk entry: it names the desk's conversation
        return f"This desk's audit log was read by {who}"
    return f"Audit log read by {who}"


def _set_up(words: AuditWords, line: AuditLine, who: str) -> str:
    model = words.model(line.detail)
    return f"{f'{model} session' if model else 'Session'} set up in its meeting by {who}"


Say = Callable[[AuditWords, AuditLine, str], str]
SENTENCES: dict[str, Say] = {
    Action.SUBMITTED: lambda words, line, who: f"Referred by {who}",
    Action.NARRATIVE_READ: lambda words, line, who: f"The referral's text read by {who}",
    Action.DETAILS_VIEWED: lambda words, line, who: f"Details read by {who}",
    Action.DESK_REGISTERED: _registered,
    Action.ACCEPTED: _accepted,
    Action.MORE_INFO_REQUESTED: lambda words, line, who: (
        f"More information asked of the referrer by {who}"
    ),
    Action.ANSWER_RECEIVED: lambda words, line, who: f"Question answered by the referrer, {who}",
    Action.DECLINED: _declined,
    Action.WITHDRAWN: _withdrawn,
    Action.SCHEDULED: _scheduled,
    Action.SESSION_CANCELLED: _cancelled,
    Action.FIND_TIMES: lambda words, line, who: f"Free times looked for, asked by {who}",
    Action.BOOKING_RETRIED: lambda words, line, who: f"Booking tried again by {who}",
    Action.REFUSED: _refused,
    Action.LOST_RACE: _lost_race,
    Action.AUDIT_READ: _audit_read,
    Action.REPORT_SHOWN: _report,
    Action.REPORT_DOWNLOADED: _report,
    Action.SESSION_SET_UP: _set_up,
    Action.SESSION_ENDED: lambda words, line, who: f"Session ended by {who}",
    Action.RETENTION_PURGE: lambda words, line, who: "Old records removed by the retention purge",
    Action.KEYS_ROTATED: lambda words, line, who: f"Encryption keys changed by {who}",
    Action.SUBJECT_EXPORTED: lambda words, line, who: (
        f"A person's data exported at their request, by {who}"
    ),
    Action.SUBJECT_ERASED: lambda words, line, who: (
        f"A person's data erased at their request, by {who}"
    ),
    Action.FURTHER_BOOKING: lambda words, line, who: (
        f"Further reflection meeting booked in Outlook, asked by {who}"
    ),
    Action.FURTHER_BOOKED_BY_HAND: lambda words, line, who: (
        f"Further reflection meeting booked by hand by {who}"
    ),
    Action.FURTHER_NOT_NEEDED: lambda words, line, who: (
        f"Further reflection meeting marked not needed by {who}"
    ),
}


def audit_card(title: str, lines: list[AuditLine], words: AuditWords) -> dict[str, Any]:
    """The listing: a referral's (title "Audit log for RP-...") or the desk's own."""
    return render(
        "audit",
        {
            "title": title,
            "zone": str(words.calendar.zone),
            "is_empty": not lines,
            "lines": [
                {"at": when(line.at, words.calendar), "sentence": f"{words.sentence(line)}."}
                for line in lines
            ],
        },
    )
