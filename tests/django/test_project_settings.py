"""config.settings: everything deployment-specific comes from environment variables."""

from __future__ import annotations

import importlib.util
import re
import runpy
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from cloudtasks import queue_env
from cloudtasks.auth import accepted
from cloudtasks.backend import CloudTasksBackend
from cloudtasks.config import env
from cloudtasks.config.options import read_options
from tests.django.backend_settings import HANDLER_URL, invoker, job_path, queues_variable

SETTINGS_FILE = importlib.util.find_spec("config.settings").origin
LOCATION = "projects/example-project/locations/europe-west1"
QUEUE_PATHS = {"default": f"{LOCATION}/queues/djapp-default", "long": f"{LOCATION}/queues/djapp-long"}

# The variable the settings read each top-level option from (their comments say so too).
OPTION_SOURCES = {"URL": env.HANDLER_URL, "AUDIENCE": env.OIDC_AUDIENCE, "EMULATOR_HOST": env.EMULATOR_HOST}
READ_BY_SETTINGS = [
    env.QUEUES, env.HANDLER_URL, env.OIDC_AUDIENCE,
    env.EMULATOR_HOST, env.LOCAL_KEY_FILE, env.SECRET_KEY, env.DEBUG, env.ALLOWED_HOSTS, env.DATABASE_URL,
    env.EMAIL_URL, env.DEFAULT_FROM_EMAIL, env.LOG_FORMAT, env.PROJECT,
]
PRODUCTION = {
    env.SECRET_KEY: "not-a-secret", env.EMAIL_URL: "smtp+starttls://mailer:p%40ss@smtp.example.test",
    env.DEFAULT_FROM_EMAIL: "noreply@example.test",
}


@pytest.fixture
def environ(monkeypatch):
    """Settings loaded from exactly the variables given (plus what production requires)."""

    def load(**variables: str) -> dict[str, Any]:
        for name in READ_BY_SETTINGS:
            monkeypatch.delenv(name, raising=False)
        for name, value in {**PRODUCTION, **variables}.items():
            monkeypatch.setenv(name, value)
        # Run as a file: a fresh copy, leaving the settings of this test run alone.
        return runpy.run_path(SETTINGS_FILE)

    return load


def accepted_by_the_handler(settings: dict[str, Any]) -> accepted.PushAuth:
    """What the push handler accepts under `settings`: derived from TASKS alone."""
    assert "CLOUD_TASKS_AUTH" not in settings
    return accepted.accepted_by({}, {alias: read_options(params["OPTIONS"]) for alias, params in settings["TASKS"].items()})


def test_each_backend_option_comes_from_the_variable_the_settings_name(environ):
    # Every variable a distinct value, to see which option each one ends up in.
    # (The emulator's must be on loopback for the settings to load.)
    values = {variable: f"value-of-{variable}" for variable in OPTION_SOURCES.values()} | {env.EMULATOR_HOST: "127.0.0.9:1"}
    settings = environ(**values)

    for alias, backend in settings["TASKS"].items():
        for option, value in backend["OPTIONS"].items():
            if option in OPTION_SOURCES:
                assert value == values[OPTION_SOURCES[option]], (alias, option)


def test_backends_are_complete_when_the_stack_sets_its_variables(environ):
    settings = environ(**{env.QUEUES: queues_variable(QUEUE_PATHS), env.HANDLER_URL: HANDLER_URL})

    for alias, params in settings["TASKS"].items():
        assert CloudTasksBackend(alias, params).check() == [], alias


def test_every_backend_accepts_the_queues_the_settings_name(environ):
    settings = environ()

    for alias, params in settings["TASKS"].items():
        assert CloudTasksBackend(alias, params).queues == set(settings["TASK_QUEUES"]), alias


def test_each_queue_option_comes_from_its_entry_in_the_queues_variable(environ):
    settings = environ(**{env.QUEUES: queues_variable(QUEUE_PATHS, retry={"max_attempts": 3})})

    for alias, params in settings["TASKS"].items():
        for name, options in params["OPTIONS"]["QUEUES"].items():
            assert options["QUEUE_PATH"] == QUEUE_PATHS[name]
            assert options["SERVICE_ACCOUNT_EMAIL"] == invoker(name)
            assert options["RETRY"] == {"max_attempts": 3}
            assert options.get("JOB_PATH") == (job_path(name) if alias == "jobs" else None)


def test_a_queue_the_variable_does_not_describe_is_an_error_naming_the_queue(environ):
    settings = environ(**{env.QUEUES: queues_variable({"default": QUEUE_PATHS["default"]}), env.HANDLER_URL: HANDLER_URL})

    missing_path, missing_invoker = CloudTasksBackend("default", settings["TASKS"]["default"]).check()

    assert missing_path.msg.startswith("TASKS['default']['OPTIONS']['QUEUES']['long']['QUEUE_PATH'] is not set")
    assert missing_invoker.msg.startswith(
        "TASKS['default']['OPTIONS']['QUEUES']['long']['SERVICE_ACCOUNT_EMAIL'] is not set"
    )


def test_push_handler_accepts_the_invoker_of_every_queue(environ):
    settings = environ(**{env.QUEUES: queues_variable(QUEUE_PATHS), env.HANDLER_URL: HANDLER_URL})

    assert accepted_by_the_handler(settings).invoker_emails == {invoker("default"), invoker("long")}


MALFORMED_QUEUES = {
    "not JSON": ("{default", "is not JSON"),
    "not an object": ('["default"]', "must be a JSON object"),
    "entry not an object": ('{"default": "projects/p"}', "has 'projects/p' for queue 'default'; each queue's entry"),
    "unknown key": ('{"default": {"queue": "q"}}', "has 'queue' for queue 'default'; an entry's keys are"),
}


@pytest.mark.parametrize(("value", "message"), MALFORMED_QUEUES.values(), ids=MALFORMED_QUEUES.keys())
def test_malformed_queues_variable_is_refused_naming_it(environ, value, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(f"{env.QUEUES} {message}")):
        environ(**{env.QUEUES: value})


def test_queues_variable_keys_are_the_ones_the_checks_name():
    assert set(queue_env.KEY_OF.values()) == {
        queue_env.QUEUE_PATH, queue_env.INVOKER_EMAIL, queue_env.JOB_PATH, queue_env.JOB_MAX_RETRIES, queue_env.JOB_TIMEOUT,
        queue_env.RETRY, queue_env.MAX_RUNNING, queue_env.SLOT_WAIT,
    }


@pytest.mark.parametrize(
    ("variables", "audience"),
    [
        ({env.HANDLER_URL: HANDLER_URL}, HANDLER_URL),
        (
            {env.HANDLER_URL: HANDLER_URL, env.OIDC_AUDIENCE: "https://aud.example.test"},
            "https://aud.example.test",
        ),
    ],
    ids=["the handler URL by default", "the audience variable if set"],
)
def test_handler_checks_the_audience_the_backend_requests(environ, variables, audience):
    settings = environ(**variables, **{env.QUEUES: queues_variable(QUEUE_PATHS)})

    assert settings["TASKS"]["default"]["OPTIONS"]["AUDIENCE"] == audience
    assert accepted_by_the_handler(settings).audiences == {audience}


def test_database_is_sqlite_by_default(environ):
    assert environ()["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"


def test_sqlite_transactions_take_the_write_lock_when_they_begin(environ):
    # Concurrent outbox flushes count on it (cloudtasks/operations/flush.py).
    assert environ()["DATABASES"]["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_database_url_selects_the_database(environ):
    settings = environ(**{env.DATABASE_URL: "postgres://app:pw@db.example.test:5432/app"})

    database = settings["DATABASES"]["default"]

    assert (database["ENGINE"], database["HOST"], database["NAME"]) == (
        "cloudtasks.postgresql", "db.example.test", "app"
    )


def test_allowed_hosts_is_a_comma_separated_list(environ):
    settings = environ(**{env.ALLOWED_HOSTS: "web.example.test, .run.app"})

    assert settings["ALLOWED_HOSTS"] == ["web.example.test", ".run.app"]


def test_secret_key_is_required_unless_debugging(environ):
    with pytest.raises(ImproperlyConfigured, match=f"{env.SECRET_KEY} is not set"):
        environ(**{env.SECRET_KEY: ""})


def test_debug_run_gets_a_throwaway_secret_key(environ):
    settings = environ(**{env.SECRET_KEY: "", env.DEBUG: "true"})

    assert settings["DEBUG"] is True
    assert settings["SECRET_KEY"]


def test_debug_flag_that_is_not_a_boolean_is_refused(environ):
    with pytest.raises(ImproperlyConfigured, match=f"{env.DEBUG} is 'maybe'"):
        environ(**{env.DEBUG: "maybe"})


def test_logs_are_django_text_lines_unless_json_is_asked_for(environ):
    settings = environ()

    assert settings["LOGGING"]["handlers"] == {"console": {"class": "logging.StreamHandler"}}
    assert not any("google" in middleware for middleware in settings["MIDDLEWARE"])


def test_json_logs_name_the_project_whose_traces_they_link_to(environ):
    settings = environ(**{env.LOG_FORMAT: "json", env.PROJECT: "example-project"})

    assert settings["LOGGING"]["handlers"]["console"]["project_id"] == "example-project"
    assert settings["MIDDLEWARE"][0] == "google.cloud.logging_v2.handlers.middleware.RequestMiddleware"


@pytest.mark.parametrize(("variables", "message"), [
    ({env.LOG_FORMAT: "xml"}, f"{env.LOG_FORMAT} is 'xml'; set it to text or json"),
    ({env.LOG_FORMAT: "json"}, f"{env.LOG_FORMAT} is json but {env.PROJECT} is not set"),
    ({env.LOG_FORMAT: "json", env.PROJECT: "Example Project"},
     f"{env.PROJECT}: cloud_logging_project is 'Example Project': a Google Cloud project id is 6 to 30"),
])
def test_a_log_format_or_project_that_cannot_work_is_refused_naming_it(environ, variables, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        environ(**variables)


def test_cloud_sql_socket_url_selects_the_socket_directory_as_host(environ):
    # The form stacks/database.py writes: the socket directory, percent-encoded, as host.
    settings = environ(**{env.DATABASE_URL: "postgres://djapp:pw@%2Fcloudsql%2Fp%3Aus-central1%3Adjapp-db/djapp"})

    database = settings["DATABASES"]["default"]

    assert (database["HOST"], database["NAME"]) == ("/cloudsql/p:us-central1:djapp-db", "djapp")
    assert database["OPTIONS"]["connect_timeout"] == 10
    assert (database["CONN_MAX_AGE"], database["CONN_HEALTH_CHECKS"]) == (600, True)


@pytest.mark.parametrize("variable", [env.EMAIL_URL, env.DEFAULT_FROM_EMAIL])
def test_production_requires_mail(environ, variable):
    with pytest.raises(ImproperlyConfigured, match=f"{variable} is not set"):
        environ(**{variable: ""})


def test_a_local_run_prints_mail_to_the_console(environ):
    settings = environ(**{env.EMAIL_URL: "", env.DEFAULT_FROM_EMAIL: "", env.DEBUG: "true"})

    assert settings["MAILERS"]["default"]["BACKEND"] == "django.core.mail.backends.console.EmailBackend"


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("smtp+starttls://mailer:p%40ss@smtp.example.test",
         {"host": "smtp.example.test", "port": 587, "use_tls": True, "use_ssl": False, "timeout": 10,
          "username": "mailer", "password": "p@ss"}),
        ("smtps://mailer:pw@smtp.example.test:2465?timeout=3",
         {"host": "smtp.example.test", "port": 2465, "use_tls": False, "use_ssl": True, "timeout": 3,
          "username": "mailer", "password": "pw"}),
        ("smtp://127.0.0.1", {"host": "127.0.0.1", "port": 25, "use_tls": False, "use_ssl": False, "timeout": 10}),
    ],
    ids=["starttls", "tls with port and timeout", "plain relay"],
)
def test_mail_url_gives_the_smtp_mailer(environ, url, options):
    mailer = environ(**{env.EMAIL_URL: url})["MAILERS"]["default"]

    assert mailer == {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sendgrid://key@api", "its scheme is 'sendgrid'"),
        ("smtp+starttls://user:secret@", "it names no host"),
        ("smtp://host:port", "its port is not a number"),
        ("smtp://host?timeout=0", "its timeout is '0'"),
    ],
)
def test_a_mail_url_that_is_wrong_is_refused_without_repeating_it(environ, url, problem):
    with pytest.raises(ImproperlyConfigured, match=f"{env.EMAIL_URL} is not a usable mail URL: {problem}") as error:
        environ(**{env.EMAIL_URL: url})

    assert "secret" not in str(error.value)


def test_production_enforces_https_behind_cloud_runs_proxy(environ):
    settings = environ()

    assert settings["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert settings["SECURE_SSL_REDIRECT"] and settings["SESSION_COOKIE_SECURE"] and settings["CSRF_COOKIE_SECURE"]
    assert settings["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert settings["SECURE_REDIRECT_EXEMPT"] == [r"^healthz$", r"^tasks/run/$"]


def test_a_local_run_does_not_redirect_to_https(environ):
    assert "SECURE_SSL_REDIRECT" not in environ(**{env.DEBUG: "true"})
