"""The task payload: one small versioned JSON document, whatever carries it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cloudtasks.wire.payload import VERSION, PayloadError, TaskPayload, decode

ENQUEUED_AT = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
RUN_AFTER = datetime(2025, 1, 2, 9, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5)))
PAYLOAD = TaskPayload(
    "app.tasks.greet", "task-1", ["Ada"], {"punctuation": "?"}, ENQUEUED_AT,
    backend="jobs", queue_name="long", priority=0, run_after=RUN_AFTER,
)

# A payload as version 1 of the backend wrote it, before payloads said how a task was
# enqueued: tasks already queued when the new version deploys must still run.
VERSION_1 = (
    b'{"args":["Ada"],"enqueued_at":"2025-01-02T03:04:05.678901+00:00","id":"task-1",'
    b'"kwargs":{"punctuation":"?"},"task":"app.tasks.greet","version":1}'
)


def test_decoding_an_encoded_payload_gives_it_back():
    assert decode(PAYLOAD.encode()) == PAYLOAD


def test_decode_accepts_text_as_well_as_bytes():
    assert decode(PAYLOAD.encode().decode()) == PAYLOAD


def test_same_task_encodes_to_the_same_bytes():
    reordered = TaskPayload("app.tasks.greet", "task-1", ["Ada"], {"b": 2, "a": 1}, ENQUEUED_AT)

    assert reordered.encode() == TaskPayload(
        "app.tasks.greet", "task-1", ["Ada"], {"a": 1, "b": 2}, ENQUEUED_AT
    ).encode()


def test_encoded_payload_carries_its_version_and_how_the_task_was_enqueued():
    document = json.loads(PAYLOAD.encode())

    assert document["version"] == VERSION == 2
    assert (document["backend"], document["queue"], document["priority"]) == ("jobs", "long", 0)
    assert datetime.fromisoformat(document["run_after"]) == RUN_AFTER


def test_run_after_keeps_its_instant_to_the_microsecond():
    assert decode(PAYLOAD.encode()).run_after == RUN_AFTER


def test_version_1_payload_decodes_as_a_task_to_run_as_declared():
    payload = decode(VERSION_1)

    assert payload == TaskPayload("app.tasks.greet", "task-1", ["Ada"], {"punctuation": "?"}, ENQUEUED_AT)
    assert (payload.backend, payload.queue_name, payload.priority, payload.run_after) == (None, None, None, None)


def test_keys_a_reader_does_not_know_are_ignored():
    # A newer enqueuer may add one during a rolling deploy.
    assert decode(document(added_later={"x": 1})) == PAYLOAD


def test_payload_may_leave_its_arguments_out_and_then_says_so():
    # For arguments stored with the task's record rather than carried (a job's argv is
    # capped at 128 KiB): absent, not empty, so nothing runs without them by mistake.
    payload = decode(document(args=..., kwargs=...))

    assert (payload.args, payload.kwargs) == (None, None)


def test_payload_without_arguments_encodes_without_them():
    without = TaskPayload("app.tasks.greet", "task-1", None, None, ENQUEUED_AT)

    assert "args" not in json.loads(without.encode())
    assert decode(without.encode()) == without


def test_encode_refuses_values_that_are_not_json():
    with pytest.raises(ValueError, match="JSON compliant"):
        TaskPayload("app.tasks.greet", "task-1", [float("nan")]).encode()


def document(**changes: object) -> bytes:
    base = json.loads(PAYLOAD.encode())
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


UNREADABLE = {
    "not JSON": (b"{not json", "not JSON"),
    "not an object": (b"[1, 2]", "must be a JSON object"),
    "unsupported version": (document(version=3), "version 3 is not supported (only 1, 2)"),
    "no version": (document(version=...), "version None is not supported"),
    "version that is not a number": (document(version="2"), "version '2' is not supported"),
    "no id": (document(id=...), "'id' must be 1 to 64 letters, digits, '-' or '_'"),
    "id over 64 characters": (document(id="t" * 65), "'id' must be 1 to 64 letters"),
    "id with a newline, shown escaped": (document(id="t-1\nforged"), "not 't-1\\nforged'"),
    "id of other characters": (document(id="t/1"), "not 't/1'"),
    "no task": (document(task=...), "'task' must be a non-empty string"),
    "task over 255 characters": (document(task="a." * 128), "'task' is 256 characters long; the task's record holds at most 255"),
    "task not a dotted path": (document(task="app.tasks.greet now"), "'task' must be the dotted path of a task"),
    "task with NUL": (document(task="app.tasks.greet\x00"), "no U+0000 (NUL) and no lone surrogate"),
    "args not a list": (document(args={"a": 1}), "'args' must be a list"),
    "kwargs not an object": (document(kwargs=[1]), "'kwargs' an object"),
    "args without kwargs": (document(kwargs=...), "'kwargs' an object"),
    "enqueued_at not a time": (document(enqueued_at="yesterday"), "'enqueued_at' is not an ISO datetime: 'yesterday'"),
    "enqueued_at before year 1 in UTC": (
        document(enqueued_at="0001-01-01T00:00:00+14:00"),
        "'enqueued_at' is 0001-01-01T00:00:00+14:00, outside what a record holds: from "
        "0001-01-02T00:00:00+00:00 to 9999-12-30T23:59:59.999999+00:00 (in UTC)",
    ),
    "run_after after year 9999 in UTC": (document(run_after="9999-12-31T23:00:00-05:00"), "outside what a record holds"),
    "run_after without a time zone": (document(run_after="2025-01-02T09:00:00"), "'run_after' has no time zone"),
    "backend not a string": (document(backend=7), "'backend' must be a non-empty string"),
    "queue empty": (document(queue=""), "'queue' must be a non-empty string"),
    "queue over 100 characters": (document(queue="q" * 101), "the task's record holds at most 100"),
    "backend with a lone surrogate": (document(backend="jobs\udc80"), "no U+0000 (NUL) and no lone surrogate"),
    "priority not a number": (document(priority="high"), "'priority' must be a whole number"),
    "priority out of django.tasks' range": (
        document(priority=101), "'priority' must be a whole number from -100 to 100 (django.tasks' range), not 101"
    ),
    "arguments nested too deep": (document(args=[json.loads("[" * 101 + "]" * 101)]), "argument 0 nests lists"),
    "argument with a lone surrogate": (document(kwargs={"name": "\udc80"}), "'\\udc80' is a lone surrogate"),
}


@pytest.mark.parametrize(("raw", "message"), UNREADABLE.values(), ids=UNREADABLE.keys())
def test_unreadable_payload_raises_payload_error_saying_what_is_wrong(raw, message):
    with pytest.raises(PayloadError, match=re.escape(message)):
        decode(raw)


def test_times_are_decoded_in_utc():
    decoded = decode(PAYLOAD.encode())

    assert decoded.run_after.utcoffset() == decoded.enqueued_at.utcoffset() == timedelta(0)


def test_naive_times_are_encoded_aware_in_utc_from_the_default_time_zone(settings):
    # As the database gives them with USE_TZ = False.
    settings.USE_TZ, settings.TIME_ZONE = False, "America/Sao_Paulo"  # 3 hours behind UTC, no summer time
    naive = TaskPayload("app.tasks.greet", "task-1", [], {}, datetime(2025, 1, 2, 9), run_after=datetime(2025, 1, 2, 10))

    document = json.loads(naive.encode())

    assert (document["enqueued_at"], document["run_after"]) == ("2025-01-02T12:00:00+00:00", "2025-01-02T13:00:00+00:00")
