"""Synth-time checks of construct options against Google's documented limits.

Every check raises `ConstructValidationError` naming the construct, the option, the
bad value and what is allowed. Values that are unresolved Terraform references (cdktf or
cdktn tokens, e.g. a variable or another resource's attribute) are not known until
apply time: every check lets them through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from . import limits
from .tokens import is_unresolved

class ConstructValidationError(ValueError):
    """An option of a construct has a value Google would reject (or that cannot work)."""

    def __init__(self, construct: str, option: str, value: Any, allowed: str) -> None:
        self.construct, self.option, self.value, self.allowed = construct, option, value, allowed
        super().__init__(f"{construct}: {option}={_shown(value)} is not valid: {allowed}")


class ConstructWarning(UserWarning):
    """A combination of options that works, but may not do what you expect."""


def _shown(value: Any) -> str:
    text = repr(value)
    if len(text) <= 200:
        return text
    # The length of the value itself, not of its repr (which adds quotes and escapes).
    length = f"{len(value)} characters" if isinstance(value, str) else f"{len(text)} characters shown"
    return f"{text[:150]}...{text[-20:]} ({length})"


def _fullmatch(construct: str, option: str, value: Any, pattern: re.Pattern[str], rule: str) -> re.Match[str]:
    match = pattern.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConstructValidationError(construct, option, value, rule)
    return match


def check_name(construct: str, option: str, value: str, pattern: re.Pattern[str], rule: str) -> str:
    if not is_unresolved(value):
        _fullmatch(construct, option, value, pattern, rule)
    return value


def check_flag(construct: str, option: str, value: bool) -> bool:
    """True or False itself: a flag that grants something is never read from a truthy value."""
    if not isinstance(value, bool):
        raise ConstructValidationError(construct, option, value, "True or False")
    return value


def check_text(construct: str, option: str, value: str, *, max_length: int | None = None) -> str:
    """A non-empty string without whitespace at its ends (at most `max_length` characters)."""
    if is_unresolved(value):
        return value
    rule = "a non-empty string" + (f" of at most {max_length} characters" if max_length else "")
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ConstructValidationError(construct, option, value, rule + ", without spaces at either end")
    if max_length is not None and len(value) > max_length:
        raise ConstructValidationError(construct, option, value, rule)
    return value


_DURATION = re.compile(r"(\d+)(?:\.(\d{1,9}))?s")


def parse_duration(construct: str, option: str, value: str) -> Decimal:
    """Seconds in a protobuf Duration string such as "600s" or "3.5s"."""
    rule = 'a duration in seconds with an "s" suffix, such as "600s" or "3.5s"'
    match = _fullmatch(construct, option, value, _DURATION, rule)
    return Decimal(f"{match[1]}.{match[2] or 0}")


def check_duration(
    construct: str, option: str, value: str | None, *, minimum: Decimal | int, maximum: Decimal | int | None,
    whole_seconds: str | None = None,
) -> str | None:
    """A duration string within [minimum, maximum] seconds (maximum None: unbounded).

    `whole_seconds`, when given, is why a fraction of a second is refused.
    """
    if value is None or is_unresolved(value):
        return value
    seconds = parse_duration(construct, option, value)
    if seconds < minimum or (maximum is not None and seconds > maximum):
        upper = f"{maximum}s" if maximum is not None else "no upper limit"
        raise ConstructValidationError(construct, option, value, f"between {minimum}s and {upper}")
    if whole_seconds and seconds != seconds.to_integral_value():
        raise ConstructValidationError(construct, option, value, f"whole seconds, such as \"{int(seconds)}s\": {whole_seconds}")
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


def _is_label_text(text: str) -> bool:
    # "lowercase letters, numeric characters, underscores and dashes; international
    # characters are allowed": any letter that is not uppercase (many scripts have no
    # case at all), any digit, "_" and "-".
    return len(text) <= limits.MAX_LABEL_LENGTH and all(
        (c.isalpha() and c == c.lower()) or c.isdigit() or c in "_-" for c in text
    )


def check_labels(construct: str, option: str, labels: Mapping[str, str] | None) -> Mapping[str, str] | None:
    if labels is None or is_unresolved(labels):
        return labels
    if len(labels) > limits.MAX_LABELS:
        raise ConstructValidationError(construct, option, f"{len(labels)} labels", f"at most {limits.MAX_LABELS} labels")
    for key, value in labels.items():
        if not is_unresolved(key) and not (
            isinstance(key, str) and key[:1].isalpha() and key[:1] == key[:1].lower() and _is_label_text(key)
        ):
            raise ConstructValidationError(
                construct, f"{option} key", key,
                f"1-{limits.MAX_LABEL_LENGTH} lowercase letters (international ones too), digits, '_' or '-', "
                "starting with a lowercase letter",
            )
        if not is_unresolved(value) and not (isinstance(value, str) and _is_label_text(value)):
            raise ConstructValidationError(
                construct, f"{option}[{key!r}]", value,
                f"0-{limits.MAX_LABEL_LENGTH} lowercase letters (international ones too), digits, '_' or '-'",
            )
    return labels
