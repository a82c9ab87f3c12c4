"""A backend's OPTIONS, and the system checks that report an incomplete configuration
at start-up, naming the option to set and the environment variable it comes from."""

from __future__ import annotations

import pytest
from django.core import checks
from django.tasks.exceptions import InvalidTaskBackend

from cloudtasks.backend import CloudTasksBackend
from cloudtasks.options import HttpTarget, read_options
from tests.django import enqueued_tasks
from tests.django.backend_settings import BACKEND, HANDLER_URL, INVOKER, JOB_PATH

QUEUE = "projects/example-project/locations/europe-west1/queues/default"
HTTP = {"QUEUE_PATH": QUEUE, "URL": HANDLER_URL, "SERVICE_ACCOUNT_EMAIL": INVOKER}
JOB = {"QUEUE_PATH": QUEUE, "TARGET": "job", "JOB_PATH": JOB_PATH, "SERVICE_ACCOUNT_EMAIL": INVOKER}
QUEUE_PARTS = {"PROJECT": "example-project", "LOCATION": "europe-west1", "QUEUE": "default"}


def errors(options: dict) -> list[checks.CheckMessage]:
    return CloudTasksBackend("default", {"OPTIONS": options}).check()


def without(options: dict, option: str) -> dict:
    return {**options, option: ""}  # as settings pass an environment variable that is not set


@pytest.mark.parametrize("options", [HTTP, JOB], ids=["http", "job"])
def test_complete_configuration_passes(options):
    assert errors(options) == []


def test_queue_may_be_given_as_project_location_and_queue():
    options = {**without(HTTP, "QUEUE_PATH"), **QUEUE_PARTS}

    assert read_options(options).queue_path == QUEUE


def test_token_audience_defaults_to_the_handler_url():
    assert read_options(HTTP).target == HttpTarget(
        url=HANDLER_URL, audience=HANDLER_URL, service_account_email=INVOKER
    )


def test_http_tasks_get_cloud_tasks_default_dispatch_deadline_unless_told():
    assert read_options(HTTP).target.dispatch_deadline == 600
    assert read_options({**HTTP, "DISPATCH_DEADLINE": 60}).target.dispatch_deadline == 60


@pytest.mark.parametrize(
    ("options", "option", "message", "variable"),
    [
        pytest.param(
            without(HTTP, "QUEUE_PATH"), "QUEUE_PATH", "is not set", "CLOUD_TASKS_QUEUE_PATH",
            id="no queue",
        ),
        pytest.param(
            without(HTTP, "URL"), "URL", "is not set", "CLOUD_TASKS_HANDLER_URL",
            id="no handler URL",
        ),
        pytest.param(
            without(JOB, "JOB_PATH"), "JOB_PATH", "is not set", "CLOUD_RUN_JOB_PATH",
            id="no job",
        ),
        pytest.param(
            without(JOB, "SERVICE_ACCOUNT_EMAIL"), "SERVICE_ACCOUNT_EMAIL", "is not set",
            "CLOUD_TASKS_INVOKER_EMAIL",
            id="no service account",
        ),
        pytest.param(
            {**HTTP, "QUEUE_PATH": "default"}, "QUEUE_PATH",
            "must look like projects/P/locations/L/queues/Q", "CLOUD_TASKS_QUEUE_PATH",
            id="malformed queue path",
        ),
        pytest.param(
            {**without(HTTP, "QUEUE_PATH"), **QUEUE_PARTS, "QUEUE": "a/b"}, "QUEUE",
            "makes the queue path 'projects/example-project/locations/europe-west1/queues/a/b'",
            None,
            id="queue id with a slash",
        ),
        pytest.param(
            {**JOB, "JOB_PATH": "worker"}, "JOB_PATH",
            "must look like projects/P/locations/L/jobs/J", "CLOUD_RUN_JOB_PATH",
            id="malformed job path",
        ),
        pytest.param(
            {**HTTP, "URL": "web.example.test/tasks/run/"}, "URL",
            "must be an http:// or https:// URL", "CLOUD_TASKS_HANDLER_URL",
            id="URL that is not http(s)",
        ),
        pytest.param(
            {**HTTP, "EMULATOR_HOST": "10.0.0.8:8123"}, "EMULATOR_HOST",
            "is not a loopback address", "CLOUD_TASKS_EMULATOR_HOST",
            id="emulator not on loopback",
        ),
        pytest.param(
            {**HTTP, "TARGET": "pubsub"}, "TARGET", "must be one of http, job", None,
            id="unknown target",
        ),
        pytest.param(
            {**HTTP, "JOB_PATH": JOB_PATH}, "JOB_PATH", "TARGET 'http' does not use it",
            "CLOUD_RUN_JOB_PATH",
            id="option of the other target",
        ),
        pytest.param(
            {**HTTP, "QUEUE_PATHS": QUEUE}, "QUEUE_PATHS", "is not an option", None,
            id="misspelt option",
        ),
        pytest.param(
            {**HTTP, "PROJECT": "example-project"}, "QUEUE_PATH", "and so is PROJECT",
            "CLOUD_TASKS_QUEUE_PATH",
            id="queue given twice",
        ),
        pytest.param(
            {**without(HTTP, "QUEUE_PATH"), **QUEUE_PARTS, "LOCATION": ""}, "LOCATION",
            "is not set, but PROJECT, QUEUE is", None,
            id="part of the queue missing",
        ),
        pytest.param(
            {**HTTP, "ENQUEUE_ATTEMPTS": 2.5}, "ENQUEUE_ATTEMPTS", "must be a whole number", None,
            id="attempts not a whole number",
        ),
        pytest.param(
            {**HTTP, "ENQUEUE_ATTEMPTS": 0}, "ENQUEUE_ATTEMPTS", "1 or more", None,
            id="no attempts",
        ),
        pytest.param(
            {**HTTP, "ATTEMPT_TIMEOUT": 0}, "ATTEMPT_TIMEOUT", "over 0", None,
            id="no time for an attempt",
        ),
        pytest.param(
            {**HTTP, "DISPATCH_DEADLINE": 1801}, "DISPATCH_DEADLINE", "from 15 to 1800", None,
            id="dispatch deadline beyond Cloud Tasks' limit",
        ),
        pytest.param(
            {**JOB, "DISPATCH_DEADLINE": 600}, "DISPATCH_DEADLINE", "TARGET 'job' does not use it", None,
            id="dispatch deadline on a job target",
        ),
    ],
)
def test_incomplete_configuration_is_an_error_naming_option_and_variable(
    options, option, message, variable
):
    [error] = errors(options)

    assert error.id == "cloudtasks.E001"
    assert error.msg.startswith(f"TASKS['default']['OPTIONS']['{option}'] ")
    assert message in error.msg
    expected_hint = f"The settings read it from the {variable} environment variable."
    assert error.hint == (expected_hint if variable else None)


def test_every_problem_is_reported_at_once():
    assert len(errors({"TARGET": "job"})) == 3  # no queue, no job, no service account


def test_manage_py_check_reports_each_backend_in_tasks(settings):
    settings.TASKS = {
        "default": {"BACKEND": BACKEND, "OPTIONS": HTTP},
        "jobs": {"BACKEND": BACKEND, "OPTIONS": without(JOB, "JOB_PATH")},
    }

    messages = [message.msg for message in checks.run_checks() if message.id == "cloudtasks.E001"]

    assert len(messages) == 1
    assert messages[0].startswith("TASKS['jobs']['OPTIONS']['JOB_PATH'] is not set")


def test_enqueue_on_an_incomplete_backend_is_refused_naming_what_is_missing(
    settings, fake_cloud_tasks
):
    options = {**without(HTTP, "QUEUE_PATH"), "EMULATOR_HOST": fake_cloud_tasks.address}
    settings.TASKS = {"default": {"BACKEND": BACKEND, "OPTIONS": options}}

    refused = "'default' is not configured: QUEUE_PATH is not set"
    with pytest.raises(InvalidTaskBackend, match=refused):
        enqueued_tasks.greet.enqueue("Ada")

    assert fake_cloud_tasks.requests == []


@pytest.mark.parametrize("option, variable", [
    ("AUDIENCE", "CLOUD_TASKS_OIDC_AUDIENCE"),
    ("INVOKER_EMAIL", "CLOUD_TASKS_INVOKER_EMAIL"),
])
def test_push_handler_without_audience_or_invoker_is_an_error_at_start_up(settings, option, variable):
    settings.CLOUD_TASKS_AUTH = {
        "AUDIENCE": "https://web.example.test", "INVOKER_EMAIL": "invoker@example-project.iam.gserviceaccount.com",
        option: "",
    }

    (error,) = [message for message in checks.run_checks() if message.id == "cloudtasks.E002"]

    assert f"CLOUD_TASKS_AUTH[{option!r}] is empty" in error.msg
    assert variable in error.hint


def test_complete_push_handler_settings_pass_the_check(settings):
    settings.CLOUD_TASKS_AUTH = {
        "AUDIENCE": "https://web.example.test", "INVOKER_EMAIL": "invoker@example-project.iam.gserviceaccount.com",
    }

    assert not [message for message in checks.run_checks() if message.id == "cloudtasks.E002"]
