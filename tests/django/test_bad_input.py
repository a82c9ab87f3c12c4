"""Bad input where it enters the run side: payloads pushed over real HTTP to the live
server's handler (with a valid token), and the same payloads as a job execution's
`run_task --payload`, in a process of its own.

Whatever is wrong with a payload, the handler answers 200 "DISCARDED" (retrying cannot
help; any other answer makes Cloud Tasks deliver it again), never a 5xx; `run_task`
exits non-zero with one line that says what is wrong, never a traceback; and the task
never runs. Every payload below is the one that runs (`RUNNABLE`) with one thing wrong.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.tasks import TaskResultStatus

from cloudtasks.models import TaskRecord
from tests.django.pushes import AUDIENCE, INVOKER, SIGNER, TASKS, google_like_auth
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect

RUNNABLE = {
    "version": 2, "id": "t-input", "task": f"{TASKS}.insert_effect", "args": ["ran"], "kwargs": {},
    "backend": "default", "queue": "default", "priority": 0, "run_after": None,
    "enqueued_at": "2025-01-02T03:04:05.678901+00:00",
}


def body(**changes: object) -> bytes:
    """RUNNABLE with `changes` (a change to ... leaves the key out), as json writes it:
    a NUL or a lone surrogate travels escaped, as \\u0000 or \\udc80."""
    document = {key: value for key, value in {**RUNNABLE, **changes}.items() if value is not ...}
    return json.dumps(document).encode()


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


# What the handler refused before, answering 200 DISCARDED.
REFUSED_BEFORE = {
    "malformed": b"{not json",
    "NaN": body().replace(b'"ran"', b"NaN"),
    "-Infinity": body().replace(b'"ran"', b"-Infinity"),
    "version 99": body(version=99),
    "version as text": body(version="2"),
    "version true": body(version=True),
    "id that is a number": body(id=1),
    "arguments not a list": body(args="ran"),
    "a list, not an object": b"[1, 2]",
    "empty": b"",
    "not UTF-8": b"\xff\xfe{}",
    "unknown task": body(task=f"{TASKS}.no_such_task"),
    "plain function": body(task=f"{TASKS}.not_a_task"),
    "task under a second name": body(task=f"{TASKS}.alias_of_flush_outbox"),
    "module path outside the tasks modules": body(task="tests.django.taskapp.elsewhere.declared_elsewhere"),
    "arguments that do not fit": body(args=["a", "b"]),
    "backend this process lacks": body(backend="nowhere"),
    "queue this process lacks": body(queue="emails"),
    "arguments left with a record it has not": body(args=..., kwargs=...),
    "enqueued_at not a time": body(enqueued_at="yesterday"),
    "run_after without a time zone": body(run_after="2025-01-02T09:00:00"),
}
# What a task's record cannot store: answered 500 on every delivery, or stored and then
# unreadable, before each field was checked on decode (issue 14).
UNSTORABLE = {
    "id over 64 characters": body(id="t" * 65),
    "id with a newline": body(id="t-1\nERROR forged"),
    "id with a space": body(id="t 1"),
    "id with NUL": body(id="t\x00"),
    "id with a lone surrogate": body(id="t\udc80"),
    "task path over 255 characters": body(task="a." * 127 + "insert_effect"),
    "task path with NUL": body(task=f"{TASKS}.insert_effect\x00"),
    "task path with a lone surrogate": body(task=f"{TASKS}.insert_effect\udc80"),
    "backend over 100 characters": body(backend="b" * 101),
    "backend with NUL": body(backend="default\x00"),
    "backend with a lone surrogate": body(backend="default\udc80"),
    "queue over 100 characters": body(queue="q" * 101),
    "queue with NUL": body(queue="default\x00"),
    "queue with a lone surrogate": body(queue="default\udc80"),
    "priority over 100": body(priority=101),
    "priority under -100": body(priority=-101),
    "priority 10**20": body(priority=10**20),
    "priority a fraction": body(priority=0.5),
    "argument with a lone surrogate": body(args=[], kwargs={"label": "\udc80"}),
    "arguments nested 900 deep": body(args=[nested(900)]),
    "arguments nested 101 deep": body(args=[nested(101)]),
    "enqueued_at before year 1 in UTC": body(enqueued_at="0001-01-01T00:00:00+14:00"),
    "enqueued_at after year 9999 in UTC": body(enqueued_at="9999-12-31T23:00:00-05:00"),
    "enqueued_at within a day of year 1": body(enqueued_at="0001-01-01T12:00:00+00:00"),
    "run_after before year 1 in UTC": body(run_after="0001-01-01T00:00:00+14:00"),
}
# Too large for a command line (Linux caps one argument at 128 KiB): the handler only.
TOO_LARGE_FOR_ARGV = {
    "nested 100,000 deep": body().replace(b'["ran"]', b"[" * 100_000 + b"]" * 100_000),
    "3 MB": body(pad="x" * 3_000_000),
}
EVERY_BAD_PAYLOAD = {**REFUSED_BEFORE, **UNSTORABLE, **TOO_LARGE_FOR_ARGV}


@pytest.fixture
def handler(settings, live_server, google_like_keys, transactional_db) -> str:
    """The live server's push handler (its URL), trusting SIGNER's tokens as production
    trusts Google's."""
    settings.CLOUD_TASKS_AUTH = google_like_auth(google_like_keys)
    tasks.forget()
    return live_server.url + "/tasks/run/"


def push(url: str, payload: bytes) -> tuple[int, dict[str, Any]]:
    """POST `payload` as Cloud Tasks does, with a token the handler accepts; the status and JSON answer."""
    request = urllib.request.Request(url, data=payload, method="POST", headers={
        "Content-Type": "application/json", "X-CloudTasks-TaskName": "qt-input", "X-CloudTasks-TaskRetryCount": "0",
        "Authorization": f"Bearer {SIGNER.mint(audience=AUDIENCE, email=INVOKER)}",
    })
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


def test_the_payload_the_bad_ones_are_made_from_runs(handler):
    assert push(handler, body()) == (200, {"id": "t-input", "status": "SUCCESSFUL", "outcome": "succeeded"})
    assert Effect.objects.count() == 1


@pytest.mark.parametrize("payload", EVERY_BAD_PAYLOAD.values(), ids=EVERY_BAD_PAYLOAD.keys())
def test_a_bad_payload_is_acknowledged_as_discarded_with_the_reason_and_nothing_runs(handler, caplog, payload):
    with caplog.at_level(logging.ERROR, logger="cloudtasks"):
        status, answer = push(handler, payload)

    assert (status, answer.get("status")) == (200, "DISCARDED"), answer
    assert answer["error"]
    assert not Effect.objects.exists() and tasks.calls == []
    # Logged as one line that names the Cloud Tasks task, whatever the payload holds.
    [line] = [record.getMessage() for record in caplog.records if record.name == "cloudtasks.views"]
    assert "'qt-input'" in line and "\n" not in line


def test_a_newline_in_an_id_is_logged_escaped_so_it_cannot_forge_a_line(handler, caplog):
    with caplog.at_level(logging.INFO, logger="cloudtasks"):
        push(handler, body(id="t-1\nERROR forged", task=f"{TASKS}.no_such_task"))

    assert "forged" in caplog.text
    assert not any(line.startswith("ERROR forged") for line in caplog.text.splitlines())


def test_a_return_value_nested_too_deep_fails_the_task_for_good_and_it_is_not_run_again(handler):
    too_deep = body(id="t-deep", task=f"{TASKS}.return_nested", args=[500])

    first, again = push(handler, too_deep), push(handler, too_deep)

    assert first == (200, {"id": "t-deep", "status": "FAILED", "outcome": "failed"})
    assert again == (200, {"id": "t-deep", "status": "FAILED", "outcome": "duplicate"})
    assert tasks.calls == [("return_nested", 500)]
    [attempt] = TaskRecord.objects.get(pk="t-deep").attempts
    assert attempt["error"]["exception_class_path"] == "cloudtasks.exceptions.ReturnValueNotJson"
    assert "more than 100 deep" in attempt["error"]["traceback"]


def test_a_return_value_nested_as_deep_as_allowed_is_kept(handler):
    status, answer = push(handler, body(id="t-deepest", task=f"{TASKS}.return_nested", args=[100]))

    assert (status, answer["status"]) == (200, TaskResultStatus.SUCCESSFUL)
    assert TaskRecord.objects.get(pk="t-deepest").return_value == nested(100)


# The same payloads as a job execution gets them.

COMMAND_LINE_PAYLOADS = {**REFUSED_BEFORE, **UNSTORABLE}


def test_run_task_runs_the_payload_the_bad_ones_are_made_from(run_job):
    done = run_job("--payload", body().decode())

    assert done.returncode == 0, done.stderr
    assert Effect.objects.count() == 1


@pytest.mark.parametrize("payload", COMMAND_LINE_PAYLOADS.values(), ids=COMMAND_LINE_PAYLOADS.keys())
def test_a_bad_payload_makes_run_task_exit_non_zero_saying_why_without_a_traceback(run_job, payload):
    # os.fsdecode: bytes that are not UTF-8 reach the process as they are, as argv does.
    done = run_job("--payload", os.fsdecode(payload))

    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith("CommandError: task can never run: "), done.stderr
    assert "Traceback" not in done.stderr
    assert not Effect.objects.exists()
