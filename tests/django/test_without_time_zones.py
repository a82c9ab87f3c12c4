"""A project with USE_TZ = False: enqueued through django.tasks, pushed by the emulator
over HTTP, run by the handler, SUCCESSFUL.

Payloads carry times aware and in UTC whatever USE_TZ says; the run side gives them back
as the project's settings expect (naive, in TIME_ZONE). The time zone is 3 hours from
UTC, so a time taken for UTC, or UTC taken for local time, would be off by 3 hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.tasks import TaskResultStatus
from django.test import override_settings
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from tests.django.conftest import configure_local_run, local_run_variables
from tests.django.live import wait_for
from tests.django.project_settings import load_settings
from tests.django.taskapp import tasks

TIME_ZONE = "America/Sao_Paulo"  # UTC-3 all year


@pytest.fixture
def local_run_without_time_zones(
    settings, tasks_emulator, tasks_queue, long_tasks_queue, transactional_db, local_signing_key
) -> Iterator[None]:
    """As the `local_run` fixture, in a project with USE_TZ = False and TIME_ZONE 3 hours
    from UTC, with a live server started under those settings (its database connections
    take the time zone when they open)."""
    settings.USE_TZ, settings.TIME_ZONE = False, TIME_ZONE
    local = load_settings(**local_run_variables(tasks_emulator.address, local_signing_key))
    with override_settings(MIDDLEWARE=local["MIDDLEWARE"], ALLOWED_HOSTS=[*django_settings.ALLOWED_HOSTS, "127.0.0.1"]):
        server = LiveServer("127.0.0.1:0")
        queues = {"default": tasks_queue, "long": long_tasks_queue}
        configure_local_run(settings, server.url, tasks_emulator.address, local_signing_key, queues)
        yield
        server.stop()


def finished(task, result_id: str) -> bool:
    return task.get_result(result_id).status == TaskResultStatus.SUCCESSFUL


@pytest.mark.both_databases
def test_a_task_enqueued_without_time_zones_runs_and_its_result_has_local_times(local_run_without_time_zones):
    enqueued = tasks.keep_result.enqueue("no time zones")

    wait_for(lambda: finished(tasks.keep_result, enqueued.id), "the task ran")
    result = tasks.keep_result.get_result(enqueued.id)
    run_side = tasks.results["no time zones"]
    assert timezone.is_naive(enqueued.enqueued_at)
    assert result.enqueued_at == run_side.enqueued_at == enqueued.enqueued_at
    local_now = datetime.now(UTC).astimezone(timezone.get_default_timezone()).replace(tzinfo=None)
    assert abs(result.finished_at - local_now) < timedelta(minutes=1)


@pytest.mark.both_databases
def test_a_deferred_task_enqueued_without_time_zones_runs_no_earlier_than_its_run_after(local_run_without_time_zones):
    run_after = datetime.now(UTC) + timedelta(seconds=1.5)

    enqueued = tasks.keep_result.using(run_after=run_after).enqueue("later")

    wait_for(lambda: finished(tasks.keep_result, enqueued.id), "the deferred task ran")
    result = tasks.keep_result.get_result(enqueued.id)
    assert timezone.make_aware(result.started_at) >= run_after
    assert tasks.results["later"].task.run_after == run_after
