"""JsonTextField: JSON stored as the text Python's json writes, on every database.

A task's arguments and return value must come back exactly as Python's json carries
them, as django.tasks promises (its own backends keep them in memory, or as JSON text).
PostgreSQL's jsonb does not keep them: it stores numbers as `numeric`, so the float 1e20
comes back as the int 100000000000000000000 and -0.0 as 0.0, and it reorders objects'
keys. As text, they round-trip the same on PostgreSQL and SQLite. Nothing queries inside
these values, which is all jsonb would add.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models


class JsonTextField(models.TextField):
    description = "JSON, stored as its text"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return None if value is None else json.loads(value)

    def get_prep_value(self, value: Any) -> str | None:
        # Compact; not ASCII-escaped, so that text stays as small and readable as it is.
        return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
