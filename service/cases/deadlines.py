"""Due dates on the Chinese working-day calendar.

A request procedure is due in 15 working days by default, never later than
30 calendar days. Working days come from, in order: the operator's own
notice data (the State Council publishes each year's holidays and swapped
working days late in the year before, and packages lag behind it), then the
`chinese_calendar` package, then plain weekends — with a warning, never a
crash — for a year neither knows.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import chinese_calendar

log = logging.getLogger("datasteward.deadlines")

DEFAULT_WORKING_DAYS = 15
DEFAULT_CEILING_DAYS = 30


@dataclass
class WorkingCalendar:
    """Which days are working days; `notices` override the package, year by year."""

    notices: dict[int, tuple[frozenset[date], frozenset[date]]] = field(default_factory=dict)
    warnings: set[int] = field(default_factory=set)
    # Days already answered: every case start counts 15 or more of them.
    _known: dict[date, bool] = field(default_factory=dict, repr=False, compare=False)

    def load_notice(self, document: dict) -> None:
        """Load one year's notice: {"year": 2027, "holidays": [...], "workdays": [...]}."""
        year = int(document["year"])
        holidays = frozenset(date.fromisoformat(d) for d in document.get("holidays", []))
        workdays = frozenset(date.fromisoformat(d) for d in document.get("workdays", []))
        stray = [d for d in holidays | workdays if d.year != year]
        if stray:
            raise ValueError(f"notice for {year} lists dates of another year: {sorted(stray)[:3]}")
        self.notices[year] = (holidays, workdays)
        self._known.clear()

    def is_working_day(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = self._is_working_day(day)
        return known

    def _is_working_day(self, day: date) -> bool:
        notice = self.notices.get(day.year)
        if notice is not None:
            holidays, workdays = notice
            return day in workdays or (day.weekday() < 5 and day not in holidays)
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self.warnings:
                self.warnings.add(day.year)
                log.warning(
                    "no holiday data for %s: counting weekends only; load the State Council "
                    "notice with `datasteward calendar load`",
                    day.year,
                )
            return day.weekday() < 5


def load_calendar(folder: Path | None) -> WorkingCalendar:
    """A calendar with every ``*.json`` notice found in ``folder`` (if it exists)."""
    calendar = WorkingCalendar()
    if folder is not None and folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            calendar.load_notice(json.loads(path.read_text(encoding="utf-8")))
    return calendar


def due_date(
    start: datetime,
    calendar: WorkingCalendar,
    working_days: int = DEFAULT_WORKING_DAYS,
    ceiling_days: int = DEFAULT_CEILING_DAYS,
) -> datetime:
    """The end of the ``working_days``-th working day after ``start``, capped by the ceiling."""
    day, counted = start.date(), 0
    while counted < working_days:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            counted += 1
    due = datetime.combine(day, time(23, 59, 59), tzinfo=start.tzinfo)
    return min(due, start + timedelta(days=ceiling_days))
