"""The deadlines of an HTTP task agree across the halves, so that a task is never run again
while it still runs, and a stopping container hands its work back in time.

Cloud Tasks waits the backend's dispatch deadline for an answer; Cloud Run cuts the
request at the service's timeout but does not stop the code; gunicorn's arbiter kills a
sync worker whose request outlives REQUEST_TIMEOUT. So gunicorn must stop the task first, with
room for a cold start before the request reaches it, and Cloud Run must not cut a request
Cloud Tasks still waits for. Reasons: django_project/config/gunicorn.py.
"""

from __future__ import annotations

import pytest

from cloudtasks.config.options import DEFAULT_DISPATCH_DEADLINE
from cloudtasks.config.task_limits import PUSH_MARGIN
from cloudtasks.run.shutdown import HAND_BACK_SECONDS
from config import gunicorn
from config.request_timeout import CHECK_INTERVAL_SECONDS
from tests.infra.synth import only

# What Cloud Run gives a container between SIGTERM and SIGKILL
# (https://cloud.google.com/run/docs/container-contract#instance-shutdown).
CLOUD_RUN_SHUTDOWN_SECONDS = 10
# Time a request may spend reaching gunicorn (an instance starting) after Cloud Tasks sent it.
COLD_START_ALLOWANCE_SECONDS = 30


@pytest.fixture(scope="module")
def web_template(app_stack):
    return only(app_stack, "google_cloud_run_v2_service")["template"]


def seconds(duration: str) -> int:
    return int(duration.removesuffix("s"))


def test_cloud_run_waits_at_least_as_long_as_cloud_tasks(web_template):
    assert seconds(web_template["timeout"]) >= DEFAULT_DISPATCH_DEADLINE


def test_gunicorn_stops_a_task_before_cloud_tasks_gives_up_on_it(web_template):
    stopped_by = gunicorn.REQUEST_TIMEOUT + CHECK_INTERVAL_SECONDS + COLD_START_ALLOWANCE_SECONDS
    assert stopped_by < DEFAULT_DISPATCH_DEADLINE
    assert stopped_by < seconds(web_template["timeout"])


def test_gunicorn_workers_serve_one_request_each_and_the_service_sends_no_more(web_template):
    assert gunicorn.worker_class == "sync"
    assert web_template["max_instance_request_concurrency"] == gunicorn.workers


def test_a_stopping_container_finishes_or_hands_back_its_work_within_cloud_runs_window():
    assert gunicorn.graceful_timeout < CLOUD_RUN_SHUTDOWN_SECONDS


def test_the_longest_time_limit_of_an_http_task_ends_its_attempt_before_gunicorn_kills_the_worker():
    # cloudtasks.limits: an attempt interrupted at its time limit records its failure first.
    longest = DEFAULT_DISPATCH_DEADLINE - PUSH_MARGIN
    assert longest + HAND_BACK_SECONDS < gunicorn.REQUEST_TIMEOUT
