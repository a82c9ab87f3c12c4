"""The sign-up view: it creates the user, and enqueues the welcome email only once committed.

Cloud Tasks is the fake that records CreateTask calls, so a test sees when one is made.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse

from cloudtasks.payload import decode
from tests.django.backend_settings import tasks_setting

PASSWORD = "f1rst-program!"
SIGN_UP = {"username": "ada", "email": "ada@example.com", "password1": PASSWORD, "password2": PASSWORD}


@pytest.fixture(autouse=True)
def recorded_enqueues(settings, fake_cloud_tasks, transactional_db):
    settings.TASKS = tasks_setting(
        "projects/example-project/locations/europe-west1/queues/default",
        emulator_host=fake_cloud_tasks.address,
    )
    return fake_cloud_tasks.requests


class RolledBack(Exception):
    pass


def test_sign_up_enqueues_the_welcome_email_for_the_new_user(client, recorded_enqueues):
    response = client.post(reverse("accounts:signup"), SIGN_UP)

    [request] = recorded_enqueues
    sent = decode(request.task.http_request.body)
    assert (sent.task_path, sent.args) == ("accounts.tasks.send_welcome_email", [response.json()["id"]])


def test_welcome_email_is_enqueued_only_when_the_user_is_committed(client, recorded_enqueues):
    with transaction.atomic():  # as if the request ran inside a caller's transaction
        client.post(reverse("accounts:signup"), SIGN_UP)
        assert recorded_enqueues == []

    assert len(recorded_enqueues) == 1


def test_rolled_back_sign_up_enqueues_nothing(client, recorded_enqueues):
    with pytest.raises(RolledBack), transaction.atomic():
        client.post(reverse("accounts:signup"), SIGN_UP)
        raise RolledBack

    assert recorded_enqueues == []
    assert not User.objects.exists()


def test_invalid_sign_up_is_refused_with_the_form_errors(client, recorded_enqueues):
    response = client.post(reverse("accounts:signup"), {**SIGN_UP, "password2": "different"})

    assert response.status_code == 400
    assert "password2" in response.json()["errors"]
    assert recorded_enqueues == []
    assert not User.objects.exists()
