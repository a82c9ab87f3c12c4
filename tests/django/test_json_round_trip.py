"""Arguments and return values come back exactly as Python's json carries them, on
PostgreSQL and on SQLite.

The values are the cases of Django's own tests of the JSON that tasks take
(django/tests/utils_tests/test_json.py, JSONNormalizeTestCase, which django/tests/tasks/
relies on), plus what PostgreSQL's jsonb changed before the records held JSON text:
floats written with an exponent (1e20 came back as an int), -0.0, and key order.
Compared as json writes them, so that 1e20 and 100000000000000000000, 0.0 and -0.0,
and {"b", "a"} and {"a", "b"} differ.
"""

from __future__ import annotations

import json
from collections import UserList, defaultdict
from datetime import datetime
from decimal import Decimal

import pytest
from django.tasks import TaskResultStatus
from django.tasks.exceptions import InvalidTask
from django.utils.json import normalize_json

from tests.django.backend_settings import tasks_setting
from tests.django.live import wait_for
from tests.django.loopback import free_port
from tests.django.taskapp import tasks

DJANGOS_CASES = [
    None, True, False, 2, 3.0, 1e23 + 1, "1", b"hello", [], UserList([1, 2]), {}, {"foo": (1, 2, 3)},
    defaultdict(list),
]
JSONB_CHANGED = [
    1e20, 1.5e300, -0.0, 5e-324, 0.1, 2**70, 10**30, {"b": 1, "a": 2, "aa": 3}, "zoë ☃ \U0001f600", "NUL \x00 too",
]
VALUES = DJANGOS_CASES + JSONB_CHANGED


def as_json_writes(value: object) -> str:
    return json.dumps(value)


@pytest.mark.both_databases
def test_arguments_and_return_value_come_back_as_json_carries_them(local_run):
    expected = json.loads(json.dumps(normalize_json(VALUES)))

    enqueued = tasks.echo.enqueue(*VALUES, last=VALUES[-1], order={"b": 1, "a": 2})

    wait_for(lambda: tasks.echo.get_result(enqueued.id).status == TaskResultStatus.SUCCESSFUL, "echo ran")
    result = tasks.echo.get_result(enqueued.id)
    for got in (enqueued.args, result.args, result.return_value[0]):
        assert [as_json_writes(value) for value in got] == [as_json_writes(value) for value in expected]
    for got in (enqueued.kwargs, result.kwargs, result.return_value[1]):
        assert as_json_writes(got) == as_json_writes({"last": expected[-1], "order": {"b": 1, "a": 2}})


# What Django's own tests refuse (JSONNormalizeTestCase.test_encode_error and
# test_bytes_decode_error), and what JSON has no value for.
REFUSED = {
    "a test case": (object(), "Unsupported type"),
    "a builtin": (any, "Unsupported type"),
    "a datetime": (datetime.now(), "Unsupported type"),
    "a set": (set(), "Unsupported type"),
    "a decimal": (Decimal("3.42"), "Unsupported type"),
    "bytes that are not UTF-8": (b"\xff", "Unsupported value"),
    "NaN": (float("nan"), "Out of range float values"),
    "infinity": (float("inf"), "Out of range float values"),
}


@pytest.mark.parametrize(("value", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_what_json_cannot_carry_is_refused_at_enqueue_with_a_type_error(settings, value, message):
    # Refused before anything is written or sent: no queue listens there.
    settings.TASKS = tasks_setting("projects/p/locations/l/queues/q", emulator_host=f"127.0.0.1:{free_port()}")

    with pytest.raises(InvalidTask, match=message) as refused:
        tasks.echo.enqueue(value)

    assert isinstance(refused.value, TypeError)
