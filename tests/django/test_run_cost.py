"""What running a pushed task costs the database and the worker: the statements of a
READY task's run, the health checks of a connection in use, and tokens verified once.
(How fast, beside a database worker: benchmarks/throughput.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.db import connection, connections
from django.utils import timezone

from cloudtasks.auth import verify
from cloudtasks.models import TaskRecord
from tests.django.backend_settings import tasks_setting
from tests.django.loopback import free_port
from tests.django.pushes import AUDIENCE, INVOKER, SIGNER, TASKS, google_like_auth, payload, push
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect


@pytest.fixture
def trust_google_like_signer(settings, google_like_keys) -> None:
    settings.CLOUD_TASKS_AUTH = google_like_auth(google_like_keys)
    queues = {name: f"projects/example-project/locations/europe-west1/queues/{name}" for name in ("default", "long")}
    settings.TASKS = tasks_setting(queues, emulator_host=f"127.0.0.1:{free_port()}")
    tasks.forget()


def ready_record(task_id: str, task: str, args: list[object]) -> TaskRecord:
    """A task's record as enqueue leaves it."""
    now = timezone.now()
    return TaskRecord.objects.create(
        id=task_id, task_path=f"{TASKS}.{task}", backend="default", queue_name="default", args=args,
        enqueued_at=now, check_after=now,
    )


def push_noting_statements(client, task: str, *args: object) -> tuple[int, list[tuple[str, bool]]]:
    """Push a READY task's payload; the answer's status, and each SQL statement's verb and
    whether it ran inside a transaction (BEGIN and COMMIT are not statements Django's
    wrappers see)."""
    record = ready_record("cost-1", task, list(args))
    statements = []

    def note(execute, sql, params, many, context):
        statements.append((sql.split()[0].upper(), context["connection"].in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        response = push(client, payload(task, *args, task_id=record.id), token=SIGNER.mint(
            audience=AUDIENCE, email=INVOKER))
    record.refresh_from_db()
    assert record.status == "SUCCESSFUL" and len(record.attempts) == 1 and record.attempts[0]["finished_at"]
    return response.status_code, statements


def test_a_ready_task_that_writes_nothing_costs_two_statements_and_no_transaction(
    trust_google_like_signer, client, transactional_db,
):
    status, statements = push_noting_statements(client, "record", "once")

    assert status == 200
    # The claim (an UPDATE that returns the row), then the success, each its own transaction;
    # before: SELECT ... FOR UPDATE and UPDATE in a transaction, then BEGIN, UPDATE, COMMIT.
    assert statements == [("UPDATE", False), ("UPDATE", False)]
    assert tasks.calls == [("record", "once")]


def test_a_ready_task_that_writes_commits_its_write_with_its_success(trust_google_like_signer, client, transactional_db):
    status, statements = push_noting_statements(client, "insert_effect", "once")

    assert status == 200
    assert statements == [("UPDATE", False), ("INSERT", True), ("UPDATE", True)]
    assert Effect.objects.filter(label="once").count() == 1


@pytest.fixture
def health_checks(monkeypatch, transactional_db) -> Iterator[list[float]]:
    """When the default connection was health-checked (its `is_usable`), kept between
    requests and checked as config/settings.py has it, in autocommit as a web worker's is."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.close()  # the next statement connects with them
    checks: list[float] = []
    wrapper = type(connections["default"])
    is_usable = wrapper.is_usable

    def counted(self):
        checks.append(time.monotonic())
        return is_usable(self)

    monkeypatch.setattr(wrapper, "is_usable", counted)
    yield checks
    connection.close()


def request_boundary() -> None:
    """What Django does between two requests (request_finished, request_started)."""
    connection.close_if_unusable_or_obsolete()


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_connection_used_a_moment_ago_is_not_checked_before_the_next_request(health_checks):
    backend_pid()
    for _ in range(3):
        request_boundary()
        backend_pid()

    assert health_checks == []


def test_a_connection_idle_for_a_second_is_checked_and_replaced_if_the_server_closed_it(health_checks):
    first = backend_pid()
    time.sleep(1.1)
    other = connections.create_connection("default")
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    other.close()
    request_boundary()

    second = backend_pid()  # no error: the check found the connection closed, and replaced it

    assert len(health_checks) == 1
    assert second != first


def test_a_token_that_passed_is_not_verified_again(trust_google_like_signer, monkeypatch, db):
    decodes = []
    decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *args, **kwargs: decodes.append(1) or decode(*args, **kwargs))
    token = SIGNER.mint(audience=AUDIENCE, email=INVOKER)

    first = verify.configured_verifier().verify(f"Bearer {token}")
    second = verify.configured_verifier().verify(f"Bearer {token}")

    assert first == second and first["email"] == INVOKER
    assert len(decodes) == 1


def test_a_kept_token_is_refused_once_it_expires(trust_google_like_signer, db):
    # Valid for one more second, within the tolerated clock skew.
    expires = datetime.now(UTC) - timedelta(seconds=verify.CLOCK_SKEW_SECONDS - 1)
    token = SIGNER.mint(audience=AUDIENCE, email=INVOKER, issued_at=expires - timedelta(minutes=5),
                        lifetime=timedelta(minutes=5))
    verify.configured_verifier().verify(f"Bearer {token}")
    time.sleep(1.2)

    with pytest.raises(verify.InvalidToken, match="expired"):
        verify.configured_verifier().verify(f"Bearer {token}")


def test_a_refused_token_is_refused_every_time(trust_google_like_signer, db):
    token = SIGNER.mint(audience=AUDIENCE, email="someone-else@example.com")

    for _ in range(2):
        with pytest.raises(verify.WrongIdentity):
            verify.configured_verifier().verify(f"Bearer {token}")
