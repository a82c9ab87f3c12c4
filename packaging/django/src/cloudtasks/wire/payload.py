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

Times travel aware and in UTC, whatever the project's USE_TZ (cloudtasks.wire.moments).

A payload comes from outside the process, so every field is checked on decode against
what it is, and against what the task's record can store (the run side records a task
it has no record of): the id is a Cloud Tasks task id that fits the record's column, the
task a dotted path, text fits its column and is text a column can hold (no U+0000, no
lone surrogate), the priority is in django.tasks' range, times within what a record
holds, and arguments are JSON values as the backend accepts them at enqueue
(cloudtasks.wire.json_values: nested at most MAX_DEPTH deep). What is wrong is said with the
value shown by repr, so that a payload cannot write a line of its own into a log.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY

from cloudtasks.wire import moments
from cloudtasks.wire.json_values import NotJson, json_arguments

VERSION = 2
READABLE_VERSIONS = (1, VERSION)  # every version still in flight
# What Cloud Tasks allows in a task id ("letters, numbers, hyphens, underscores"; at most
# 500 characters: the `name` of google.cloud.tasks.v2.Task): the id names the task there.
TASK_ID = re.compile(r"[A-Za-z0-9_-]+")

# A bad value as an error shows it: quoted and escaped (a newline as \n), and cut short.
_shown = reprlib.Repr(maxstring=80, maxother=80).repr


class PayloadError(ValueError):
    """A payload that can never run: malformed, of a version we do not read, or holding
    what a task's record cannot store."""


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
        task_id, longest = document.get("id"), _column_length("id")
        if not isinstance(task_id, str) or not TASK_ID.fullmatch(task_id) or len(task_id) > longest:
            raise PayloadError(
                f"payload 'id' must be 1 to {longest} letters, digits, '-' or '_' (a Cloud Tasks task id "
                f"that fits the task's record), not {_shown(task_id)}"
            )
        self.task_id = task_id

    def error(self, problem: str) -> PayloadError:
        return PayloadError(f"payload {self.task_id}: {problem}")

    def text(self, key: str, *, column: str, required: bool) -> str | None:
        value = self.document.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(f"{key!r} must be a non-empty string, not {_shown(value)}")
        longest = _column_length(column)
        if len(value) > longest:
            raise self.error(f"{key!r} is {len(value)} characters long; the task's record holds at most {longest}")
        if "\x00" in value or not _is_unicode(value):
            raise self.error(
                f"{key!r} is {_shown(value)}: text a record holds has no U+0000 (NUL) and no lone surrogate"
            )
        return value

    def task_path(self) -> str:
        path = self.text("task", column="task_path", required=True) or ""
        if not all(name.isidentifier() for name in path.split(".")):
            raise self.error(f"'task' must be the dotted path of a task (module.name), not {_shown(path)}")
        return path

    def time(self, key: str) -> datetime | None:
        value = self.document.get(key)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError) as error:
            raise self.error(f"{key!r} is not an ISO datetime: {_shown(value)}") from error
        if moment.utcoffset() is None:
            raise self.error(f"{key!r} has no time zone: {_shown(value)}")
        try:
            return moments.in_utc(moment)
        except moments.OutOfRange as error:
            raise self.error(f"{key!r} {error}") from error

    def arguments(self, *, default: bool) -> tuple[list[Any] | None, dict[str, Any] | None]:
        if default:
            args, kwargs = self.document.get("args", []), self.document.get("kwargs", {})
        else:
            args, kwargs = self.document.get("args"), self.document.get("kwargs")
            if args is None and kwargs is None:
                return None, None
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise self.error("'args' must be a list and 'kwargs' an object")
        try:
            return json_arguments(args, kwargs)
        except NotJson as error:
            raise self.error(f"arguments must be JSON values a record can store: {error}") from error

    def priority(self) -> int | None:
        value = self.document.get("priority")
        if value is None or (
            isinstance(value, int) and not isinstance(value, bool) and TASK_MIN_PRIORITY <= value <= TASK_MAX_PRIORITY
        ):
            return value
        raise self.error(
            f"'priority' must be a whole number from {TASK_MIN_PRIORITY} to {TASK_MAX_PRIORITY} (django.tasks' "
            f"range), not {_shown(value)}"
        )


def _read(document: _Document, version: int) -> TaskPayload:
    # Version 1 was written before payloads said how a task was enqueued (it runs as
    # declared), and left out arguments that were empty.
    args, kwargs = document.arguments(default=version == 1)
    enqueued_with = {} if version == 1 else {
        "backend": document.text("backend", column="backend", required=False),
        "queue_name": document.text("queue", column="queue_name", required=False),
        "priority": document.priority(),
        "run_after": document.time("run_after"),
    }
    return TaskPayload(
        task_path=document.task_path(),
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
    # Naive times are the database's under USE_TZ = False: in the default time zone.
    return moments.in_utc(moment).isoformat() if moment else None


def _column_length(column: str) -> int:
    """The most characters the task record's `column` holds."""
    from cloudtasks.models import TaskRecord  # models load with the apps, maybe after this module

    return TaskRecord._meta.get_field(column).max_length


def _is_unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate: what JSON's \ud800 to \udfff escapes decode to
        return False
    return True
