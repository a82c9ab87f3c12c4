"""A backend's OPTIONS, and the system checks that report an incomplete configuration
at start-up, naming the option to set where the user's settings give it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import checks
from django.tasks.exceptions import InvalidTaskBackend
from django.test import override_settings

from cloudtasks.auth import accepted
from cloudtasks.backend import CloudTasksBackend
from cloudtasks.checks import sqlite_warnings
from cloudtasks.config.options import HttpTarget, JobTarget, read_options
from cloudtasks.config.retry import read_retry
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


@pytest.mark.parametrize(
    ("options", "location", "message"),
    [
        pytest.param(
            without(HTTP, "QUEUE_PATH"), "['QUEUE_PATH']", "is not set",
            id="no queue",
        ),
        pytest.param(
            without(HTTP, "URL"), "['URL']", "is not set",
            id="no handler URL",
        ),
        pytest.param(
            without(JOB, "JOB_PATH"), "['JOB_PATH']", "is not set",
            id="no job",
        ),
        pytest.param(
            without(JOB, "SERVICE_ACCOUNT_EMAIL"), "['SERVICE_ACCOUNT_EMAIL']", "is not set",
            id="no service account",
        ),
        pytest.param(
            {**HTTP, "QUEUE_PATH": "default"}, "['QUEUE_PATH']",
            "must look like projects/P/locations/L/queues/Q",
            id="malformed queue path",
        ),
        pytest.param(
            {**without(HTTP, "QUEUE_PATH"), **QUEUE_PARTS, "QUEUE": "a/b"}, "['QUEUE']",
            "makes the queue path 'projects/example-project/locations/europe-west1/queues/a/b'",
            id="queue id with a slash",
        ),
        pytest.param(
            {**JOB, "JOB_PATH": "worker"}, "['JOB_PATH']",
            "must look like projects/P/locations/L/jobs/J",
            id="malformed job path",
        ),
        pytest.param(
            {**HTTP, "URL": "web.example.test/tasks/run/"}, "['URL']",
            "must be an http:// or https:// URL",
            id="URL that is not http(s)",
        ),
        pytest.param(
            {**HTTP, "EMULATOR_HOST": "10.0.0.8:8123"}, "['EMULATOR_HOST']",
            "is not a loopback address",
            id="emulator not on loopback",
        ),
        pytest.param(
            {**HTTP, "TARGET": "pubsub"}, "['TARGET']", "must be one of http, job",
            id="unknown target",
        ),
        pytest.param(
            {**HTTP, "JOB_PATH": JOB_PATH}, "['JOB_PATH']", "TARGET 'http' does not use it",
            id="option of the other target",
        ),
        pytest.param(
            {**HTTP, "QUEUE_PATHS": QUEUE}, "['QUEUE_PATHS']", "is not an option",
            id="misspelt option",
        ),
        pytest.param(
            {**HTTP, "PROJECT": "example-project"}, "['QUEUE_PATH']", "and so is PROJECT",
            id="queue given twice",
        ),
        pytest.param(
            {**without(HTTP, "QUEUE_PATH"), **QUEUE_PARTS, "LOCATION": ""}, "['LOCATION']",
            "is not set, but PROJECT, QUEUE is",
            id="part of the queue missing",
        ),
        pytest.param(
            {**HTTP, "SEND_BUDGET": "0.5"}, "['SEND_BUDGET']", "must be a number of seconds, over 0",
            id="send budget not a number",
        ),
        pytest.param(
            {**HTTP, "SEND_BUDGET": 0}, "['SEND_BUDGET']", "over 0",
            id="no send budget",
        ),
        pytest.param(
            {**HTTP, "ATTEMPT_TIMEOUT": 0}, "['ATTEMPT_TIMEOUT']", "over 0",
            id="no time for an attempt",
        ),
        pytest.param(
            {**HTTP, "DISPATCH_DEADLINE": 1801}, "['DISPATCH_DEADLINE']", "from 15 to 1800",
            id="dispatch deadline beyond Cloud Tasks' limit",
        ),
        pytest.param(
            {**HTTP, "LEASE": -1}, "['LEASE']", "must be a number of seconds, over 0",
            id="negative lease",
        ),
        pytest.param(
            {**HTTP, "RETENTION": timedelta(days=7)}, "['RETENTION']",
            "is datetime.timedelta(days=7); it must be a timedelta (or a number of seconds) of at least 31 days: "
            "Cloud Tasks may deliver a task until then",
            id="retention shorter than Cloud Tasks keeps a task",
        ),
        pytest.param(
            {**HTTP, "RETENTION": "90 days"}, "['RETENTION']",
            "is '90 days'; it must be a timedelta (or a number of seconds) of at least 31 days",
            id="retention as text",
        ),
        pytest.param(
            {**HTTP, "RETENTION": float("inf")}, "['RETENTION']", "is inf; it must be a timedelta",
            id="retention forever",
        ),
        pytest.param(
            {**JOB, "JOB_MAX_RETRIES": 11}, "['JOB_MAX_RETRIES']", "from 0 to 10, the job's max_retries",
            id="more job retries than Cloud Run allows",
        ),
        pytest.param(
            {**HTTP, "JOB_MAX_RETRIES": 3}, "['JOB_MAX_RETRIES']", "TARGET 'http' does not use it",
            id="job retries on an http target",
        ),
        pytest.param(
            {**JOB, "JOB_TIMEOUT": 168 * 3600 + 1}, "['JOB_TIMEOUT']",
            "at most 604800 (168 hours, Cloud Run's maximum), the job's task timeout",
            id="job timeout beyond Cloud Run's limit",
        ),
        pytest.param(
            {**JOB, "JOB_TIMEOUT": "600s"}, "['JOB_TIMEOUT']", "is '600s'; it must be a number of seconds over 0",
            id="job timeout as a duration string",
        ),
        pytest.param(
            {**HTTP, "JOB_TIMEOUT": 600}, "['JOB_TIMEOUT']", "TARGET 'http' does not use it",
            id="job timeout on an http target",
        ),
        pytest.param(
            {**JOB, "DISPATCH_DEADLINE": 600}, "['DISPATCH_DEADLINE']", "TARGET 'job' does not use it",
            id="dispatch deadline on a job target",
        ),
        # Several queues.
        pytest.param(
            with_queue("long", QUEUE_PATH=""), "['QUEUES']['long']['QUEUE_PATH']", "is not set",
            id="queue without its path",
        ),
        pytest.param(
            {**ROUTED, "QUEUE_PATH": QUEUE}, "['QUEUE_PATH']", "names one queue: give it in each queue of QUEUES",
            id="one queue path for every queue",
        ),
        pytest.param(
            {**ROUTED, "QUEUES": {}}, "['QUEUES']", "it must map each queue name to that queue's options",
            id="no queues",
        ),
        pytest.param(
            {**ROUTED, "QUEUES": ["default", "long"]}, "['QUEUES']", "it must map each queue name",
            id="queues as a list",
        ),
        pytest.param(
            {**ROUTED, "QUEUES": {"default": QUEUE}}, "['QUEUES']['default']", "it must be a dict of that queue's options",
            id="queue that is a path, not options",
        ),
        pytest.param(
            with_queue("long", SEND_BUDGET=2), "['QUEUES']['long']['SEND_BUDGET']",
            "is not an option of a queue",
            id="backend option given for a queue",
        ),
        pytest.param(
            with_queue("long", JOB_PATH="worker", TARGET="job"), "['QUEUES']['long']['JOB_PATH']",
            "must look like projects/P/locations/L/jobs/J",
            id="queue with a malformed job path",
        ),
        pytest.param(
            with_queue("long", RETRY=[3]), "['QUEUES']['long']['RETRY']", "must be a dict of the queue's RetryConfig",
            id="retry policy not a dict",
        ),
        pytest.param(
            with_queue("long", RETRY={"attempts": 3}), "['QUEUES']['long']['RETRY']['attempts']",
            "is not a retry setting; they are max_attempts",
            id="misspelt retry setting",
        ),
        pytest.param(
            with_queue("long", RETRY={"max_attempts": 0}), "['QUEUES']['long']['RETRY']['max_attempts']",
            "a whole number, 1 or more, or -1 for no limit",
            id="no attempts in the retry policy",
        ),
        pytest.param(
            with_queue("long", RETRY={"min_backoff": "10"}), "['QUEUES']['long']['RETRY']['min_backoff']",
            'it must be a duration in seconds like "600s"',
            id="backoff without its unit",
        ),
        pytest.param(
            with_queue("long", MAX_RUNNING=0), "['QUEUES']['long']['MAX_RUNNING']",
            "is 0; it must be a whole number, 1 or more (leave it out for no limit)",
            id="no execution may use the database",
        ),
        pytest.param(
            with_queue("long", MAX_RUNNING=2.5), "['QUEUES']['long']['MAX_RUNNING']", "must be a whole number",
            id="a fraction of an execution",
        ),
        pytest.param(
            with_queue("long", SLOT_WAIT=-1), "['QUEUES']['long']['SLOT_WAIT']",
            "is -1; it must be a number of seconds, 0 or more",
            id="negative wait for a slot",
        ),
        pytest.param(
            with_queue("long", RETRY={"min_backoff": "60s", "max_backoff": "30s"}),
            "['QUEUES']['long']['RETRY']['min_backoff']", "is longer than max_backoff ('30s')",
            id="backoff the wrong way round",
        ),
    ],
)
def test_incomplete_configuration_is_an_error_naming_the_option_in_the_users_settings(options, location, message):
    [error] = errors(options)

    assert error.id == "cloudtasks.E001"
    assert error.msg.startswith(f"TASKS['default']['OPTIONS']{location} ")
    assert message in error.msg
    # The settings are the user's: no word of where this repository's settings read them.
    assert "CLOUD_TASKS_" not in error.msg + str(error.hint) and "config/" not in error.msg + str(error.hint)


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


def auth_errors() -> list[checks.CheckMessage]:
    return [message for message in checks.run_checks() if message.id == "cloudtasks.E002"]


LONG_INVOKER = "long-invoker@example-project.iam.gserviceaccount.com"


@pytest.fixture
def two_http_queues(settings):
    options = with_queue("long", SERVICE_ACCOUNT_EMAIL=LONG_INVOKER)
    settings.TASKS = {"default": {"BACKEND": BACKEND, "OPTIONS": options}}
    del settings.CLOUD_TASKS_AUTH


def test_without_cloud_tasks_auth_the_handler_accepts_each_http_queues_invoker_and_audience(two_http_queues, db):
    derived = accepted.push_auth()

    assert derived.invoker_emails == {INVOKER, LONG_INVOKER}
    assert derived.audiences == {HANDLER_URL}
    assert auth_errors() == []


def test_job_queues_push_nothing_to_the_handler_so_it_accepts_none_of_their_identities(settings):
    settings.TASKS = {"jobs": {"BACKEND": BACKEND, "OPTIONS": JOB}}

    assert accepted.push_auth().invoker_emails == frozenset()


def test_cloud_tasks_auth_leaving_out_the_invoker_of_a_queue_is_an_error_naming_it(two_http_queues, settings, db):
    settings.CLOUD_TASKS_AUTH = {"INVOKER_EMAILS": [INVOKER]}

    [error] = auth_errors()

    assert error.msg == (
        f"CLOUD_TASKS_AUTH['INVOKER_EMAILS'] leaves out {LONG_INVOKER!r}, the SERVICE_ACCOUNT_EMAIL of queue 'long' "
        "of TASKS['default']: the push handler would refuse every task of that queue."
    )
    assert error.hint.startswith("Leave CLOUD_TASKS_AUTH out")


def test_cloud_tasks_auth_with_another_audience_than_the_queues_is_an_error(two_http_queues, settings, db):
    settings.CLOUD_TASKS_AUTH = {"AUDIENCE": "https://elsewhere.example.test/"}

    assert len(auth_errors()) == 2  # both queues' tokens would be refused


@pytest.mark.parametrize("given, message", [
    ({"AUDIENCES": ["https://web.example.test"]}, "CLOUD_TASKS_AUTH['AUDIENCES'] is not a key of it; they are"),
    ({"INVOKER_EMAILS": INVOKER}, "CLOUD_TASKS_AUTH['INVOKER_EMAILS'] is 'tasks-invoker@"),
], ids=["misspelt key", "one email, not a list"])
def test_malformed_cloud_tasks_auth_is_an_error_saying_what_is_allowed(two_http_queues, settings, db, given, message):
    settings.CLOUD_TASKS_AUTH = given

    [error] = auth_errors()

    assert error.msg.startswith(message)


def test_cloud_tasks_auth_that_agrees_with_the_queues_passes(two_http_queues, settings, db):
    settings.CLOUD_TASKS_AUTH = {"AUDIENCE": HANDLER_URL, "INVOKER_EMAILS": [INVOKER, LONG_INVOKER, "more@example.com"]}

    assert auth_errors() == []


def test_backends_signing_with_different_local_keys_are_an_error(settings, db, tmp_path):
    local = {"EMULATOR_HOST": "127.0.0.1:8123"}
    settings.TASKS = {
        "default": {"BACKEND": BACKEND, "OPTIONS": {**HTTP, **local, "LOCAL_SIGNING_KEY": tmp_path / "one.pem"}},
        "jobs": {"BACKEND": BACKEND, "OPTIONS": {**JOB, **local, "LOCAL_SIGNING_KEY": tmp_path / "two.pem"}},
    }

    [error] = auth_errors()

    assert "TASKS names several LOCAL_SIGNING_KEY files" in error.msg


def test_a_local_signing_key_without_the_emulator_is_refused():
    [error] = errors({**HTTP, "LOCAL_SIGNING_KEY": "/somewhere/key.pem"})

    assert error.msg == (
        "TASKS['default']['OPTIONS']['LOCAL_SIGNING_KEY'] is set without EMULATOR_HOST: a local signing key is "
        "for local runs against the emulator only."
    )


def test_settings_that_use_another_backend_check_cleanly_with_no_cloud_tasks_settings(settings, db):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend", "QUEUES": []}}
    del settings.CLOUD_TASKS_AUTH

    assert [message for message in checks.run_checks() if message.id.startswith("cloudtasks.E")] == []


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
