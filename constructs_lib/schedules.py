"""Cloud Scheduler schedules: exactly the two formats Cloud Scheduler documents.

1. unix-cron (scheduler/docs/configuring/cron-job-schedules): five fields, minute 0-59,
   hour 0-23, day of the month 1-31, month 1-12 or JAN-DEC, day of the week 0-7 or
   SUN-SAT (0 and 7 are Sunday). A field is "*" (which "always stands for first-last"),
   or a list of values and ranges ("1,2,5-9"); "/N" follows a range or "*" ("0-23/2",
   "*/2"). Names are the first three letters, in uppercase. Nothing else: no "L", "W",
   "#", "?", no seconds or year field, no "@hourly".
2. The "alternative job format", App Engine's English-like cron syntax ("every 5
   minutes", "every monday 09:00", "2nd,third mon,wed,thu of march 17:00"). Its grammar
   is Groc.g (GoogleCloudPlatform/appengine-java-standard, utils/src/main/antlr3/com/
   google/borg/borgcron/Groc.g); this module follows it rule for rule, lowercase
   keywords as the lexer has them.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from .validation import ConstructValidationError, is_unresolved

CRON_RULE = (
    'unix-cron, five fields "minute hour day-of-month month day-of-week" (e.g. "*/5 * * * *"; *, lists, '
    'ranges, /steps, JAN-DEC, SUN-SAT), or Cloud Scheduler\'s English-like format '
    '(e.g. "every 5 minutes", "every monday 09:00", "1st,3rd mon of month 17:00")'
)


def check_schedule(construct: str, option: str, value: str) -> str:
    if is_unresolved(value):
        return value
    problem = _cron_problem(value) if isinstance(value, str) else "not a string"
    if problem is None:
        return value
    if isinstance(value, str) and _is_english_like(value):
        return value
    raise ConstructValidationError(construct, option, value, f"{CRON_RULE}; as unix-cron: {problem}")


# --- unix-cron --------------------------------------------------------------------------

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day of the month", 1, 31, {}),
    _Field("month", 1, 12, {m: i for i, m in enumerate(_MONTHS, start=1)}),
    _Field("day of the week", 0, 7, {d: i for i, d in enumerate(_DAYS)}),
)
_ITEM = re.compile(r"(?:(\*)|([0-9]+|[A-Z]{3})(?:-([0-9]+|[A-Z]{3}))?)(?:/([0-9]+))?")


def _cron_problem(value: str) -> str | None:
    """None if `value` is valid unix-cron as Cloud Scheduler takes it, else what is wrong."""
    fields = value.split()
    if len(fields) != 5:
        return f"{len(fields)} field{'s' if len(fields) != 1 else ''}, not 5"
    for text, field in zip(fields, _FIELDS):
        items = text.split(",")
        if "*" in text and len(items) > 1:
            return f"{field.name} {text!r}: * stands alone (or as */N)"
        for item in items:
            problem = _item_problem(item, field)
            if problem:
                return f"{field.name} {text!r}: {problem}"
    return None


def _item_problem(item: str, field: _Field) -> str | None:
    match = _ITEM.fullmatch(item)
    if match is None:
        return f"{item!r} is not a value, a range, * or a /step"
    star, first, last, step = match.groups()
    if step is not None and int(step) < 1:
        return "a step is a whole number from 1"
    if step is not None and not star and last is None:
        return f"/{step} follows a range or *, not a single value"
    if star:
        return None
    numbers = []
    for text in (first, last):
        if text is None:
            continue
        number = int(text) if text.isdigit() else field.names.get(text)
        if number is None:
            allowed = "names " + "-".join((next(iter(field.names)), list(field.names)[-1])) if field.names else "no names"
            return f"{text!r} is not a {field.name} ({allowed})"
        if not field.low <= number <= field.high:
            return f"{number} is outside {field.low}-{field.high}"
        numbers.append(number)
    if len(numbers) == 2 and numbers[0] > numbers[1]:
        return f"range {item!r} runs backwards"
    return None


# --- the English-like format (Groc) ----------------------------------------------------

# Token kinds, in the lexer's priority order (ANTLR takes the longest match; on a tie,
# the rule listed first).
_WEEKDAYS = {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday",
             "fri": "friday", "sat": "saturday", "sun": "sunday"}
_MONTH_WORDS = {"jan": "january", "feb": "february", "mar": "march", "apr": "april", "may": "may",
                "jun": "june", "jul": "july", "aug": "august", "sep": "september", "oct": "october",
                "nov": "november", "dec": "december"}
_LEXICON: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("TIME", re.compile(r"[0-9]:[0-5][0-9]|(?:[01][0-9]|2[0-3]):[0-5][0-9]")),
    ("SYNCHRONIZED", re.compile("synchronized")),
    ("FIRST", re.compile("1st|first")),
    ("SECOND", re.compile("2nd|second")),
    ("THIRD", re.compile("3rd|third")),
    ("FOURTH", re.compile("4th|fourth")),
    ("FIFTH", re.compile("5th|fifth")),
    ("DAY", re.compile("day")),
    ("WEEKDAY", re.compile("|".join(f"{short}(?:{full[len(short):]})?" for short, full in _WEEKDAYS.items()))),
    ("MONTHNAME", re.compile("|".join(f"{short}(?:{full[len(short):]})?" for short, full in _MONTH_WORDS.items()))),
    ("MONTH", re.compile("month")),
    ("QUARTER", re.compile("quarter")),
    ("EVERY", re.compile("every")),
    ("HOURS", re.compile("hours")),
    ("MINUTES", re.compile("mins|minutes")),
    ("COMMA", re.compile(",")),
    ("OF", re.compile("of")),
    ("FROM", re.compile("from")),
    ("TO", re.compile("to")),
    ("DIGIT", re.compile("[0-9]")),
    ("DIGITS", re.compile("[0-9]{2,5}")),
)
_WHITESPACE = " \t\n\r"


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokens(text: str) -> list[_Token] | None:
    tokens, at = [], 0
    while at < len(text):
        if text[at] in _WHITESPACE:
            at += 1
            continue
        best: _Token | None = None
        for kind, pattern in _LEXICON:
            match = pattern.match(text, at)
            if match and (best is None or len(match[0]) > len(best.text)):
                best = _Token(kind, match[0])
        if best is None:
            return None
        tokens.append(best)
        at += len(best.text)
    return tokens


class _Parser:
    """Recursive descent over Groc.g's rules; `fail()` on anything else."""

    def __init__(self, tokens: Sequence[_Token]) -> None:
        self.tokens, self.at = tokens, 0

    def peek(self, offset: int = 0) -> str | None:
        at = self.at + offset
        return self.tokens[at].kind if at < len(self.tokens) else None

    def take(self, *kinds: str) -> _Token:
        if self.peek() not in kinds:
            raise _NotGroc
        self.at += 1
        return self.tokens[self.at - 1]

    def listed(self, item: Callable[[], object]) -> None:
        item()
        while self.peek() == "COMMA":
            self.take("COMMA")
            item()

    # timespec : ( specifictime | interval ) EOF
    def timespec(self) -> None:
        if self.peek() == "EVERY" and self.peek(1) in ("DIGIT", "DIGITS"):
            self.interval()
        else:
            self.specifictime()
        if self.peek() is not None:
            raise _NotGroc

    # interval : EVERY (DIGIT | DIGITS) period ( time_range | SYNCHRONIZED )?
    def interval(self) -> None:
        self.take("EVERY")
        if int(self.take("DIGIT", "DIGITS").text) < 1:
            raise _NotGroc
        self.take("HOURS", "MINUTES")
        if self.peek() == "FROM":
            self.take("FROM")
            self.take("TIME")
            self.take("TO")
            self.take("TIME")
        elif self.peek() == "SYNCHRONIZED":
            self.take("SYNCHRONIZED")

    # specifictime : ( ((ordinals weekdays) | monthdays) OF (monthspec | quarterspec)
    #                | ordinals weekdays ) TIME
    def specifictime(self) -> None:
        if self.peek() in ("DIGIT", "DIGITS"):
            self.listed(self.monthday)
            self.take("OF")
            self.monthspec_or_quarterspec()
        else:
            self.ordinals()
            self.weekdays()
            if self.peek() == "OF":
                self.take("OF")
                self.monthspec_or_quarterspec()
        self.take("TIME")

    def monthday(self) -> None:
        if not 1 <= int(self.take("DIGIT", "DIGITS").text) <= 31:
            raise _NotGroc

    # ordinals : EVERY | ordinal (COMMA ordinal)*
    def ordinals(self) -> None:
        if self.peek() == "EVERY":
            self.take("EVERY")
        else:
            self.listed(lambda: self.take("FIRST", "SECOND", "THIRD", "FOURTH", "FIFTH"))

    # weekdays : DAY | weekday (COMMA weekday)*
    def weekdays(self) -> None:
        if self.peek() == "DAY":
            self.take("DAY")
        else:
            self.listed(lambda: self.take("WEEKDAY"))

    # monthspec : MONTH | month (COMMA month)* ;
    # quarterspec : QUARTER | quarter_ordinals MONTH OF QUARTER
    def monthspec_or_quarterspec(self) -> None:
        if self.peek() in ("MONTH", "QUARTER"):
            self.take("MONTH", "QUARTER")
        elif self.peek() == "MONTHNAME":
            self.listed(lambda: self.take("MONTHNAME"))
        else:
            self.listed(lambda: self.take("FIRST", "SECOND", "THIRD"))
            self.take("MONTH")
            self.take("OF")
            self.take("QUARTER")


class _NotGroc(Exception):
    pass


def _is_english_like(value: str) -> bool:
    tokens = _tokens(value)
    if not tokens:
        return False
    try:
        _Parser(tokens).timespec()
    except _NotGroc:
        return False
    return True


# --- time zones --------------------------------------------------------------------------

_NOT_PLACES = frozenset({"Factory"})  # the tz database's placeholder for "no zone set"


@cache
def _time_zones() -> frozenset[str]:
    # The tzdata package's list, not the host's: every host gives the same answer,
    # and a name differing only in case (which a case-insensitive file system would
    # find) is refused.
    names = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(names) - _NOT_PLACES


def check_time_zone(construct: str, option: str, value: str) -> str:
    """A name from the tz database (IANA), such as "UTC" or "Europe/Paris"."""
    if not is_unresolved(value) and not (isinstance(value, str) and value in _time_zones()):
        raise ConstructValidationError(
            construct, option, value, 'a time zone name from the tz database (IANA), such as "UTC" or "Europe/Paris"'
        )
    return value
