"""What a task's arguments and return value may be: JSON that arrives unchanged and that
the database can store.

Django's own rule (django.utils.json.normalize_json: tuples become lists, bytes text)
plus what JSON cannot carry: NaN and infinities, and keys that are not strings (which
would arrive as strings); a lone surrogate (U+D800 to U+DFFF unpaired) in a string,
which is not Unicode text and cannot be stored as UTF-8; and lists and objects nested
deeper than MAX_DEPTH. The record stores the JSON text as Python's json writes it
(cloudtasks.fields), so U+0000 is stored, escaped, like any other character.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.json import normalize_json

# Lists and objects nested in one argument, or in a return value. Deeper values are
# refused rather than left to Python's recursion limit, which they would meet at a depth
# that depends on the caller's stack: at enqueue, in the push handler, or only when the
# task returns (a return value 500 deep did). 100 is the limit protobuf's own JSON
# parser applies by default (google.protobuf.json_format.Parse, max_recursion_depth);
# no task's data needs more.
MAX_DEPTH = 100


class NotJson(ValueError):
    """Says what is wrong, completing "... must be JSON values: "."""


def json_value(value: Any) -> Any:
    """`value` (a return value) as JSON carries and stores it, or NotJson."""
    _check_depth(value, "the value")
    return _as_json(value)


def json_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """A task's arguments as JSON carries and stores them, or NotJson."""
    for position, argument in enumerate(args):
        _check_depth(argument, f"argument {position}")
    for name, argument in kwargs.items():
        _check_depth(argument, f"argument {name!r}")
    arrived = _as_json([args, kwargs])
    return arrived[0], arrived[1]


def _as_json(value: Any) -> Any:
    try:
        normalised = normalize_json(value)
        text = json.dumps(normalised, allow_nan=False, ensure_ascii=False)
        text.encode()
        arrived = json.loads(text)
    except UnicodeEncodeError as error:
        raise NotJson(
            f"strings must be Unicode text: {text[error.start:error.end]!r} is a lone surrogate, which cannot be "
            f"stored as UTF-8"
        ) from error
    except (TypeError, ValueError) as error:
        raise NotJson(str(error)) from error
    if arrived != normalised:
        raise NotJson("dictionary keys must be strings (JSON would turn them into strings)")
    return arrived


def _check_depth(value: Any, what: str) -> None:
    # Level by level, without recursion: the point is to refuse what recursion cannot take.
    level, depth = [value], 0
    while (below := _below(level)) is not None:
        depth += 1
        if depth > MAX_DEPTH:
            raise NotJson(f"{what} nests lists and objects more than {MAX_DEPTH} deep (MAX_DEPTH)")
        level = below


_LEAVES = (str, int, float, bool, type(None))


def _below(level: list[Any]) -> list[Any] | None:
    """The items of the containers in `level` (what normalize_json recurses into), or None
    if it holds no container. Exact types are tried first: this runs on every enqueue."""
    below: list[Any] = []
    found = False
    for item in level:
        kind = type(item)
        if kind is dict or (kind not in _LEAVES and isinstance(item, Mapping)):
            below += item.values()
        elif kind is list or kind is tuple or (
            kind not in _LEAVES and isinstance(item, Sequence) and not isinstance(item, str | bytes)
        ):
            below += item
        else:
            continue
        found = True
    return below if found else None
