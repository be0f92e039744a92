"""Slot finding: local wall-clock windows across summer time, bank holidays, busy people."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.working_days import WorkingCalendar
from bot.scheduling.slots import Busy, Slot, Window, describe, find_slots

LONDON = ZoneInfo("Europe/London")
FACILITATOR = "facilitator@example.org"
PEOPLE = [
    FACILITATOR,
    "ana@example.org",
    "ben@example.org",
    "cal@example.org",
    "dee@example.org",
]
# 90 minutes, starting 13:00 to 14:30 so as to end by 16:00.
THINK_SPACE = Window(duration=timedelta(minutes=90), earliest=time(13), latest_end=time(16))
WORKING_HOURS = Window(duration=timedelta(minutes=60), earliest=time(9), latest_end=time(17))
# Monday 30 November 2026: an ordinary week, no bank holidays, GMT.
MONDAY = datetime(2026, 11, 30, 0, 0, tzinfo=LONDON)


def local(slots: list[Slot], calendar: WorkingCalendar) -> list[str]:
    return [calendar.local(slot.start).strftime("%a %d %b %H:%M") for slot in slots]


def utc(slots: list[Slot]) -> list[str]:
    return [slot.start.astimezone(UTC).strftime("%d %b %H:%M") for slot in slots]


def one_day(day: date, window: Window, calendar: WorkingCalendar) -> list[Slot]:
    """Every candidate on `day`: with nobody busy they rank in time order."""
    start = datetime.combine(day, time(0), calendar.zone)
    return find_slots([], PEOPLE, window, calendar, start, search_days=1, count=100)


def all_day(person: str, day: date) -> Busy:
    return Busy(
        person,
        datetime.combine(day, time(0), LONDON),
        datetime.combine(day + timedelta(days=1), time(0), LONDON),
    )


def busy_at(person: str, day: date, start: time, end: time) -> Busy:
    return Busy(person, datetime.combine(day, start, LONDON), datetime.combine(day, end, LONDON))


def test_same_local_time_is_13_utc_in_winter_and_12_utc_in_summer() -> None:
    calendar = WorkingCalendar()
    winter = one_day(date(2027, 1, 12), THINK_SPACE, calendar)
    summer = one_day(date(2026, 7, 14), THINK_SPACE, calendar)
    assert utc(winter)[0] == "12 Jan 13:00"
    assert utc(summer)[0] == "14 Jul 12:00"
    assert all(slot.start.tzinfo is UTC and slot.end.tzinfo is UTC for slot in winter + summer)
    assert summer[0].end - summer[0].start == timedelta(minutes=90)


def test_days_the_clocks_change_give_the_right_utc() -> None:
    calendar = WorkingCalendar()
    # Clocks go forward on Sunday 29 March 2026 and back on Sunday 25 October 2026.
    assert utc(one_day(date(2026, 3, 27), THINK_SPACE, calendar))[0] == "27 Mar 13:00"  # GMT
    assert utc(one_day(date(2026, 3, 30), THINK_SPACE, calendar))[0] == "30 Mar 12:00"  # BST
    assert utc(one_day(date(2026, 10, 23), THINK_SPACE, calendar))[0] == "23 Oct 12:00"  # BST
    assert utc(one_day(date(2026, 10, 26), THINK_SPACE, calendar))[0] == "26 Oct 13:00"  # GMT
    # A whole working day on the Monday after: 09:00 to 16:00 starts, all in BST.
    monday = one_day(date(2026, 3, 30), WORKING_HOURS, calendar)
    assert utc(monday) == [
        f"30 Mar {hour:02}:{minute:02}" for hour in range(8, 15) for minute in (0, 30)
    ] + ["30 Mar 15:00"]
    assert local(monday, calendar)[-1] == "Mon 30 Mar 16:00"
    assert calendar.local(monday[-1].end).strftime("%H:%M") == "17:00"
    # The Friday before the clocks go back is still BST, the Monday after is GMT.
    friday = one_day(date(2026, 10, 23), WORKING_HOURS, calendar)
    after = one_day(date(2026, 10, 26), WORKING_HOURS, calendar)
    assert (utc(friday)[0], utc(friday)[-1]) == ("23 Oct 08:00", "23 Oct 15:00")
    assert (utc(after)[0], utc(after)[-1]) == ("26 Oct 09:00", "26 Oct 16:00")


def test_wall_clock_times_the_clocks_skip_are_not_offered() -> None:
    # Israel's clocks go forward on a Friday, a working day (02:00 becomes 03:00 on
    # 27 March 2026), so the gap can be exercised through the public API. With a 45-minute
    # step, 02:30 does not exist; read naively it would be 03:30, which is off the grid.
    calendar = WorkingCalendar(time_zone="Asia/Jerusalem")
    night = Window(
        duration=timedelta(minutes=30),
        earliest=time(1),
        latest_end=time(5),
        step=timedelta(minutes=45),
    )
    slots = one_day(date(2026, 3, 27), night, calendar)
    assert local(slots, calendar) == [
        "Fri 27 Mar 01:00",
        "Fri 27 Mar 01:45",
        "Fri 27 Mar 03:15",
        "Fri 27 Mar 04:00",
    ]
    assert utc(slots) == ["26 Mar 23:00", "26 Mar 23:45", "27 Mar 00:15", "27 Mar 01:00"]


def test_christmas_bank_holidays_and_weekends_are_skipped() -> None:
    calendar = WorkingCalendar()
    # The holidays package gives Monday 28 December 2026 as the Boxing Day substitute.
    assert not calendar.is_working_day(date(2026, 12, 28))
    # Thursday 24 December after the last Think Space start: Friday 25th is Christmas Day,
    # Monday 28th the Boxing Day substitute, Friday 1 January New Year's Day.
    christmas_eve = datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    slots = find_slots([], PEOPLE, THINK_SPACE, calendar, christmas_eve, count=4)
    assert local(slots, calendar) == [
        "Tue 29 Dec 13:00",
        "Wed 30 Dec 13:00",
        "Thu 31 Dec 13:00",
        "Mon 04 Jan 13:00",
    ]


def test_an_extra_bank_holiday_is_skipped() -> None:
    evening = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    plain = find_slots([], PEOPLE, THINK_SPACE, WorkingCalendar(), evening, count=1)
    assert local(plain, WorkingCalendar()) == ["Tue 01 Dec 13:00"]
    calendar = WorkingCalendar(extra_holidays=[date(2026, 12, 1)])
    slots = find_slots([], PEOPLE, THINK_SPACE, calendar, evening, count=1)
    assert local(slots, calendar) == ["Wed 02 Dec 13:00"]


def test_window_weekdays_limit_the_days() -> None:
    calendar = WorkingCalendar()
    tuesdays_and_thursdays = Window(
        duration=timedelta(minutes=45),
        earliest=time(9),
        latest_end=time(17),
        weekdays=frozenset({1, 3}),
    )
    slots = find_slots([], PEOPLE, tuesdays_and_thursdays, calendar, MONDAY)
    assert local(slots, calendar) == ["Tue 01 Dec 09:00", "Thu 03 Dec 09:00", "Tue 08 Dec 09:00"]


def test_think_space_ends_by_16_00() -> None:
    calendar = WorkingCalendar()
    slots = one_day(date(2026, 12, 1), THINK_SPACE, calendar)
    assert [calendar.local(slot.start).strftime("%H:%M") for slot in slots] == [
        "13:00",
        "13:30",
        "14:00",
        "14:30",
    ]
    assert calendar.local(slots[-1].end).strftime("%H:%M") == "16:00"


def test_starts_strictly_after_search_from_within_search_days() -> None:
    calendar = WorkingCalendar()
    tuesday_13_00 = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    at = find_slots([], PEOPLE, THINK_SPACE, calendar, tuesday_13_00, count=1)
    assert local(at, calendar) == ["Tue 01 Dec 13:30"]
    between = tuesday_13_00 + timedelta(minutes=1)
    assert local(find_slots([], PEOPLE, THINK_SPACE, calendar, between, count=1), calendar) == [
        "Tue 01 Dec 13:30"
    ]
    # Friday evening: three days are Friday, Saturday and Sunday; the fourth is Monday.
    friday_evening = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    assert find_slots([], PEOPLE, THINK_SPACE, calendar, friday_evening, search_days=3) == []
    monday = find_slots([], PEOPLE, THINK_SPACE, calendar, friday_evening, search_days=4)
    assert local(monday, calendar) == ["Mon 07 Dec 13:00", "Mon 07 Dec 13:30", "Mon 07 Dec 14:00"]


def test_a_required_facilitator_busy_all_day_moves_every_slot_off_that_day() -> None:
    calendar = WorkingCalendar()
    week = [MONDAY.date() + timedelta(days=offset) for offset in range(5)]
    # Monday has four of five free, the rest of the week three: Monday would rank first.
    busy = [all_day(FACILITATOR, week[0])]
    busy += [all_day(person, day) for person in PEOPLE[1:3] for day in week[1:]]
    anyone = find_slots(busy, PEOPLE, THINK_SPACE, calendar, MONDAY, search_days=5)
    assert local(anyone, calendar) == ["Mon 30 Nov 13:00", "Tue 01 Dec 13:00", "Wed 02 Dec 13:00"]
    assert anyone[0].busy == (FACILITATOR,)
    required = frozenset({FACILITATOR})
    slots = find_slots(
        busy, PEOPLE, THINK_SPACE, calendar, MONDAY, search_days=5, required=required
    )
    assert local(slots, calendar) == ["Tue 01 Dec 13:00", "Wed 02 Dec 13:00", "Thu 03 Dec 13:00"]
    assert all(FACILITATOR in slot.free for slot in slots)


def test_most_free_first_then_earliest_and_touching_counts_as_free() -> None:
    calendar = WorkingCalendar()
    monday, tuesday, wednesday = date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)
    busy = [
        busy_at("ana@example.org", monday, time(12), time(17)),
        busy_at("ben@example.org", tuesday, time(12), time(17)),
        busy_at("cal@example.org", tuesday, time(12), time(17)),
        # Cal's meetings end at 14:00 and start at 15:30: 14:00 to 15:30 only just fits.
        busy_at("cal@example.org", wednesday, time(13), time(14)),
        busy_at("cal@example.org", wednesday, time(15, 30), time(16)),
    ]
    slots = find_slots(busy, PEOPLE, THINK_SPACE, calendar, MONDAY, search_days=3)
    assert local(slots, calendar) == ["Wed 02 Dec 14:00", "Mon 30 Nov 13:00", "Tue 01 Dec 13:00"]
    assert [len(slot.free) for slot in slots] == [5, 4, 3]
    assert slots[1].busy == ("ana@example.org",)
    assert slots[2].free == (FACILITATOR, "ana@example.org", "dee@example.org")
    assert slots[2].busy == ("ben@example.org", "cal@example.org")


def test_overlapping_busy_intervals() -> None:
    calendar = WorkingCalendar()
    tuesday = date(2026, 12, 1)
    busy = [
        busy_at(FACILITATOR, tuesday, time(13), time(14)),
        busy_at(FACILITATOR, tuesday, time(13, 30), time(14, 30)),  # overlaps the first
        busy_at(FACILITATOR, tuesday, time(13, 15), time(13, 45)),  # inside both
    ]
    slots = find_slots(
        busy,
        PEOPLE,
        THINK_SPACE,
        calendar,
        datetime.combine(tuesday, time(0), LONDON),
        search_days=1,
        required=frozenset({FACILITATOR}),
    )
    assert local(slots, calendar) == ["Tue 01 Dec 14:30"]
    assert len(slots[0].free) == 5


def test_everyone_free_gives_three_different_days() -> None:
    calendar = WorkingCalendar()
    slots = find_slots([], PEOPLE, THINK_SPACE, calendar, MONDAY)
    assert local(slots, calendar) == ["Mon 30 Nov 13:00", "Tue 01 Dec 13:00", "Wed 02 Dec 13:00"]


def test_one_eligible_day_gives_up_to_three_slots_on_it() -> None:
    calendar = WorkingCalendar()
    days = [MONDAY.date() + timedelta(days=offset) for offset in range(5)]
    wednesday = days[2]
    busy = [all_day(FACILITATOR, day) for day in days if day != wednesday]
    required = frozenset({FACILITATOR})
    slots = find_slots(
        busy, PEOPLE, THINK_SPACE, calendar, MONDAY, search_days=5, required=required
    )
    assert local(slots, calendar) == ["Wed 02 Dec 13:00", "Wed 02 Dec 13:30", "Wed 02 Dec 14:00"]
    # Two eligible days: one from each first, then the best of what is left.
    busy = [all_day(FACILITATOR, day) for day in days if day not in (wednesday, days[3])]
    slots = find_slots(
        busy, PEOPLE, THINK_SPACE, calendar, MONDAY, search_days=5, required=required
    )
    assert local(slots, calendar) == ["Wed 02 Dec 13:00", "Wed 02 Dec 13:30", "Thu 03 Dec 13:00"]


def test_describe_in_local_time_across_summer_time() -> None:
    calendar = WorkingCalendar()
    winter = Slot(
        start=datetime(2026, 12, 1, 13, 0, tzinfo=UTC),
        end=datetime(2026, 12, 1, 14, 30, tzinfo=UTC),
        free=tuple(PEOPLE[:4]),
        busy=(PEOPLE[4],),
    )
    assert describe(winter, calendar) == "Tuesday 1 December 2026, 13:00 to 14:30 (4 of 5 free)"
    # 12:00 UTC on the Monday after the clocks go forward is 13:00 in London.
    summer = one_day(date(2026, 3, 30), THINK_SPACE, calendar)[0]
    assert describe(summer, calendar) == "Monday 30 March 2026, 13:00 to 14:30 (5 of 5 free)"
    friday = one_day(date(2026, 3, 27), THINK_SPACE, calendar)[-1]
    assert describe(friday, calendar) == "Friday 27 March 2026, 14:30 to 16:00 (5 of 5 free)"


def test_a_window_must_step_forward() -> None:
    with pytest.raises(ValueError, match="step"):
        Window(
            duration=timedelta(hours=2), earliest=time(9), latest_end=time(17), step=timedelta(0)
        )
