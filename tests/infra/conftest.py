"""Each stack is synthesized once per test session and engine; tests only read the JSON.
(The app stack fixtures are in tests/conftest.py, shared with the contract tests.)"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from constructs_lib import (
    JobMonitoring,
    Monitoring,
    QueueWorker,
    RateLimits,
    RetryPolicy,
    ScheduledTrigger,
    SchedulerRetry,
    SecretEnv,
)
from constructs_lib.engine import CDKTF, ENGINES, Engine, engine_of

from .synth import Stack, synth


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.fixture(params=list(ENGINES))
def engine(request) -> Engine:
    """Each engine in turn: cdktf, then cdktn (both are installed in the test environment)."""
    return ENGINES[request.param]


def minimal_worker(stack) -> QueueWorker:
    return QueueWorker(stack, "worker", name="jobs", image="example/image:1", region="europe-west1")


def full_worker(stack) -> QueueWorker:
    worker = QueueWorker(
        stack, "worker", name="reports", image="example/image:2", region="europe-west1", project="example-project",
        command=["python", "manage.py"], args=["run_task"], env={"MODE": "batch"},
        secret_env={"API_KEY": "api-key", "DB_PASSWORD": SecretEnv("db-password", version="3")},
        cpu="2", memory="4Gi", timeout="7200s", max_retries=1, task_count=4, parallelism=2,
        labels={"team": "data"}, deletion_protection=False,
        retry=RetryPolicy(max_attempts=7, min_backoff="5s", max_backoff="300s", max_doublings=3,
                          max_retry_duration="3600s"),
        rate_limits=RateLimits(max_dispatches_per_second=2.5, max_concurrent_dispatches=4),
        logging_sampling_ratio=0.5, allow_task_overrides=True,
    )
    worker.grant_enqueue("serviceAccount:producer@example-project.iam.gserviceaccount.com")
    return worker


def trigger(stack) -> None:
    """A trigger without overrides on a QueueWorker."""
    ScheduledTrigger(stack, "nightly", job=minimal_worker(stack), schedule="0 3 * * *")


def trigger_with_overrides(stack) -> None:
    ScheduledTrigger(
        stack, "hourly", job=minimal_worker(stack), schedule="0 * * * *", name="hourly-report",
        region="europe-west3", args=["--task", "reports.tasks.hourly"], env={"REPORT": "short"},
        time_zone="Europe/Paris", description="Hourly report", paused=True, attempt_deadline="320s",
        retry=SchedulerRetry(retry_count=2, min_backoff_duration="10s", max_backoff_duration="100s",
                             max_doublings=2, max_retry_duration="600s"),
    )


CHANNELS = ("projects/example-project/notificationChannels/123", "projects/example-project/notificationChannels/456")


def monitored_worker(stack) -> QueueWorker:
    """A worker with every alert and its dashboard, thresholds other than the defaults."""
    return QueueWorker(
        stack, "worker", name="mail", image="example/image:1", region="europe-west1",
        monitoring=Monitoring(notification_channels=CHANNELS, backlog_tasks=50, backlog_for="600s",
                              failed_attempts=3, failed_executions=1, window="600s"),
    )


def plain_job(stack) -> Any:
    """A CloudRunV2Job of the stack's engine, made without the constructs."""
    job_module = engine_of(stack).google("cloud_run_v2_job")
    return job_module.CloudRunV2Job(
        stack, "report", name="report", location="europe-west1", deletion_protection=False,
        template={"template": {"containers": [job_module.CloudRunV2JobTemplateTemplateContainers(image="example/image:1")]}},
    )


def monitored_trigger(stack) -> ScheduledTrigger:
    """A trigger of a plain CloudRunV2Job, alerting on that job's failed executions."""
    return ScheduledTrigger(stack, "nightly", job=plain_job(stack), schedule="0 3 * * *",
                            monitoring=JobMonitoring(notification_channels=CHANNELS[:1]))


@cache
def construct_stack(build: Callable[[object], object], engine: Engine = CDKTF) -> Stack:
    """The stack `build` makes, synthesized once per session and engine."""
    return synth(build, engine=engine)


@pytest.fixture(scope="session")
def minimal_worker_stack() -> Stack:
    return construct_stack(minimal_worker)


@pytest.fixture(scope="session")
def full_worker_stack() -> Stack:
    return construct_stack(full_worker)


@pytest.fixture(scope="session")
def enqueuing_worker_stack() -> Stack:
    return synth(lambda stack: QueueWorker(
        stack, "worker", name="chain", image="example/image:1", region="europe-west1", worker_can_enqueue=True,
    ))


@pytest.fixture(scope="session")
def trigger_stack() -> Stack:
    return construct_stack(trigger)


@pytest.fixture(scope="session")
def trigger_with_overrides_stack() -> Stack:
    return construct_stack(trigger_with_overrides)


def pytest_configure(config):
    # Some stacks here use rates and timeouts that the warning about running executions
    # flags; test_job_tasks.py checks the warning itself.
    config.addinivalue_line("filterwarnings", "ignore::constructs_lib.ConstructWarning")
