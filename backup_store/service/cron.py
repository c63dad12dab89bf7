"""Cron expressions in Spring's six-field form, as Camunda's backup schedule settings take them.

``second minute hour day-of-month month day-of-week``, for example ``0 0 * * * *``
(every hour) or ``0 30 2 * * MON-FRI``. Each field takes ``*`` (``?`` too for
the day fields), numbers, ranges ``a-b``, lists ``a,b``, steps ``*/n``, ``a/n``
and ``a-b/n``; months and days of the week also take names (``JAN``, ``MON``;
0 and 7 are Sunday). The macros ``@yearly``, ``@annually``, ``@monthly``,
``@weekly``, ``@daily``, ``@midnight`` and ``@hourly`` stand for their
expressions. As in Spring, a time matches when every field matches (day of
month *and* day of week). Spring's ``L``, ``W`` and ``#`` are refused with a
clear error. Times are evaluated in UTC, so every node computes the same
fire times whatever its local time zone.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from backup_store.errors import InvalidInputError

_MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_FIELDS = (
    # name, low, high, names (index + offset = value)
    ("second", 0, 59, None, 0),
    ("minute", 0, 59, None, 0),
    ("hour", 0, 23, None, 0),
    ("day of month", 1, 31, None, 0),
    ("month", 1, 12, _MONTHS, 1),
    ("day of week", 0, 7, _DAYS, 0),
)
_SEARCH_DAYS = 366 * 28
"""Every day-of-month/day-of-week/month combination recurs within 28 years."""


class CronError(InvalidInputError):
    """A cron expression that cannot be read; the message says which field and why."""


def _value(token: str, field: str, low: int, high: int, names: list[str] | None, base: int) -> int:
    upper = token.upper()
    if names is not None and upper in names:
        return names.index(upper) + base
    if any(c in upper for c in "LW#"):
        raise CronError(f"{field} field: {token!r}: Spring's L, W and # are not supported")
    if not token.isascii() or not token.isdigit():
        raise CronError(
            f"{field} field: {token!r} is not a number"
            + (f" or a name ({', '.join(names)})" if names else "")
        )
    value = int(token)
    if not low <= value <= high:
        raise CronError(f"{field} field: {value} is outside {low}-{high}")
    return value


def _field(text: str, index: int) -> frozenset[int]:
    field, low, high, names, base = _FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field} field {text!r}: empty list element")
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isascii() or not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field} field {text!r}: the step must be a positive number")
            step = int(step_text)
        if span in ("*", "?"):
            if span == "?" and index not in (3, 5):
                raise CronError(f"{field} field: '?' is only allowed for the day fields")
            first, last = low, high
        elif "-" in span:
            start, _, end = span.partition("-")
            first = _value(start, field, low, high, names, base)
            last = _value(end, field, low, high, names, base)
            if first > last:
                raise CronError(f"{field} field {text!r}: range {span} runs backwards")
        else:
            first = _value(span, field, low, high, names, base)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    if index == 5 and 7 in values:  # 7 is Sunday too
        values.discard(7)
        values.add(0)
    return frozenset(values)


@dataclass(frozen=True)
class CronExpression:
    """A parsed six-field cron expression; see the module documentation."""

    text: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Parse ``text``.

        Raises:
            CronError: not six fields (or a macro), or a field is malformed.
        """
        expanded = _MACROS.get(text.strip().lower(), text)
        fields = expanded.split()
        if len(fields) != 6:
            raise CronError(
                f"cron expression {text!r} has {len(fields)} fields; Spring's form has six: "
                "second minute hour day-of-month month day-of-week (e.g. '0 0 * * * *')"
            )
        parsed = [_field(f, i) for i, f in enumerate(fields)]
        expression = cls(
            text.strip(),
            tuple(sorted(parsed[0])),
            tuple(sorted(parsed[1])),
            tuple(sorted(parsed[2])),
            parsed[3],
            parsed[4],
            parsed[5],
        )
        if expression.next_after(datetime(2000, 1, 1, tzinfo=UTC)) is None:
            raise CronError(f"cron expression {text!r} never fires")
        return expression

    def _day_matches(self, day: date) -> bool:
        return (
            day.month in self.months
            and day.day in self.days_of_month
            and (day.isoweekday() % 7) in self.days_of_week
        )

    @cached_property
    def _times(self) -> list[time]:
        return [time(h, m, s) for h in self.hours for m in self.minutes for s in self.seconds]

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after ``moment`` (UTC), or None within 28 years."""
        moment = moment.astimezone(UTC).replace(microsecond=0)
        times = self._times
        day = moment.date()
        for offset in range(_SEARCH_DAYS):
            current = day + timedelta(days=offset)
            if not self._day_matches(current):
                continue
            start = bisect.bisect_right(times, moment.time()) if offset == 0 else 0
            if start < len(times):
                return datetime.combine(current, times[start], UTC)
        return None

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """The last fire time at or before ``moment`` (UTC), or None within 28 years."""
        moment = moment.astimezone(UTC).replace(microsecond=0)
        times = self._times
        day = moment.date()
        for offset in range(_SEARCH_DAYS):
            current = day - timedelta(days=offset)
            if current.year < 1970:
                return None
            if not self._day_matches(current):
                continue
            end = bisect.bisect_right(times, moment.time()) if offset == 0 else len(times)
            if end > 0:
                return datetime.combine(current, times[end - 1], UTC)
        return None
