"""A backend's OPTIONS, and the system checks that report an incomplete configuration
at start-up, naming the option to set and the environment variable it comes from."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import checks
from django.tasks.exceptions import InvalidTaskBackend
from django.test import override_settings

from cloudtasks.backend import CloudTasksBackend
from cloudtasks.checks import sqlite_warnings
from cloudtasks.options import HttpTarget, JobTarget, read_options
from cloudtasks.retry import read_retry
from tests.django import enqueued_tasks
from tests.django.backend_settings import BACKEND, HANDLER_URL, INVOKER, JOB_PATH

LOCATION = "projects/example-project/locations/europe-west1"
QUEUE = f"{LOCATION}/queues/default"
LONG_QUEUE = f"{LOCATION}/queues/long"
# One queue, "default", as a single-queue backend is configured: options at the top level.
HTTP = {"QUEUE_PATH": QUEUE, "URL": HANDLER_URL, "SERVICE_ACCOUNT_EMAIL": INVOKER}
JOB = {"QUEUE_PATH": QUEUE, "TARGET": "job", "JOB_PATH": JOB_PATH, "SERVICE_ACCOUNT_EMAIL": INVOKER}
QUEUE_PARTS = {"PROJECT": "example-project", "LOCATION": "europe-west1", "QUEUE": "default"}
# Several queues, as the project's settings configure them.
ROUTED = {
    "URL": HANDLER_URL,
    "SERVICE_ACCOUNT_EMAIL": INVOKER,
    "QUEUES": {"default": {"QUEUE_PATH": QUEUE}, "long": {"QUEUE_PATH": LONG_QUEUE}},
}


def errors(options: dict, **params: object) -> list[checks.CheckMessage]:
    return CloudTasksBackend("default", {"OPTIONS": options, **params}).check()


def without(options: dict, option: str) -> dict:
    return {**options, option: ""}  # as settings pass an environment variable that is not set


def with_queue(name: str, **options: object) -> dict:
    """ROUTED, with these options for queue `name`."""
    return {**ROUTED, "QUEUES": {**ROUTED["QUEUES"], name: {**ROUTED["QUEUES"].get(name, {}), **options}}}


@pytest.mark.parametrize("options", [HTTP, JOB, ROUTED], ids=["http", "job", "several queues"])
def test_complete_configuration_passes(options):
    assert errors(options) == []


def test_without_queues_the_top_level_options_route_the_default_queue():
    options = read_options(HTTP)

    assert list(options.queues) == ["default"]
    assert options.queues["default"].queue_path == QUEUE


def test_each_queue_name_is_routed_to_its_own_cloud_tasks_queue():
    routes = read_options(ROUTED).queues

    assert {name: route.queue_path for name, route in routes.items()} == {"default": QUEUE, "long": LONG_QUEUE}


def test_a_queue_may_have_its_own_target():
    long = {"QUEUE_PATH": LONG_QUEUE, "TARGET": "job", "JOB_PATH": JOB_PATH}

    routes = read_options({**ROUTED, "QUEUES": {**ROUTED["QUEUES"], "long": long}}).queues

    assert routes["default"].target == HttpTarget(url=HANDLER_URL, audience=HANDLER_URL, service_account_email=INVOKER)
    assert routes["long"].target == JobTarget(job_path=JOB_PATH, service_account_email=INVOKER)


def test_queue_options_at_the_top_level_apply_to_queues_that_do_not_give_their_own():
    other = "other-invoker@example-project.iam.gserviceaccount.com"

    routes = read_options(with_queue("long", SERVICE_ACCOUNT_EMAIL=other)).queues

    assert routes["default"].target.service_account_email == INVOKER
    assert routes["long"].target.service_account_email == other


def test_queue_without_a_retry_policy_has_cloud_tasks_defaults():
    assert read_options(ROUTED).queues["default"].retry == read_retry({})


def test_each_queue_has_its_retry_policy():
    routes = read_options(with_queue("long", RETRY={"max_attempts": 3, "min_backoff": "60s"})).queues

    assert (routes["long"].retry.max_attempts, routes["long"].retry.min_backoff) == (3, timedelta(seconds=60))
    assert routes["default"].retry.max_attempts == 100


def test_a_queue_without_max_running_has_no_limit_on_its_executions():
    route = read_options(ROUTED).queues["default"]

    assert (route.max_running, route.slot_wait) == (None, 60)


def test_each_queue_has_its_own_slots_and_wait():
    routes = read_options(with_queue("long", MAX_RUNNING=2, SLOT_WAIT=600)).queues

    assert (routes["long"].max_running, routes["long"].slot_wait) == (2, 600)
    assert routes["default"].max_running is None


def test_backend_accepts_exactly_the_queues_it_routes():
    assert CloudTasksBackend("default", {"OPTIONS": ROUTED}).queues == {"default", "long"}
    assert CloudTasksBackend("default", {"OPTIONS": HTTP}).queues == {"default"}


def test_queue_names_are_known_even_when_a_queue_is_incomplete():
    # Tasks are checked against them where they are declared, before settings are complete.
    options = with_queue("long", QUEUE_PATH="")

    assert CloudTasksBackend("default", {"OPTIONS": options}).queues == {"default", "long"}


def test_queue_may_be_given_as_project_location_and_queue():
    options = {**without(HTTP, "QUEUE_PATH"), **QUEUE_PARTS}

    assert read_options(options).queues["default"].queue_path == QUEUE


def test_token_audience_defaults_to_the_handler_url():
    assert read_options(HTTP).queues["default"].target == HttpTarget(
        url=HANDLER_URL, audience=HANDLER_URL, service_account_email=INVOKER
    )


def test_finished_records_are_kept_31_days_unless_told():
    assert read_options(HTTP).retention == timedelta(days=31)
    assert read_options({**HTTP, "RETENTION": timedelta(days=90)}).retention == timedelta(days=90)
    assert read_options({**HTTP, "RETENTION": 40 * 86400}).retention == timedelta(days=40)  # seconds


def test_http_tasks_get_cloud_tasks_default_dispatch_deadline_unless_told():
    assert read_options(HTTP).queues["default"].target.dispatch_deadline == 600
    assert read_options({**HTTP, "DISPATCH_DEADLINE": 60}).queues["default"].target.dispatch_deadline == 60


def test_job_tasks_are_taken_to_run_up_to_cloud_runs_longest_task_timeout_unless_told():
    # 168 hours: https://cloud.google.com/run/docs/configuring/task-timeout
    assert read_options(JOB).queues["default"].target.timeout == 168 * 3600
    assert read_options({**JOB, "JOB_TIMEOUT": 180}).queues["default"].target.timeout == 180


QUEUES_VARIABLE = "CLOUD_TASKS_QUEUES"
RETRY_SOURCE = f"the 'retry' of queue 'long' in the {QUEUES_VARIABLE} environment variable"


@pytest.mark.parametrize(
    ("options", "location", "message", "source"),
    [
        pytest.param(
            without(HTTP, "QUEUE_PATH"), "['QUEUE_PATH']", "is not set", None,
            id="no queue",
        ),
        pytest.param(
            without(HTTP, "URL"), "['URL']", "is not set", "the CLOUD_TASKS_HANDLER_URL environment variable",
            id="no handler URL",
        ),
        pytest.param(
            without(JOB, "JOB_PATH"), "['JOB_PATH']", "is not set", None,
            id="no job",
        ),
        pytest.param(
            without(JOB, "SERVICE_ACCOUNT_EMAIL"), "['SERVICE_ACCOUNT_EMAIL']", "is not set", None,
            id="no service account",
        ),
        pytest.param(
            {**HTTP, "QUEUE_PATH": "default"}, "['QUEUE_PATH']",
            "must look like projects/P/locations/L/queues/Q", None,
            id="malformed queue path",
        ),
        pytest.param(
            {**without(HTTP, "QUEUE_PATH"), **QUEUE_PARTS, "QUEUE": "a/b"}, "['QUEUE']",
            "makes the queue path 'projects/example-project/locations/europe-west1/queues/a/b'", None,
            id="queue id with a slash",
        ),
        pytest.param(
            {**JOB, "JOB_PATH": "worker"}, "['JOB_PATH']",
            "must look like projects/P/locations/L/jobs/J", None,
            id="malformed job path",
        ),
        pytest.param(
            {**HTTP, "URL": "web.example.test/tasks/run/"}, "['URL']",
            "must be an http:// or https:// URL", "the CLOUD_TASKS_HANDLER_URL environment variable",
            id="URL that is not http(s)",
        ),
        pytest.param(
            {**HTTP, "EMULATOR_HOST": "10.0.0.8:8123"}, "['EMULATOR_HOST']",
            "is not a loopback address", "the CLOUD_TASKS_EMULATOR_HOST environment variable",
            id="emulator not on loopback",
        ),
        pytest.param(
            {**HTTP, "TARGET": "pubsub"}, "['TARGET']", "must be one of http, job", None,
            id="unknown target",
        ),
        pytest.param(
            {**HTTP, "JOB_PATH": JOB_PATH}, "['JOB_PATH']", "TARGET 'http' does not use it", None,
            id="option of the other target",
        ),
        pytest.param(
            {**HTTP, "QUEUE_PATHS": QUEUE}, "['QUEUE_PATHS']", "is not an option", None,
            id="misspelt option",
        ),
        pytest.param(
            {**HTTP, "PROJECT": "example-project"}, "['QUEUE_PATH']", "and so is PROJECT", None,
            id="queue given twice",
        ),
        pytest.param(
            {**without(HTTP, "QUEUE_PATH"), **QUEUE_PARTS, "LOCATION": ""}, "['LOCATION']",
            "is not set, but PROJECT, QUEUE is", None,
            id="part of the queue missing",
        ),
        pytest.param(
            {**HTTP, "SEND_BUDGET": "0.5"}, "['SEND_BUDGET']", "must be a number of seconds, over 0", None,
            id="send budget not a number",
        ),
        pytest.param(
            {**HTTP, "SEND_BUDGET": 0}, "['SEND_BUDGET']", "over 0", None,
            id="no send budget",
        ),
        pytest.param(
            {**HTTP, "ATTEMPT_TIMEOUT": 0}, "['ATTEMPT_TIMEOUT']", "over 0", None,
            id="no time for an attempt",
        ),
        pytest.param(
            {**HTTP, "DISPATCH_DEADLINE": 1801}, "['DISPATCH_DEADLINE']", "from 15 to 1800", None,
            id="dispatch deadline beyond Cloud Tasks' limit",
        ),
        pytest.param(
            {**HTTP, "LEASE": -1}, "['LEASE']", "must be a number of seconds, over 0", None,
            id="negative lease",
        ),
        pytest.param(
            {**HTTP, "RETENTION": timedelta(days=7)}, "['RETENTION']",
            "is datetime.timedelta(days=7); it must be a timedelta (or a number of seconds) of at least 31 days: "
            "Cloud Tasks may deliver a task until then", None,
            id="retention shorter than Cloud Tasks keeps a task",
        ),
        pytest.param(
            {**HTTP, "RETENTION": "90 days"}, "['RETENTION']",
            "is '90 days'; it must be a timedelta (or a number of seconds) of at least 31 days", None,
            id="retention as text",
        ),
        pytest.param(
            {**HTTP, "RETENTION": float("inf")}, "['RETENTION']", "is inf; it must be a timedelta", None,
            id="retention forever",
        ),
        pytest.param(
            {**JOB, "JOB_MAX_RETRIES": 11}, "['JOB_MAX_RETRIES']", "from 0 to 10, the job's max_retries", None,
            id="more job retries than Cloud Run allows",
        ),
        pytest.param(
            {**HTTP, "JOB_MAX_RETRIES": 3}, "['JOB_MAX_RETRIES']", "TARGET 'http' does not use it", None,
            id="job retries on an http target",
        ),
        pytest.param(
            {**JOB, "JOB_TIMEOUT": 168 * 3600 + 1}, "['JOB_TIMEOUT']",
            "at most 604800 (168 hours, Cloud Run's maximum), the job's task timeout", None,
            id="job timeout beyond Cloud Run's limit",
        ),
        pytest.param(
            {**JOB, "JOB_TIMEOUT": "600s"}, "['JOB_TIMEOUT']", "is '600s'; it must be a number of seconds over 0", None,
            id="job timeout as a duration string",
        ),
        pytest.param(
            {**HTTP, "JOB_TIMEOUT": 600}, "['JOB_TIMEOUT']", "TARGET 'http' does not use it", None,
            id="job timeout on an http target",
        ),
        pytest.param(
            {**JOB, "DISPATCH_DEADLINE": 600}, "['DISPATCH_DEADLINE']", "TARGET 'job' does not use it", None,
            id="dispatch deadline on a job target",
        ),
        # Several queues.
        pytest.param(
            with_queue("long", QUEUE_PATH=""), "['QUEUES']['long']['QUEUE_PATH']", "is not set",
            f"the 'queue_path' of queue 'long' in the {QUEUES_VARIABLE} environment variable",
            id="queue without its path",
        ),
        pytest.param(
            {**ROUTED, "QUEUE_PATH": QUEUE}, "['QUEUE_PATH']", "names one queue: give it in each queue of QUEUES",
            None,
            id="one queue path for every queue",
        ),
        pytest.param(
            {**ROUTED, "QUEUES": {}}, "['QUEUES']", "it must map each queue name to that queue's options", None,
            id="no queues",
        ),
        pytest.param(
            {**ROUTED, "QUEUES": ["default", "long"]}, "['QUEUES']", "it must map each queue name", None,
            id="queues as a list",
        ),
        pytest.param(
            {**ROUTED, "QUEUES": {"default": QUEUE}}, "['QUEUES']['default']", "it must be a dict of that queue's options",
            None,
            id="queue that is a path, not options",
        ),
        pytest.param(
            with_queue("long", SEND_BUDGET=2), "['QUEUES']['long']['SEND_BUDGET']",
            "is not an option of a queue", None,
            id="backend option given for a queue",
        ),
        pytest.param(
            with_queue("long", JOB_PATH="worker", TARGET="job"), "['QUEUES']['long']['JOB_PATH']",
            "must look like projects/P/locations/L/jobs/J",
            f"the 'job_path' of queue 'long' in the {QUEUES_VARIABLE} environment variable",
            id="queue with a malformed job path",
        ),
        pytest.param(
            with_queue("long", RETRY=[3]), "['QUEUES']['long']['RETRY']", "must be a dict of the queue's RetryConfig",
            RETRY_SOURCE,
            id="retry policy not a dict",
        ),
        pytest.param(
            with_queue("long", RETRY={"attempts": 3}), "['QUEUES']['long']['RETRY']['attempts']",
            "is not a retry setting; they are max_attempts", RETRY_SOURCE,
            id="misspelt retry setting",
        ),
        pytest.param(
            with_queue("long", RETRY={"max_attempts": 0}), "['QUEUES']['long']['RETRY']['max_attempts']",
            "a whole number, 1 or more, or -1 for no limit", RETRY_SOURCE,
            id="no attempts in the retry policy",
        ),
        pytest.param(
            with_queue("long", RETRY={"min_backoff": "10"}), "['QUEUES']['long']['RETRY']['min_backoff']",
            'it must be a duration in seconds like "600s"', RETRY_SOURCE,
            id="backoff without its unit",
        ),
        pytest.param(
            with_queue("long", MAX_RUNNING=0), "['QUEUES']['long']['MAX_RUNNING']",
            "is 0; it must be a whole number, 1 or more (leave it out for no limit)",
            f"the 'max_running' of queue 'long' in the {QUEUES_VARIABLE} environment variable",
            id="no execution may use the database",
        ),
        pytest.param(
            with_queue("long", MAX_RUNNING=2.5), "['QUEUES']['long']['MAX_RUNNING']", "must be a whole number",
            f"the 'max_running' of queue 'long' in the {QUEUES_VARIABLE} environment variable",
            id="a fraction of an execution",
        ),
        pytest.param(
            with_queue("long", SLOT_WAIT=-1), "['QUEUES']['long']['SLOT_WAIT']",
            "is -1; it must be a number of seconds, 0 or more",
            f"the 'slot_wait' of queue 'long' in the {QUEUES_VARIABLE} environment variable",
            id="negative wait for a slot",
        ),
        pytest.param(
            with_queue("long", RETRY={"min_backoff": "60s", "max_backoff": "30s"}),
            "['QUEUES']['long']['RETRY']['min_backoff']", "is longer than max_backoff ('30s')", RETRY_SOURCE,
            id="backoff the wrong way round",
        ),
    ],
)
def test_incomplete_configuration_is_an_error_naming_option_and_source(options, location, message, source):
    [error] = errors(options)

    assert error.id == "cloudtasks.E001"
    assert error.msg.startswith(f"TASKS['default']['OPTIONS']{location} ")
    assert message in error.msg
    assert error.hint == (f"The settings read it from {source}." if source else None)


def test_every_problem_is_reported_at_once():
    assert len(errors({"TARGET": "job"})) == 3  # no queue, no job, no service account


def test_djangos_queues_setting_must_name_the_queues_options_route():
    [error] = errors(ROUTED, QUEUES=["default"])

    assert error.id == "cloudtasks.E003"
    assert error.msg == "TASKS['default']['QUEUES'] is ['default'], but OPTIONS['QUEUES'] routes default, long."


def test_djangos_queues_setting_naming_the_routed_queues_passes():
    assert errors(ROUTED, QUEUES=["long", "default"]) == []


def test_manage_py_check_reports_each_backend_in_tasks(settings, db):
    settings.TASKS = {
        "default": {"BACKEND": BACKEND, "OPTIONS": HTTP},
        "jobs": {"BACKEND": BACKEND, "OPTIONS": without(JOB, "JOB_PATH")},
    }

    messages = [message.msg for message in checks.run_checks() if message.id == "cloudtasks.E001"]

    assert len(messages) == 1
    assert messages[0].startswith("TASKS['jobs']['OPTIONS']['JOB_PATH'] is not set")


def test_manage_py_check_reports_a_task_declared_for_a_queue_no_backend_routes(settings, db):
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "tests.django.misdeclared"]):
        [error] = [message for message in checks.run_checks() if message.id == "cloudtasks.E004"]

    assert error.msg.startswith(
        "tests.django.misdeclared.tasks declares a task TASKS cannot run: Queue 'reports' is not valid for backend"
    )


def test_manage_py_check_reports_the_cloudtasks_app_missing_from_installed_apps(settings, db):
    settings.TASKS = {"default": {"BACKEND": BACKEND, "OPTIONS": HTTP}}
    with override_settings(INSTALLED_APPS=[app for app in settings.INSTALLED_APPS if app != "cloudtasks"]):
        [error] = [message for message in checks.run_checks() if message.id == "cloudtasks.E005"]

    assert error.msg.startswith("TASKS['default'] uses CloudTasksBackend, but 'cloudtasks' is not in INSTALLED_APPS")
    assert error.hint == "Add 'cloudtasks' to INSTALLED_APPS, then run `manage.py migrate`."


def test_enqueue_on_an_incomplete_backend_is_refused_naming_what_is_missing(
    settings, fake_cloud_tasks
):
    options = {**without(HTTP, "QUEUE_PATH"), "EMULATOR_HOST": fake_cloud_tasks.address}
    settings.TASKS = {"default": {"BACKEND": BACKEND, "OPTIONS": options}}

    refused = r"'default' is not configured: \['QUEUE_PATH'\] is not set"
    with pytest.raises(InvalidTaskBackend, match=refused):
        enqueued_tasks.greet.enqueue("Ada")

    assert fake_cloud_tasks.requests == []


@pytest.mark.parametrize("option, source", [
    ("AUDIENCE", "CLOUD_TASKS_OIDC_AUDIENCE"),
    ("INVOKER_EMAILS", "'invoker_email' of each queue in the CLOUD_TASKS_QUEUES"),
])
def test_push_handler_without_audience_or_invokers_is_an_error_at_start_up(settings, db, option, source):
    settings.CLOUD_TASKS_AUTH = {
        "AUDIENCE": "https://web.example.test", "INVOKER_EMAILS": [INVOKER],
        option: "",
    }

    (error,) = [message for message in checks.run_checks() if message.id == "cloudtasks.E002"]

    assert f"CLOUD_TASKS_AUTH[{option!r}] is empty" in error.msg
    assert source in error.hint


def test_complete_push_handler_settings_pass_the_check(settings, db):
    settings.CLOUD_TASKS_AUTH = {"AUDIENCE": "https://web.example.test", "INVOKER_EMAILS": [INVOKER]}

    assert not [message for message in checks.run_checks() if message.id == "cloudtasks.E002"]


SQLITE = {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}


def test_sqlite_without_immediate_transactions_is_warned_about():
    [warning] = sqlite_warnings(SQLITE)

    assert warning.id == "cloudtasks.W001"
    assert "'database is locked'" in warning.msg


@pytest.mark.parametrize("database", [
    {**SQLITE, "OPTIONS": {"transaction_mode": "IMMEDIATE"}},
    {"ENGINE": "django.db.backends.postgresql", "NAME": "app"},
], ids=["sqlite, immediate", "postgresql"])
def test_databases_that_serialise_claims_pass(database):
    assert sqlite_warnings(database) == []
