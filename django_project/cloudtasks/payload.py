"""The wire format of one task: a small, versioned JSON document.

Whatever carries a task (the body of an HTTP push, an argument of a Cloud Run Job
execution, the body of a scheduler call) carries exactly these bytes, encoded and
decoded here and nowhere else.

Version 2 carries everything the run side needs to rebuild the task exactly as it was
enqueued:

    {"version": 2, "id": "<task id>", "task": "app.tasks.name",
     "backend": "jobs", "queue": "long", "priority": 0, "run_after": "<ISO time>" | null,
     "enqueued_at": "<ISO time>", "args": [...], "kwargs": {...}}

Decoding stays readable across versions and additions: every version still in flight
has its reader (a version 1 payload, without backend, queue, priority and run_after,
runs as the task was declared); keys a reader does not know are ignored, so a newer
enqueuer can add one; and "args" and "kwargs" may both be left out, for a task whose
arguments are stored with its record rather than carried (a job's argv is capped at
128 KiB). A payload then says so rather than arriving with no arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

VERSION = 2
READABLE_VERSIONS = (1, VERSION)  # every version still in flight


class PayloadError(ValueError):
    """A payload that can never run: malformed, or of a version we do not read."""


@dataclass(frozen=True)
class TaskPayload:
    task_path: str  # "module.function" of a function declared with @task
    task_id: str
    # None: not carried, stored with the task's record.
    args: list[Any] | None = field(default_factory=list)
    kwargs: dict[str, Any] | None = field(default_factory=dict)
    enqueued_at: datetime | None = None  # aware datetime
    # How the task was enqueued (`using()`); None: as declared (version 1 payloads).
    backend: str | None = None
    queue_name: str | None = None
    priority: int | None = None
    run_after: datetime | None = None  # aware datetime

    def encode(self) -> bytes:
        document: dict[str, Any] = {
            "version": VERSION,
            "id": self.task_id,
            "task": self.task_path,
            "backend": self.backend,
            "queue": self.queue_name,
            "priority": self.priority,
            "run_after": _iso(self.run_after),
            "enqueued_at": _iso(self.enqueued_at),
        }
        if self.args is not None or self.kwargs is not None:
            document.update(args=list(self.args or []), kwargs=dict(self.kwargs or {}))
        # Compact and key-sorted so the same task always has the same bytes; strict, so
        # that NaN and infinities (which JSON does not have) fail here, not on decode.
        return json.dumps(
            document, separators=(",", ":"), sort_keys=True, allow_nan=False
        ).encode()


def decode(raw: bytes | str) -> TaskPayload:
    """Parse a payload of any version we read, raising PayloadError that says what is wrong."""
    try:
        document = json.loads(raw, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError(f"payload is not JSON: {error}") from error
    except RecursionError as error:
        raise PayloadError("payload is nested too deeply to be a task's") from error
    if not isinstance(document, dict):
        raise PayloadError("payload must be a JSON object")
    version = document.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise PayloadError(f"payload version {version!r} is not supported (only {readable})")
    return _read(_Document(document), version)


class _Document:
    """The fields of a decoded JSON object, each checked as it is read."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        task_id = document.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise PayloadError("payload 'id' must be a non-empty string")
        self.task_id = task_id

    def text(self, key: str, *, required: bool) -> str | None:
        value = self.document.get(key)
        if (value is None and not required) or (isinstance(value, str) and value):
            return value
        raise PayloadError(f"payload {self.task_id}: {key!r} must be a non-empty string")

    def time(self, key: str) -> datetime | None:
        value = self.document.get(key)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError) as error:
            raise PayloadError(f"payload {self.task_id}: {key!r} is not an ISO datetime") from error
        if moment.utcoffset() is None:
            raise PayloadError(f"payload {self.task_id}: {key!r} has no time zone")
        return moment

    def arguments(self, *, default: bool) -> tuple[list[Any] | None, dict[str, Any] | None]:
        if default:
            args, kwargs = self.document.get("args", []), self.document.get("kwargs", {})
        else:
            args, kwargs = self.document.get("args"), self.document.get("kwargs")
            if args is None and kwargs is None:
                return None, None
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise PayloadError(f"payload {self.task_id}: 'args' must be a list and 'kwargs' an object")
        return args, kwargs

    def priority(self) -> int | None:
        value = self.document.get("priority")
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise PayloadError(f"payload {self.task_id}: 'priority' must be a whole number")


def _read(document: _Document, version: int) -> TaskPayload:
    # Version 1 was written before payloads said how a task was enqueued (it runs as
    # declared), and left out arguments that were empty.
    args, kwargs = document.arguments(default=version == 1)
    enqueued_with = {} if version == 1 else {
        "backend": document.text("backend", required=False),
        "queue_name": document.text("queue", required=False),
        "priority": document.priority(),
        "run_after": document.time("run_after"),
    }
    return TaskPayload(
        task_path=document.text("task", required=True) or "",
        task_id=document.task_id,
        args=args,
        kwargs=kwargs,
        enqueued_at=document.time("enqueued_at"),
        **enqueued_with,
    )


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON does not have (and which encode()
    # refuses to write).
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
