"""POST /tasks/run/: who may push, and what each outcome answers to Cloud Tasks."""

from __future__ import annotations

import io
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.tasks.signals import task_finished, task_started
from django.urls import reverse

from cloudtasks.auth.local_signing import LocalSigner
from tests.django.backend_settings import invoker, tasks_setting
from tests.django.loopback import free_port
from cloudtasks.wire.payload import TaskPayload
from tests.django.pushes import AUDIENCE, INVOKER, SIGNER, TASKS, google_like_auth, payload, push
from tests.django.taskapp import tasks


@pytest.fixture(autouse=True)
def trust_google_like_signer(settings, google_like_keys, db):
    settings.CLOUD_TASKS_AUTH = google_like_auth(google_like_keys)
    # Tasks the tests' tasks enqueue go nowhere: no queue listens there.
    queues = {name: f"projects/example-project/locations/europe-west1/queues/{name}" for name in ("default", "long")}
    settings.TASKS = tasks_setting(queues, emulator_host=f"127.0.0.1:{free_port()}")
    tasks.forget()


def mint(signer: LocalSigner | None = None, **claims) -> str:
    return (signer or SIGNER).mint(**{"audience": AUDIENCE, "email": INVOKER, **claims})


def forged_signature() -> str:
    # The invoker's genuine header and claims under a signature made for other claims.
    header, claims, _ = mint().split(".")
    signature = mint(email="someone-else@example.com").split(".")[2]
    return f"{header}.{claims}.{signature}"


REFUSED = {
    "no token": (lambda: None, 401),
    "expired": (lambda: mint(issued_at=datetime.now(UTC) - timedelta(hours=2)), 401),
    "wrong audience": (lambda: mint(audience="https://other.example.test/tasks/run/"), 401),
    "bad signature": (forged_signature, 401),
    "untrusted signing key": (lambda: mint(LocalSigner()), 401),
    "not a JWT": (lambda: "not-a-jwt", 401),
    "wrong email": (lambda: mint(email="someone-else@example.com"), 403),
    "unverified email": (lambda: mint(email_verified=False), 403),
}


@pytest.mark.parametrize(("make_token", "status"), REFUSED.values(), ids=REFUSED.keys())
def test_push_is_refused_before_the_task_runs(client, make_token, status):
    response = push(client, payload("record", "should not run"), token=make_token())

    assert response.status_code == status
    assert tasks.calls == []


class WatchedBody(io.BytesIO):
    """A request body that notes whether anything read it."""

    was_read = False

    def read(self, *args: Any) -> bytes:
        self.was_read = True
        return super().read(*args)

    def readline(self, *args: Any) -> bytes:
        self.was_read = True
        return super().readline(*args)


def test_body_is_not_read_before_the_token_is_verified(client):
    body = payload("record", "x")
    watched = WatchedBody(body)

    response = client.post(
        reverse("cloudtasks:run"), body, content_type="application/json",
        headers={"Authorization": "Bearer not-a-jwt"}, **{"wsgi.input": watched},
    )

    assert response.status_code == 401
    assert not watched.was_read


def test_missing_token_is_answered_with_a_bearer_challenge(client):
    response = push(client, payload("record", "x"), token=None)

    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_invoker_token_runs_the_task(client):
    response = push(client, payload("record", "hello", task_id="t-42"), token=mint())

    assert response.status_code == 200
    assert response.json() == {"id": "t-42", "status": "SUCCESSFUL", "outcome": "succeeded"}
    assert tasks.calls == [("record", "hello")]


def test_token_of_the_invoker_of_any_queue_runs_the_task(client, settings):
    long_invoker = invoker("long")
    settings.CLOUD_TASKS_AUTH = {**settings.CLOUD_TASKS_AUTH, "INVOKER_EMAILS": [INVOKER, long_invoker]}

    response = push(client, payload("record", "from long"), token=mint(email=long_invoker))

    assert response.status_code == 200
    assert tasks.calls == [("record", "from long")]


def test_attempt_number_counts_the_attempts_that_ran_the_task(client):
    # Deliveries that ran nothing (answered 503 or 409) count for Cloud Tasks, not here.
    for retry_count in (4, 5, 6):
        push(client, payload("succeed_on_third_attempt", key="k"), token=mint(), retry_count=retry_count)

    assert tasks.calls == [("k", 1), ("k", 2), ("k", 3)]


def test_task_that_raises_is_answered_with_500_so_cloud_tasks_retries(client):
    response = push(client, payload("explode"), token=mint())

    assert response.status_code == 500
    assert response.json()["status"] == "FAILED"
    assert tasks.calls == [("explode", None)]


def test_signals_fire_around_the_run_as_for_built_in_backends(client):
    seen = []

    def on_started(sender, task_result, **kwargs):
        seen.append(("started", task_result.status, task_result.attempts))

    def on_finished(sender, task_result, **kwargs):
        seen.append(("finished", task_result.status, task_result.attempts))

    task_started.connect(on_started)
    task_finished.connect(on_finished)
    try:
        push(client, payload("record", "x"), token=mint(), retry_count=1)
    finally:
        task_started.disconnect(on_started)
        task_finished.disconnect(on_finished)

    assert seen == [("started", "RUNNING", 1), ("finished", "SUCCESSFUL", 1)]


# Payloads that can never run, over real HTTP and through run_task: test_bad_input.py.

ENQUEUED_AT = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def test_task_runs_with_the_options_it_was_enqueued_with(client, settings):
    settings.TASKS = {**settings.TASKS, "pushed": settings.TASKS["default"]}  # another backend that pushes
    run_after = datetime(2025, 1, 2, 9, 0, 0, 1, tzinfo=UTC)
    body = TaskPayload(
        f"{TASKS}.keep_result", "t-options", ["options"], {}, ENQUEUED_AT,
        backend="pushed", queue_name="long", priority=0, run_after=run_after,
    ).encode()

    response = push(client, body, token=mint())

    assert response.json()["status"] == "SUCCESSFUL"
    result = tasks.results["options"]
    assert (result.backend, result.task.backend, result.task.queue_name) == ("pushed", "pushed", "long")
    assert (result.task.priority, result.task.run_after, result.enqueued_at) == (0, run_after, ENQUEUED_AT)


def test_payload_of_version_1_runs_its_task_as_declared(client):
    # Queued by the previous version of the backend, before payloads said how a task
    # was enqueued: still runs after the upgrade.
    body = json.dumps({
        "version": 1, "id": "t-v1", "task": f"{TASKS}.keep_result", "args": ["v1"], "kwargs": {},
        "enqueued_at": ENQUEUED_AT.isoformat(),
    }).encode()

    response = push(client, body, token=mint())

    assert response.json()["status"] == "SUCCESSFUL"
    result = tasks.results["v1"]
    assert (result.backend, result.task.queue_name, result.task.priority, result.task.run_after) == (
        "default", "default", 0, None
    )
    assert result.enqueued_at == ENQUEUED_AT


@pytest.mark.parametrize("retry_count", ["abc", "-1", "１２", "99999999999999999999", "", "1.5"])
def test_a_malformed_retry_count_header_counts_as_the_first_attempt_and_the_task_runs(client, retry_count):
    response = client.post(
        reverse("cloudtasks:run"), payload("record", "counted"), content_type="application/json",
        headers={"Authorization": f"Bearer {mint()}", "X-CloudTasks-TaskRetryCount": retry_count},
    )

    assert (response.status_code, response.json()["outcome"]) == (200, "succeeded")
    assert tasks.calls == [("record", "counted")]


def test_discard_log_names_the_payload_id(client, caplog):
    with caplog.at_level(logging.ERROR, logger="cloudtasks"):
        push(client, payload("no_such_task", task_id="t-unknown"), token=mint())

    assert "t-unknown" in caplog.text


def test_declared_task_outside_a_tasks_module_is_refused_without_importing_it(client):
    body = payload("x", task_id="t-elsewhere").replace(
        b"tests.django.taskapp.tasks.x", b"tests.django.taskapp.elsewhere.declared_elsewhere"
    )

    response = push(client, body, token=mint())

    assert response.json()["status"] == "DISCARDED"
    assert "tests.django.taskapp.elsewhere" not in sys.modules


def test_arbitrary_module_path_is_never_imported(client):
    body = payload("x").replace(b"tests.django.taskapp.tasks.x", b"this.s")

    response = push(client, body, token=mint())

    assert response.json()["status"] == "DISCARDED"
    assert "this" not in sys.modules


def test_unavailable_signing_keys_answer_503_so_the_push_is_retried(client, settings):
    token = mint()
    settings.CLOUD_TASKS_AUTH = {
        "AUDIENCE": AUDIENCE,
        "INVOKER_EMAILS": [INVOKER],
        "JWKS_URL": f"http://127.0.0.1:{free_port()}/certs",
    }

    response = push(client, payload("record", "x"), token=token)

    assert response.status_code == 503
    assert tasks.calls == []


def test_health_endpoint_answers_200(client):
    assert client.get(reverse("healthz")).status_code == 200
