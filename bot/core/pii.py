"""Spots text that looks like it identifies a child, so the referrer can take it out.

Referrals must carry initials or a case reference only. These checks are deliberately
cautious heuristics: a false alarm costs the referrer one edit, a miss costs a child's privacy.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Finding(StrEnum):
    NHS_NUMBER = "an NHS number"
    POSTCODE = "a postcode"
    PHONE_NUMBER = "a phone number"
    NAME_WITH_BIRTH_DATE = "a full name with a date of birth"
    BIRTH_DATE = "a date of birth"
    EMAIL = "an email address"


_NHS_CANDIDATE = re.compile(r"(?<!\d)(\d{3})[\s-]?(\d{3})[\s-]?(\d{4})(?!\d)")
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[ABD-HJLNP-UW-Z]{2}\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\d+])(?:\+44\s?\(?0?\)?|0)\s?\d(?:[\s-]?\d){8,9}(?!\d)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE = re.compile(
    rf"\b\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{2}}|\d{{4}})\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\.?\s+\d{{4}}\b",
    re.IGNORECASE,
)
_BIRTH_WORDS = re.compile(r"\b(?:d\.?o\.?b\.?|date of birth|born)\b", re.IGNORECASE)
_FULL_NAME = re.compile(
    r"\b([A-Z][a-z]+(?:[-'][A-Z][a-z]+)?)\s+([A-Z][a-z]+(?:[-'][A-Z][a-z]+)?)\b"
)
# Capitalised pairs that are roles, services or calendar words, not people.
_NOT_NAMES = {
    "lead", "professional", "social", "worker", "care", "think", "space", "re", "health",
    "visitor", "school", "nurse", "police", "officer", "child", "children", "protection",
    "team", "early", "help", "family", "services", "mr", "mrs", "ms", "miss", "dr", "the",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "head",
    "teacher", "designated", "safeguarding", "partnership", "core", "group", "strategy",
}  # fmt: skip


def _nhs_checksum_ok(digits: str) -> bool:
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _has_full_name(text: str) -> bool:
    for match in _FULL_NAME.finditer(text):
        words = {match.group(1).lower(), match.group(2).lower()}
        if not words & _NOT_NAMES and not words & set(_MONTHS.split("|")):
            return True
    return False


def find_identifying_details(text: str) -> list[Finding]:
    findings: list[Finding] = []
    if any(_nhs_checksum_ok("".join(m.groups())) for m in _NHS_CANDIDATE.finditer(text)):
        findings.append(Finding.NHS_NUMBER)
    if _POSTCODE.search(text):
        findings.append(Finding.POSTCODE)
    if _PHONE.search(text) and Finding.NHS_NUMBER not in findings:
        findings.append(Finding.PHONE_NUMBER)
    if _EMAIL.search(text):
        findings.append(Finding.EMAIL)
    has_date = bool(_DATE.search(text))
    if has_date and _has_full_name(text):
        findings.append(Finding.NAME_WITH_BIRTH_DATE)
    elif _BIRTH_WORDS.search(text) and (has_date or re.search(r"\d", text)):
        findings.append(Finding.BIRTH_DATE)
    return findings


def identifying_details_problem(text: str, where: str = "") -> str | None:
    """What to tell the person if `text` seems to identify a child; None if it seems fine.

    `where` names the box it was typed in (as the card labels it). The message says which
    kind of detail was found and where, never the text: it is sent into a chat, which keeps it.
    """
    findings = find_identifying_details(text)
    if not findings:
        return None
    listed = " and ".join(f.value for f in findings)
    subject = f"In \u201c{where}\u201d this" if where else "This"
    return (
        f"{subject} looks like it includes {listed}. Please take it out and use initials or a "
        "case reference instead: the referral must not identify the child."
    )
