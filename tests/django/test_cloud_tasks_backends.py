"""The Cloud Tasks backends of TASKS, as the run side, authentication and operations find
them without importing the backend's class (cloudtasks.config.backends): a backend of
another kind is not one, and one whose options are invalid is one that says so."""

from __future__ import annotations

import pytest
from django.tasks import task_backends
from django.tasks.exceptions import InvalidTaskBackend

from cloudtasks.config.backends import cloud_tasks_backend, cloud_tasks_options
from cloudtasks.config.options import DEFAULT_RETENTION
from cloudtasks.operations.prune import retention_of
from tests.django.backend_settings import BACKEND, HANDLER_URL, INVOKER

QUEUE = "projects/example-project/locations/europe-west1/queues/default"
VALID = {"QUEUE_PATH": QUEUE, "URL": HANDLER_URL, "SERVICE_ACCOUNT_EMAIL": INVOKER, "RETENTION": 90 * 86400}
IMMEDIATE = "django.tasks.backends.immediate.ImmediateBackend"


@pytest.fixture
def three_kinds(settings):
    settings.TASKS = {
        "cloud": {"BACKEND": BACKEND, "OPTIONS": VALID},
        "broken": {"BACKEND": BACKEND, "OPTIONS": {"QUEUE_PATH": QUEUE}},  # no URL, no invoker
        "immediate": {"BACKEND": IMMEDIATE, "QUEUES": ["default"]},
    }


def test_the_options_of_the_valid_cloud_tasks_backends_only(three_kinds):
    assert list(cloud_tasks_options()) == ["cloud"]
    assert cloud_tasks_options()["cloud"].queues["default"].queue_path == QUEUE


def test_a_cloud_tasks_backend_is_found_by_its_alias_even_with_invalid_options(three_kinds):
    assert cloud_tasks_backend("cloud") is task_backends["cloud"]
    with pytest.raises(InvalidTaskBackend, match="'broken' is not configured"):
        cloud_tasks_backend("broken").backend_options


@pytest.mark.parametrize(("alias", "message"), [
    ("immediate", "backend 'immediate' is not a CloudTasksBackend"),
    ("missing", "missing"),
])
def test_another_kind_of_backend_or_none_is_refused(three_kinds, alias, message):
    with pytest.raises(InvalidTaskBackend, match=message):
        cloud_tasks_backend(alias)


def test_records_of_another_kind_of_backend_are_kept_the_default_retention(three_kinds):
    assert retention_of("cloud").days == 90
    assert retention_of("immediate") == DEFAULT_RETENTION
