"""The wire format of one task: a small, versioned JSON document.

Whatever carries a task (the body of an HTTP push, an argument of a Cloud Run Job
execution, the body of a scheduler call) carries exactly these bytes, encoded and
decoded here and nowhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

VERSION = 1


class PayloadError(ValueError):
    """A payload that can never run: malformed, or of a version we do not read."""


@dataclass(frozen=True)
class TaskPayload:
    task_path: str  # "module.function" of a function declared with @task
    task_id: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    enqueued_at: datetime | None = None  # aware datetime

    def encode(self) -> bytes:
        document = {
            "version": VERSION,
            "id": self.task_id,
            "task": self.task_path,
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
            "enqueued_at": self.enqueued_at.isoformat() if self.enqueued_at else None,
        }
        # Compact and key-sorted so the same task always has the same bytes; strict, so
        # that NaN and infinities (which JSON does not have) fail here, not on decode.
        return json.dumps(
            document, separators=(",", ":"), sort_keys=True, allow_nan=False
        ).encode()


def decode(raw: bytes | str) -> TaskPayload:
    """Parse a payload, raising PayloadError that says what is wrong with it."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError(f"payload is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise PayloadError("payload must be a JSON object")
    version = document.get("version")
    if version != VERSION:
        raise PayloadError(f"payload version {version!r} is not supported (only {VERSION})")
    task_id, task_path = document.get("id"), document.get("task")
    args, kwargs = document.get("args", []), document.get("kwargs", {})
    if not isinstance(task_id, str) or not task_id:
        raise PayloadError("payload 'id' must be a non-empty string")
    if not isinstance(task_path, str) or not task_path:
        raise PayloadError(f"payload {task_id}: 'task' must be a non-empty string")
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise PayloadError(f"payload {task_id}: 'args' must be a list and 'kwargs' an object")
    enqueued_at = document.get("enqueued_at")
    try:
        enqueued = datetime.fromisoformat(enqueued_at) if enqueued_at else None
    except (TypeError, ValueError) as error:
        raise PayloadError(f"payload {task_id}: 'enqueued_at' is not an ISO datetime") from error
    return TaskPayload(task_path, task_id, args, kwargs, enqueued)
