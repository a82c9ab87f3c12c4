"""Pushes served around the project's middleware (cloudtasks.wsgi), over real HTTP into
gunicorn with config/gunicorn.py and config/wsgi.py, as production serves them: the push
path skips what serves pages and keeps what guards it (the token, ALLOWED_HOSTS); every
other path keeps the project's middleware."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.tasks import TaskResultStatus
from django.test import override_settings
from django.urls import path

from cloudtasks.models import TaskRecord
from cloudtasks.wsgi import bypass_middleware_for_pushes
from tests.django.live import wait_for
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect
from tests.django.web_process import WebProcess, local_run_server

urlpatterns = [path("healthz", lambda request: None)]  # a URLconf without the push handler


@pytest.fixture
def web(settings, database, transactional_db, tasks_emulator, local_signing_key) -> Iterator[WebProcess]:
    """gunicorn serving the project as a local run's process; tasks enqueued here are
    pushed to it by the emulator."""
    queue = tasks_emulator.create_queue(paused=False)
    server = local_run_server(settings, database.url, tasks_emulator, local_signing_key, queue)
    server.start()
    yield server
    server.stop()
    tasks_emulator.delete_queue(queue)


def answer(url: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_a_pushed_task_runs_once_through_the_bypass(web):
    result = tasks.insert_effect.enqueue("through gunicorn")

    wait_for(lambda: TaskRecord.objects.get(pk=result.id).status == TaskResultStatus.SUCCESSFUL, "the task to run")
    assert Effect.objects.filter(label="through gunicorn").count() == 1


def test_a_push_skips_the_pages_middleware_and_still_needs_a_token(web):
    status, headers = answer(f"{web.url}/tasks/run/", method="POST")

    assert (status, headers.get("WWW-Authenticate")) == (401, "Bearer")
    # XFrameOptionsMiddleware and SessionMiddleware's marks are not on it ...
    assert "X-Frame-Options" not in headers and "Cookie" not in headers.get("Vary", "")
    # ... and are on every other path.
    status, headers = answer(f"{web.url}/healthz")
    assert (status, headers.get("X-Frame-Options")) == (200, "DENY")


def test_a_push_to_a_host_not_allowed_is_refused(web):
    status, _ = answer(f"{web.url}/tasks/run/", method="POST", headers={"Host": "elsewhere.example"})

    assert status == 400


def test_only_the_push_path_bypasses(web):
    # A path the push path is a prefix of goes through the project's URLconf: not found.
    status, headers = answer(f"{web.url}/tasks/run/more", method="POST")

    assert (status, headers.get("X-Frame-Options")) == (404, "DENY")


@override_settings(ROOT_URLCONF=__name__)
def test_a_urlconf_without_the_push_handler_is_refused_at_once():
    with pytest.raises(ImproperlyConfigured, match=r"no push handler \(cloudtasks:run\); include it"):
        bypass_middleware_for_pushes(lambda environ, start_response: [])
