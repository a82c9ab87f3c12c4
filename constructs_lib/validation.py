"""Synth-time checks of construct options against Google's documented limits.

Every check raises `ConstructValidationError` naming the option, the bad value and
what is allowed. Values that are unresolved Terraform references (cdktf tokens,
e.g. a variable or another resource's attribute) are not known until apply time:
every check lets them through unchanged.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from cdktf import Token
from croniter import croniter


class ConstructValidationError(ValueError):
    """An option of a construct has a value Google would reject (or that cannot work)."""

    def __init__(self, construct: str, option: str, value: Any, allowed: str) -> None:
        self.construct, self.option, self.value, self.allowed = construct, option, value, allowed
        super().__init__(f"{construct}: {option}={value!r} is not valid: {allowed}")


def is_unresolved(value: Any) -> bool:
    """True for a cdktf token (a value Terraform only knows at apply time)."""
    return not isinstance(value, bool) and isinstance(value, (str, int, float)) and Token.is_unresolved(value)


def _fullmatch(construct: str, option: str, value: Any, pattern: re.Pattern[str], rule: str) -> re.Match[str]:
    match = pattern.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConstructValidationError(construct, option, value, rule)
    return match


def check_name(construct: str, option: str, value: str, pattern: re.Pattern[str], rule: str) -> str:
    if not is_unresolved(value):
        _fullmatch(construct, option, value, pattern, rule)
    return value


_DURATION = re.compile(r"(\d+(?:\.\d{1,9})?)s")


def parse_duration(construct: str, option: str, value: str) -> Decimal:
    """Seconds in a protobuf Duration string such as "600s" or "3.5s"."""
    rule = 'a duration in seconds with an "s" suffix, such as "600s" or "3.5s"'
    return Decimal(_fullmatch(construct, option, value, _DURATION, rule)[1])


def check_duration(
    construct: str, option: str, value: str | None, *, minimum: Decimal | int, maximum: Decimal | int | None
) -> str | None:
    """A duration string within [minimum, maximum] seconds (maximum None: unbounded)."""
    if value is None or is_unresolved(value):
        return value
    seconds = parse_duration(construct, option, value)
    if seconds < minimum or (maximum is not None and seconds > maximum):
        upper = f"{maximum}s" if maximum is not None else "no upper limit"
        raise ConstructValidationError(construct, option, value, f"between {minimum}s and {upper}")
    return value


def check_range(
    construct: str, option: str, value: float | int | None, *, minimum: float, maximum: float,
    integer: bool = True, also: tuple[int, ...] = (), above_minimum: bool = False,
) -> float | int | None:
    """A number in [minimum, maximum] ((minimum, maximum] if `above_minimum`), whole if
    `integer`, or one of the special values `also`."""
    if value is None or is_unresolved(value):
        return value
    kind = "a whole number" if integer else "a number"
    span = f"above {minimum} and at most {maximum}" if above_minimum else f"from {minimum} to {maximum}"
    allowed = f"{kind} {span}" + "".join(f", or {v}" for v in also)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConstructValidationError(construct, option, value, allowed)
    if value in also:
        return value
    low_ok = value > minimum if above_minimum else value >= minimum
    if (integer and value != int(value)) or not low_ok or value > maximum:
        raise ConstructValidationError(construct, option, value, allowed)
    return value


def check_cron(construct: str, option: str, value: str) -> str:
    """A unix-cron schedule of five fields, as Cloud Scheduler takes it."""
    if is_unresolved(value):
        return value
    fields = value.split() if isinstance(value, str) else []
    # croniter also takes a sixth (seconds) field and "@hourly"-style names;
    # Cloud Scheduler takes neither, so insist on exactly five fields.
    if len(fields) != 5 or not croniter.is_valid(value):
        raise ConstructValidationError(
            construct, option, value,
            'a unix-cron expression of five fields: minute hour day-of-month month day-of-week, e.g. "*/5 * * * *"',
        )
    return value


def check_time_zone(construct: str, option: str, value: str) -> str:
    """A name from the tz database, such as "UTC" or "Europe/Paris"."""
    if is_unresolved(value):
        return value
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConstructValidationError(
            construct, option, value, 'a time zone name from the tz database, such as "UTC" or "Europe/Paris"'
        ) from None
    return value


# Cloud Run: CPU is a number of vCPUs, memory a quantity with a binary suffix.
_MEMORY = re.compile(r"(\d+)(Mi|Gi)")


def parse_memory_mib(construct: str, option: str, value: str) -> int:
    match = _fullmatch(construct, option, value, _MEMORY, 'a whole number of Mi or Gi, such as "512Mi" or "2Gi"')
    amount, unit = int(match[1]), match[2]
    return amount * 1024 if unit == "Gi" else amount


def check_choice(construct: str, option: str, value: str, allowed: tuple[str, ...]) -> str:
    if not is_unresolved(value) and value not in allowed:
        raise ConstructValidationError(construct, option, value, "one of " + ", ".join(repr(a) for a in allowed))
    return value


# Labels: https://cloud.google.com/resource-manager/docs/labels-overview#requirements
# (lowercase letters, international ones included, digits, "_" and "-").
MAX_LABELS = 64
MAX_LABEL_LENGTH = 63


def _is_label_text(text: str) -> bool:
    return all(c.islower() or c.isdigit() or c in "_-" for c in text) and len(text) <= MAX_LABEL_LENGTH


def check_labels(construct: str, option: str, labels: Mapping[str, str] | None) -> Mapping[str, str] | None:
    if labels is None:
        return labels
    if len(labels) > MAX_LABELS:
        raise ConstructValidationError(construct, option, f"{len(labels)} labels", f"at most {MAX_LABELS} labels")
    for key, value in labels.items():
        if not is_unresolved(key) and not (isinstance(key, str) and key[:1].islower() and _is_label_text(key)):
            raise ConstructValidationError(
                construct, f"{option} key", key,
                "1-63 lowercase letters, digits, '_' or '-', starting with a lowercase letter",
            )
        if not is_unresolved(value) and not (isinstance(value, str) and _is_label_text(value)):
            raise ConstructValidationError(
                construct, f"{option}[{key!r}]", value, "0-63 lowercase letters, digits, '_' or '-'"
            )
    return labels
