"""What a task's arguments and return value may be: JSON that arrives unchanged and that
the database can store.

Django's own rule (django.utils.json.normalize_json: tuples become lists, bytes text)
plus what JSON cannot carry: NaN and infinities, and keys that are not strings (which
would arrive as strings), and U+0000 in a string, which PostgreSQL's jsonb refuses.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.json import normalize_json


class NotJson(ValueError):
    """Says what is wrong, completing "... must be JSON values: "."""


def json_value(value: Any) -> Any:
    """`value` as JSON carries and stores it, or NotJson."""
    try:
        normalised = normalize_json(value)
        arrived = json.loads(json.dumps(normalised, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise NotJson(str(error)) from error
    if arrived != normalised:
        raise NotJson("dictionary keys must be strings (JSON would turn them into strings)")
    if _has_nul(arrived):
        raise NotJson(
            "strings and keys must not contain U+0000 (NUL): the database cannot store it. "
            "Encode binary data (base64)."
        )
    return arrived


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    return False
