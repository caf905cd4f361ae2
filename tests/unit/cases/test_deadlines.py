"""Due dates on the Chinese working-day calendar, with the hard ceiling."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from service.cases.deadlines import WorkingCalendar, due_date, load_calendar

BEFORE_NATIONAL_DAY = datetime(2026, 9, 28, 9, 0, tzinfo=UTC)


def test_fifteen_working_days_skip_national_day_and_count_the_swapped_saturday() -> None:
    due = due_date(BEFORE_NATIONAL_DAY, WorkingCalendar())
    assert due == datetime(2026, 10, 23, 23, 59, 59, tzinfo=UTC)


def test_the_hard_ceiling_caps_a_long_holiday_stretch() -> None:
    due = due_date(BEFORE_NATIONAL_DAY, WorkingCalendar(), working_days=15, ceiling_days=20)
    assert due == datetime(2026, 10, 18, 9, 0, tzinfo=UTC)


def test_a_year_without_data_falls_back_to_weekends_with_a_warning(caplog) -> None:
    calendar = WorkingCalendar()
    with caplog.at_level(logging.WARNING, logger="datasteward.deadlines"):
        due = due_date(datetime(2031, 9, 29, 9, 0, tzinfo=UTC), calendar)
    assert due == datetime(2031, 10, 20, 23, 59, 59, tzinfo=UTC)
    assert "no holiday data for 2031" in caplog.text
    assert calendar.warnings == {2031}


def test_an_operator_notice_overrides_the_fallback(tmp_path) -> None:
    (tmp_path / "2031.json").write_text(
        '{"year": 2031, "holidays": ["2031-01-01", "2031-01-02"], "workdays": ["2031-01-04"]}'
    )
    calendar = load_calendar(tmp_path)
    assert not calendar.is_working_day(datetime(2031, 1, 2).date())
    assert calendar.is_working_day(datetime(2031, 1, 4).date())
    due = due_date(datetime(2030, 12, 31, 9, 0, tzinfo=UTC), calendar, working_days=2)
    assert due == datetime(2031, 1, 4, 23, 59, 59, tzinfo=UTC)
    assert calendar.warnings == set()


def test_a_notice_with_dates_of_another_year_is_refused() -> None:
    with pytest.raises(ValueError, match="another year"):
        WorkingCalendar().load_notice({"year": 2031, "holidays": ["2032-01-01"]})
