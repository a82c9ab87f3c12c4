"""Environment variables the stack sets for Django beyond what QueueWorker exposes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import jsii

from constructs_lib import QueueWorker, producer_env
from constructs_lib.engine import Engine
from constructs_lib.validation import is_unresolved, parse_duration

if TYPE_CHECKING:  # the engine's class at run time (constructs_lib/engine.py)
    from cdktf_cdktf_provider_google.cloud_tasks_queue import CloudTasksQueue

HANDLER_URL = "CLOUD_TASKS_HANDLER_URL"
OIDC_AUDIENCE = "CLOUD_TASKS_OIDC_AUDIENCE"
ALLOWED_HOSTS = "DJANGO_ALLOWED_HOSTS"
SECRET_KEY = "DJANGO_SECRET_KEY"
DATABASE_URL = "DATABASE_URL"
EMAIL_URL = "DJANGO_EMAIL_URL"
DEFAULT_FROM_EMAIL = "DJANGO_DEFAULT_FROM_EMAIL"
LOG_FORMAT = "DJANGO_LOG_FORMAT"
PROJECT = "GOOGLE_CLOUD_PROJECT"

HANDLER_PATH = "/tasks/run/"

# Every queue, as one JSON object by django.tasks queue name: each entry carries what
# QueueWorker.producer_environment exposes for the queue (under these keys), its job's
# max_retries (so the run side knows a job task's last attempt), its job's task timeout
# in seconds (so the flush knows until when a job task may still be running), the
# queue's retry policy as declared, and its job's slots (how many executions use the
# database at once, and how long one more waits).
QUEUES = "CLOUD_TASKS_QUEUES"
QUEUE_KEYS = {
    producer_env.QUEUE_PATH: "queue_path",
    producer_env.INVOKER_EMAIL: "invoker_email",
    producer_env.JOB_PATH: "job_path",
}
JOB_MAX_RETRIES_KEY = "job_max_retries"
JOB_TIMEOUT_KEY = "job_timeout"
RETRY_KEY = "retry"
MAX_RUNNING_KEY = "max_running"
SLOT_WAIT_KEY = "slot_wait"
RETRY_FIELDS = ("max_attempts", "min_backoff", "max_backoff", "max_doublings", "max_retry_duration")


def for_cloud_logging(project_id: str) -> dict[str, str]:
    """Log lines as JSON objects Cloud Logging reads, their traces the project's."""
    return {LOG_FORMAT: "json", PROJECT: project_id}


def for_tasks(web_url: str) -> dict[str, str]:
    """Where tasks are pushed over HTTP, and the audience their OIDC tokens carry."""
    return {HANDLER_URL: f"{web_url}{HANDLER_PATH}", OIDC_AUDIENCE: web_url}


class Slots(NamedTuple):
    """How many of a queue's job executions may use the database at once, and the
    seconds one more waits for a slot (cloudtasks/run/slots.py)."""

    max_running: int
    wait: int


def for_queues(engine: Engine, workers: Mapping[str, QueueWorker], slots: Mapping[str, Slots]) -> dict[str, str]:
    """CLOUD_TASKS_QUEUES for the workers serving each django.tasks queue name, whose jobs
    have `slots` (by queue name), in a stack of `engine`.

    The value is made when the stack is synthesized, so `workers` may still be filled
    after the call: each worker's job carries it, and the job exists before the last
    worker does.
    """
    produced = _producer_class(engine)(lambda: _queues_json(workers, slots))
    return {QUEUES: engine.core.Lazy.string_value(produced)}


def _queues_json(workers: Mapping[str, QueueWorker], slots: Mapping[str, Slots]) -> str:
    entries = {
        name: {
            **{key: worker.producer_environment[variable] for variable, key in QUEUE_KEYS.items()},
            JOB_MAX_RETRIES_KEY: worker.job.template_input.template.max_retries,
            JOB_TIMEOUT_KEY: job_timeout_seconds(worker),
            RETRY_KEY: declared_retry(worker.queue),
            MAX_RUNNING_KEY: slots[name].max_running,
            SLOT_WAIT_KEY: slots[name].wait,
        }
        for name, worker in workers.items()
    }
    return json.dumps(entries, sort_keys=True)


def declared_retry(queue: CloudTasksQueue) -> dict[str, Any]:
    """The retry settings the queue declares; those it leaves to Cloud Tasks left out."""
    declared = queue.retry_config_input
    values = {field: getattr(declared, field) for field in RETRY_FIELDS} if declared else {}
    for field, value in values.items():
        # A number known only at apply time cannot be written into JSON made at synth.
        if isinstance(value, (int, float)) and is_unresolved(value):
            raise ValueError(
                f"{QUEUES}: retry {field} of queue {queue.node.path} is a Terraform reference; "
                f"give it as a number"
            )
    return {field: value for field, value in values.items() if value is not None}


def job_timeout_seconds(worker: QueueWorker) -> int | float:
    """The worker job's task timeout ("600s"), in seconds."""
    timeout = worker.job.template_input.template.timeout
    if is_unresolved(timeout):
        raise ValueError(
            f"{QUEUES}: the timeout of job {worker.job.node.path} is a Terraform reference; give it as a duration"
        )
    seconds = parse_duration(worker.node.path, "timeout", timeout)
    return int(seconds) if seconds == seconds.to_integral_value() else float(seconds)


@cache
def _producer_class(engine: Engine) -> type:
    """A string the engine asks for at synth time (Lazy.string_value): a class that
    implements that engine's IStringProducer, made once per engine."""

    @jsii.implements(engine.core.IStringProducer)
    class Produced:
        def __init__(self, produce: Callable[[], str]) -> None:
            self._produce = produce

        def produce(self, context: Any) -> str:
            return self._produce()

    return Produced
