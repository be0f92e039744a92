import pytest

from bot.core.pii import Finding, find_identifying_details, identifying_details_problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Child A (ref CS-1234) keeps being re-referred", []),
        ("The Lead Professional and the Head Teacher disagree since 3/4/24", []),
        ("NHS number 943 476 5919", [Finding.NHS_NUMBER]),
        ("9434765919", [Finding.NHS_NUMBER]),
        ("lives near SW1A 1AA", [Finding.POSTCODE]),
        ("mum on 07700 900123", [Finding.PHONE_NUMBER]),
        ("call +44 7700 900123", [Finding.PHONE_NUMBER]),
        ("Jane Smith, 12/03/2015", [Finding.NAME_WITH_BIRTH_DATE]),
        ("Jane Smith born 1 March 2015", [Finding.NAME_WITH_BIRTH_DATE]),
        ("DOB 01.02.2016", [Finding.BIRTH_DATE]),
        ("email mum at jo@example.com", [Finding.EMAIL]),
    ],
)
def test_findings(text: str, expected: list[Finding]) -> None:
    assert find_identifying_details(text) == expected


def test_ten_digits_that_fail_the_nhs_checksum_are_not_an_nhs_number() -> None:
    assert Finding.NHS_NUMBER not in find_identifying_details("case 1234567890")


def test_the_problem_names_the_box_and_the_kinds_and_never_quotes_the_text() -> None:
    """The message goes into a chat, which keeps it: what was typed must not be in it."""
    typed = "Zebedee Quinlan 03/04/2015 at ZE9 9QX"
    problem = identifying_details_problem(typed, "What is stuck")
    assert problem == (
        "In \u201cWhat is stuck\u201d this looks like it includes a postcode and a full name "
        "with a date of birth. Please take it out and use initials or a case reference "
        "instead: the referral must not identify the child."
    )
    assert identifying_details_problem(typed) is not None
    assert identifying_details_problem(typed).startswith("This looks like")  # type: ignore[union-attr]
    assert identifying_details_problem("Child A (ref CS-1234)", "What is stuck") is None
