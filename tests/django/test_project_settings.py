"""config.settings: everything deployment-specific comes from environment variables."""

from __future__ import annotations

import importlib.util
import runpy
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from cloudtasks import env
from cloudtasks.backend import CloudTasksBackend
from cloudtasks.checks import OPTION_SOURCES

SETTINGS_FILE = importlib.util.find_spec("config.settings").origin
HANDLER_URL = "https://web.example.test/tasks/run/"

READ_BY_SETTINGS = [
    env.QUEUE_PATH, env.INVOKER_EMAIL, env.JOB_PATH, env.HANDLER_URL, env.OIDC_AUDIENCE,
    env.EMULATOR_HOST, env.SECRET_KEY, env.DEBUG, env.ALLOWED_HOSTS, env.DATABASE_URL,
]


@pytest.fixture
def environ(monkeypatch):
    """Settings loaded from exactly the variables given (plus a secret key)."""

    def load(**variables: str) -> dict[str, Any]:
        for name in READ_BY_SETTINGS:
            monkeypatch.delenv(name, raising=False)
        for name, value in {env.SECRET_KEY: "not-a-secret", **variables}.items():
            monkeypatch.setenv(name, value)
        # Run as a file: a fresh copy, leaving the settings of this test run alone.
        return runpy.run_path(SETTINGS_FILE)

    return load


def test_each_backend_option_comes_from_the_variable_checks_name(environ):
    # Every variable a distinct value, to see which option each one ends up in.
    settings = environ(**{variable: f"value-of-{variable}" for variable in OPTION_SOURCES.values()})

    for alias, backend in settings["TASKS"].items():
        for option, value in backend["OPTIONS"].items():
            if option in OPTION_SOURCES:
                assert value == f"value-of-{OPTION_SOURCES[option]}", (alias, option)


def test_backends_are_complete_when_the_stack_sets_its_variables(environ):
    settings = environ(**{
        env.QUEUE_PATH: "projects/example-project/locations/europe-west1/queues/default",
        env.INVOKER_EMAIL: "tasks-invoker@example-project.iam.gserviceaccount.com",
        env.JOB_PATH: "projects/example-project/locations/europe-west1/jobs/worker",
        env.HANDLER_URL: HANDLER_URL,
    })

    for alias, params in settings["TASKS"].items():
        assert CloudTasksBackend(alias, params).check() == [], alias


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
    settings = environ(**variables)

    assert settings["TASKS"]["default"]["OPTIONS"]["AUDIENCE"] == audience
    assert settings["CLOUD_TASKS_AUTH"]["AUDIENCE"] == audience


def test_database_is_sqlite_by_default(environ):
    assert environ()["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"


def test_database_url_selects_the_database(environ):
    settings = environ(**{env.DATABASE_URL: "postgres://app:pw@db.example.test:5432/app"})

    database = settings["DATABASES"]["default"]

    assert (database["ENGINE"], database["HOST"], database["NAME"]) == (
        "django.db.backends.postgresql", "db.example.test", "app"
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
