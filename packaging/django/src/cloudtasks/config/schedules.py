"""When a schedule fires: the two formats Cloud Scheduler takes, read in a time zone.

Cloud Scheduler takes unix-cron, five fields, and App Engine's English-like format
(https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules, "Alternative
job format"; its grammar is App Engine's Groc.g). This module reads both into a
Timetable, whose times a periodic run is keyed by (cloudtasks.run.scheduled) and the
local scheduler fires at (local_run/scheduler.py). It judges a schedule as the
constructs do at synth (constructs_lib/schedules.py; a test holds the two together), but
also says when it fires, which the constructs never need; the two distributions import
nothing of each other.

unix-cron: minute 0-59, hour 0-23, day of the month 1-31, month 1-12 or JAN-DEC, day of
the week 0-7 or SUN-SAT (0 and 7 are Sunday); each "*", or a list of values and ranges,
"/N" after a range or "*". When both day fields are restricted, a day matches either
(unix cron's rule).

English-like: "every N minutes|mins|hours" (optionally "from HH:MM to HH:MM" or
"synchronized"), and "ORDINALS WEEKDAYS [of MONTHS] HH:MM" or "DAYS of MONTHS HH:MM"
("every monday 09:00", "2nd,third mon,wed of march 17:00", "1,15 of month 06:00",
"1st mon of quarter 09:00"). An interval fires every N from its "from" time (00:00 when
none is given, as "synchronized" does) to its "to" time (23:59), each day; App Engine
counted a plain interval from the end of the previous run, which a schedule with no
time of its own leaves to its service; these are the times a local run fires it at,
and the ones its runs are keyed by.

A local time that daylight saving skips is not a time of the schedule; one it repeats
fires once, at its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

FORMATS = (
    'unix-cron, five fields "minute hour day-of-month month day-of-week" (e.g. "*/5 * * * *"), or '
    'Cloud Scheduler\'s English-like format (e.g. "every 5 minutes", "every monday 09:00", '
    '"1st,3rd mon of month 17:00")'
)
# How far a timetable is searched for its next (or last) time: eight years holds a 29th
# of February, and any day of the week that some month's date falls on.
SEARCH_DAYS = 8 * 366


class InvalidSchedule(ValueError):
    pass


@dataclass(frozen=True)
class Timetable:
    """A schedule, read in its time zone."""

    schedule: str
    time_zone: str
    times_on: Callable[[date], list[time]]  # the local times it fires at on a day, in order

    @classmethod
    def parse(cls, schedule: str, time_zone: str) -> Timetable:
        """The schedule's timetable; InvalidSchedule says what is wrong."""
        if not isinstance(time_zone, str) or time_zone not in _time_zones():
            raise InvalidSchedule(f'time zone {time_zone!r} is not a tz database name, such as "UTC" or "Europe/Paris"')
        if not isinstance(schedule, str):
            raise InvalidSchedule(f"schedule {schedule!r} is not a string; write {FORMATS}")
        fields = schedule.split()
        if len(fields) == 5 and not any(c.islower() for c in schedule):
            return cls(schedule, time_zone, _cron(fields, schedule))
        return cls(schedule, time_zone, _english_like(schedule))

    def next_after(self, moment: datetime) -> datetime:
        """The first time after `moment` (aware) it fires at, aware in its time zone."""
        return next(t for t in self._times(moment, forward=True) if t > moment)

    def last_at_or_before(self, moment: datetime) -> datetime:
        """The last time at or before `moment` (aware) it fired at, aware in its time zone."""
        return next(t for t in self._times(moment, forward=False) if t <= moment)

    def _times(self, moment: datetime, *, forward: bool) -> Iterator[datetime]:
        zone = ZoneInfo(self.time_zone)
        first = moment.astimezone(zone).date()
        step = timedelta(days=1 if forward else -1)
        for n in range(SEARCH_DAYS):
            day = first + n * step
            times = self.times_on(day)
            for at in times if forward else reversed(times):
                local = datetime.combine(day, at, tzinfo=zone)
                if local.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
                    yield local  # else skipped by daylight saving
        raise InvalidSchedule(f"schedule {self.schedule!r} fires on no day within {SEARCH_DAYS} days of {moment}")


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - {"Factory"}


# --- unix-cron --------------------------------------------------------------------------

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_FIELDS = (  # name, lowest, highest, names from the lowest on
    ("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of the month", 1, 31, ()),
    ("month", 1, 12, _MONTH_NAMES), ("day of the week", 0, 7, _DAY_NAMES),
)
_CRON_ITEM = re.compile(r"(\*|(\w+)(?:-(\w+))?)(?:/(\d+))?")


def _cron(fields: list[str], schedule: str) -> Callable[[date], list[time]]:
    minutes, hours, days, months, weekdays = (
        _cron_field(text, *spec, schedule) for text, spec in zip(fields, _CRON_FIELDS)
    )
    weekdays = {d % 7 for d in weekdays}  # 7 is Sunday too
    any_day, any_weekday = fields[2].startswith("*"), fields[4].startswith("*")
    times = [time(h, m) for h in sorted(hours) for m in sorted(minutes)]

    def times_on(day: date) -> list[time]:
        by_date, by_weekday = day.day in days, day.isoweekday() % 7 in weekdays
        matches = by_date and by_weekday if any_day or any_weekday else by_date or by_weekday
        return times if day.month in months and matches else []

    return times_on


def _cron_field(text: str, name: str, low: int, high: int, names: tuple[str, ...], schedule: str) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        match = _CRON_ITEM.fullmatch(item)
        if match is None or (match[1] == "*" and len(text.split(",")) > 1):
            raise _cron_error(schedule, name, text, "each item is a value, a range, or * (alone), each may have a /step")
        star, first, last, step = match[1] == "*", match[2], match[3], match[4]
        if step is not None and not star and last is None:
            raise _cron_error(schedule, name, text, f"/{step} follows a range or *, not a single value")
        start, end = (low, high) if star else (_cron_value(first, name, low, high, names, schedule),
                                               _cron_value(last or first, name, low, high, names, schedule))
        if start > end:
            raise _cron_error(schedule, name, text, f"range {item!r} runs backwards")
        if step is not None and int(step) < 1:
            raise _cron_error(schedule, name, text, "a step is a whole number from 1")
        values.update(range(start, end + 1, int(step or 1)))
    return values


def _cron_value(text: str, name: str, low: int, high: int, names: tuple[str, ...], schedule: str) -> int:
    number = int(text) if text.isdigit() else (names.index(text) + low if text in names else None)
    if number is None or not low <= number <= high:
        allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
        raise _cron_error(schedule, name, text, f"{text!r} is not {allowed}")
    return number


def _cron_error(schedule: str, name: str, text: str, problem: str) -> InvalidSchedule:
    return InvalidSchedule(f"schedule {schedule!r}, {name} {text!r}: {problem}; write {FORMATS}")


# --- the English-like format ------------------------------------------------------------

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")
_ORDINALS = {"1st": 1, "first": 1, "2nd": 2, "second": 2, "3rd": 3, "third": 3, "4th": 4, "fourth": 4,
             "5th": 5, "fifth": 5}
# A word is a weekday or month by its first three letters, whole or in full (Groc's lexer).
_WORD = re.compile(r"\s*(?:(?P<time>(?:[01]?\d|2[0-3]):[0-5]\d)(?!\d)|(?P<ordinal>[1-5](?:st|nd|rd|th))"
                   r"|(?P<number>\d{1,5})|(?P<comma>,)|(?P<word>[a-z]+))")


class _Words:
    def __init__(self, schedule: str) -> None:
        self.schedule, self.words, at = schedule, [], 0
        while at < len(schedule.rstrip()):
            match = _WORD.match(schedule, at)
            if match is None:
                raise self.error(f"cannot read {schedule[at:].strip()!r}")
            kind = match.lastgroup or ""
            self.words.append((kind, match[kind]))
            at = match.end()
        self.at = 0

    def peek(self) -> str:
        return self.words[self.at][1] if self.at < len(self.words) else ""

    def take(self, what: str, accept: Callable[[str, str], bool]) -> str:
        kind, text = self.words[self.at] if self.at < len(self.words) else ("end", "the end")
        if not accept(kind, text):
            raise self.error(f"expected {what}, found {text!r}")
        self.at += 1
        return text

    def listed(self, what: str, accept: Callable[[str, str], bool]) -> list[str]:
        taken = [self.take(what, accept)]
        while self.peek() == ",":
            self.at += 1
            taken.append(self.take(what, accept))
        return taken

    def error(self, problem: str) -> InvalidSchedule:
        return InvalidSchedule(f"schedule {self.schedule!r}: {problem}; write {FORMATS}")


def _named(names: tuple[str, ...]) -> Callable[[str, str], bool]:
    return lambda kind, text: kind == "word" and any(text in (n[:3], n) for n in names)


def _index(text: str, names: tuple[str, ...]) -> int:
    return next(i for i, n in enumerate(names) if text in (n[:3], n))


def _word(expected: str) -> Callable[[str, str], bool]:
    return lambda kind, text: text == expected


def _of_kind(*kinds: str) -> Callable[[str, str], bool]:
    return lambda kind, text: kind in kinds


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _english_like(schedule: str) -> Callable[[date], list[time]]:
    words = _Words(schedule)
    if words.peek() == "every" and len(words.words) > 1 and words.words[1][0] == "number":
        times_on = _interval(words)
    else:
        times_on = _specific(words)
    words.take("nothing more", _of_kind("end"))
    return times_on


def _interval(words: _Words) -> Callable[[date], list[time]]:
    words.take('"every"', _word("every"))
    count = int(words.take("a number", _of_kind("number")))
    unit = words.take('"minutes", "mins" or "hours"', lambda k, t: t in ("minutes", "mins", "hours"))
    if count < 1:
        raise words.error("an interval is at least 1")
    start, end = time(0, 0), time(23, 59)
    if words.peek() == "from":
        words.at += 1
        start = _clock(words.take("a time HH:MM", _of_kind("time")))
        words.take('"to"', _word("to"))
        end = _clock(words.take("a time HH:MM", _of_kind("time")))
    elif words.peek() == "synchronized":
        words.at += 1
    step = count * (60 if unit == "hours" else 1)
    start_minute, end_minute = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    span = (end_minute - start_minute) % (24 * 60)  # a range may run past midnight
    series = [start_minute + k * step for k in range(span // step + 1)]
    today = sorted(m for m in series if m < 24 * 60)
    overnight = sorted(m - 24 * 60 for m in series if m >= 24 * 60)  # a day's series, on the next day
    times = sorted({*today, *overnight})
    return lambda day: [time(m // 60, m % 60) for m in times]


def _specific(words: _Words) -> Callable[[date], list[time]]:
    if words.words and words.words[0][0] == "number":
        monthdays = {int(d) for d in words.listed("a day of the month", _of_kind("number"))}
        if not all(1 <= d <= 31 for d in monthdays):
            raise words.error("a day of the month is 1-31")
        ordinals, weekdays = None, None
        words.take('"of"', _word("of"))
        months = _months(words)
    else:
        monthdays = None
        if words.peek() == "every":
            words.at += 1
            ordinals = set(_ORDINALS.values())
        else:
            ordinals = {_ORDINALS[o] for o in words.listed('"every" or an ordinal (1st-5th, first-fifth)',
                                                            lambda k, t: t in _ORDINALS)}
        if words.peek() == "day":
            words.at += 1
            weekdays = set(range(7))
        else:
            weekdays = {_index(w, _WEEKDAYS) for w in words.listed('"day" or a weekday', _named(_WEEKDAYS))}
        months = set(range(1, 13))
        if words.peek() == "of":
            words.at += 1
            months = _months(words)
    at = [_clock(words.take("a time HH:MM", _of_kind("time")))]

    def times_on(day: date) -> list[time]:
        if day.month not in months:
            return []
        if monthdays is not None:
            return at if day.day in monthdays else []
        return at if day.weekday() in weekdays and (day.day - 1) // 7 + 1 in ordinals else []

    return times_on


def _months(words: _Words) -> set[int]:
    if words.peek() == "month":
        words.at += 1
        return set(range(1, 13))
    if words.peek() == "quarter":
        words.at += 1
        return {1, 4, 7, 10}
    if words.peek() in _ORDINALS:
        offsets = {_ORDINALS[o] for o in words.listed("first, second or third", lambda k, t: t in _ORDINALS)}
        if max(offsets) > 3:
            raise words.error("a quarter has a first, second and third month only")
        words.take('"month"', _word("month"))
        words.take('"of"', _word("of"))
        words.take('"quarter"', _word("quarter"))
        return {q + o - 1 for q in (1, 4, 7, 10) for o in offsets}
    return {_index(m, _MONTHS) + 1 for m in words.listed('"month", "quarter" or a month', _named(_MONTHS))}
