"""Local runs: the middleware that attaches the token the emulator cannot."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from cloudtasks import env
from tests.django.project_settings import load_settings
from tests.django.pushes import AUDIENCE, INVOKER, payload, push
from tests.django.taskapp import tasks

SIGN_EMULATOR_PUSHES = "cloudtasks.local_auth.SignEmulatorPushes"
EMULATOR_PUSH = {"X-CloudTasks-QueueName": "projects/p/locations/l/queues/q"}


@pytest.fixture(autouse=True)
def local_run(settings):
    settings.CLOUD_TASKS_AUTH = {"AUDIENCE": AUDIENCE, "INVOKER_EMAILS": [INVOKER], "LOCAL_SIGNER": True}
    settings.MIDDLEWARE = [SIGN_EMULATOR_PUSHES, *settings.MIDDLEWARE]
    tasks.forget()


def test_emulator_push_without_a_token_is_signed_and_runs(client, db):
    response = push(client, payload("record", "local"), token=None, headers=EMULATOR_PUSH)

    assert response.status_code == 200
    assert tasks.calls == [("record", "local")]


def test_request_that_is_not_an_emulator_push_still_needs_a_token(client):
    response = push(client, payload("record", "x"), token=None)

    assert response.status_code == 401
    assert tasks.calls == []


def test_emulator_push_from_another_machine_is_not_signed(client):
    client.defaults["REMOTE_ADDR"] = "203.0.113.5"

    response = push(client, payload("record", "x"), token=None, headers=EMULATOR_PUSH)

    assert response.status_code == 401
    assert tasks.calls == []


def test_token_a_push_brings_is_verified_not_replaced(client):
    response = push(client, payload("record", "x"), token="forged", headers=EMULATOR_PUSH)

    assert response.status_code == 401
    assert tasks.calls == []


def test_settings_of_a_local_run_sign_emulator_pushes_and_trust_only_the_local_signer():
    local = load_settings(**{env.EMULATOR_HOST: "127.0.0.1:8123"})

    assert local["CLOUD_TASKS_AUTH"]["LOCAL_SIGNER"] is True
    assert SIGN_EMULATOR_PUSHES in local["MIDDLEWARE"]


def test_settings_of_a_deployment_neither_sign_pushes_nor_trust_a_local_key():
    deployed = load_settings(**{env.EMULATOR_HOST: ""})

    assert deployed["CLOUD_TASKS_AUTH"]["LOCAL_SIGNER"] is False
    assert SIGN_EMULATOR_PUSHES not in deployed["MIDDLEWARE"]


@pytest.mark.parametrize("cloud_run_variable", ["K_SERVICE", "CLOUD_RUN_JOB"])
def test_settings_refuse_the_emulator_on_cloud_run(cloud_run_variable):
    with pytest.raises(ImproperlyConfigured, match=f"{env.EMULATOR_HOST} is set on Cloud Run"):
        load_settings(**{env.EMULATOR_HOST: "127.0.0.1:8123", cloud_run_variable: "djapp-web"})
