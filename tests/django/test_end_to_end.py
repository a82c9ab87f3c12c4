"""Enqueue through django.tasks, the emulator pushes over HTTP, the handler runs the task.

Configured by config.settings as for a local run (CLOUD_TASKS_EMULATOR_HOST set): the
emulator pushes without a token, the SignEmulatorPushes middleware attaches one from the
local signer, and the handler verifies it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.conf import settings as project_settings
from django.core import mail
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from cloudtasks import env
from tests.django.backend_settings import queues_variable
from tests.django.project_settings import load_settings
from tests.django.taskapp import tasks

WAIT_SECONDS = 15


@pytest.fixture(scope="module")
def web_server(tasks_emulator) -> Iterator[LiveServer]:
    """A live server with the middleware of a local run, shared by this module."""
    local = load_settings(**{env.EMULATOR_HOST: tasks_emulator.address})
    with override_settings(
        MIDDLEWARE=local["MIDDLEWARE"], ALLOWED_HOSTS=[*project_settings.ALLOWED_HOSTS, "127.0.0.1"]
    ):
        # Started inside the override, so that its request handler loads that middleware.
        server = LiveServer("127.0.0.1:0")
        yield server
        server.stop()


@pytest.fixture
def local_run(settings, web_server, tasks_emulator, tasks_queue, paused_tasks_queue, transactional_db) -> None:
    """Tasks and push authentication as the settings of a local run configure them."""
    local = load_settings(**{
        env.EMULATOR_HOST: tasks_emulator.address,
        env.QUEUES: queues_variable({"default": tasks_queue, "long": paused_tasks_queue}),
        env.HANDLER_URL: web_server.url + reverse("cloudtasks:run"),
    })
    settings.TASKS = local["TASKS"]
    settings.CLOUD_TASKS_AUTH = local["CLOUD_TASKS_AUTH"]
    tasks.forget()


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not done within {WAIT_SECONDS}s; tasks ran: {tasks.calls}")
        time.sleep(0.05)


def test_enqueued_task_runs_on_the_web_service(local_run):
    tasks.record.enqueue("now")

    wait_for(lambda: tasks.calls)
    assert tasks.calls == [("record", "now")]


def test_deferred_task_runs_no_earlier_than_its_run_after(local_run):
    run_after = timezone.now() + timedelta(seconds=1.5)

    tasks.record.using(run_after=run_after).enqueue("later")

    wait_for(lambda: "later" in tasks.ran_at)
    assert tasks.ran_at["later"] >= run_after


def test_task_that_fails_twice_succeeds_on_its_third_attempt(local_run):
    tasks.succeed_on_third_attempt.enqueue(key="flaky")

    wait_for(lambda: ("flaky", 3) in tasks.calls)
    assert tasks.calls == [("flaky", 1), ("flaky", 2), ("flaky", 3)]


def test_sign_up_sends_the_welcome_email(local_run, client):
    password = "f1rst-program!"
    response = client.post(
        reverse("accounts:signup"),
        {"username": "ada", "email": "ada@example.com", "password1": password, "password2": password},
    )

    assert response.status_code == 201
    wait_for(lambda: mail.outbox)
    [email] = mail.outbox
    assert email.to == ["ada@example.com"]
    assert "ada" in email.body
