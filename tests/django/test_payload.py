"""The task payload: one small versioned JSON document, whatever carries it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cloudtasks.payload import VERSION, PayloadError, TaskPayload, decode

ENQUEUED_AT = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
PAYLOAD = TaskPayload("app.tasks.greet", "task-1", ["Ada"], {"punctuation": "?"}, ENQUEUED_AT)


def test_decoding_an_encoded_payload_gives_it_back():
    assert decode(PAYLOAD.encode()) == PAYLOAD


def test_decode_accepts_text_as_well_as_bytes():
    assert decode(PAYLOAD.encode().decode()) == PAYLOAD


def test_same_task_encodes_to_the_same_bytes():
    reordered = TaskPayload("app.tasks.greet", "task-1", ["Ada"], {"b": 2, "a": 1}, ENQUEUED_AT)

    assert reordered.encode() == TaskPayload(
        "app.tasks.greet", "task-1", ["Ada"], {"a": 1, "b": 2}, ENQUEUED_AT
    ).encode()


def test_encoded_payload_carries_its_version():
    assert json.loads(PAYLOAD.encode())["version"] == VERSION


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
    "unsupported version": (document(version=2), "version 2 is not supported"),
    "no version": (document(version=...), "version None is not supported"),
    "no id": (document(id=...), "'id' must be a non-empty string"),
    "no task": (document(task=...), "'task' must be a non-empty string"),
    "args not a list": (document(args={"a": 1}), "'args' must be a list"),
    "kwargs not an object": (document(kwargs=[1]), "'kwargs' an object"),
    "enqueued_at not a time": (document(enqueued_at="yesterday"), "'enqueued_at' is not an ISO"),
}


@pytest.mark.parametrize(("raw", "message"), UNREADABLE.values(), ids=UNREADABLE.keys())
def test_unreadable_payload_raises_payload_error_saying_what_is_wrong(raw, message):
    with pytest.raises(PayloadError, match=message):
        decode(raw)
