"""Every bad option fails at synth time with a message naming option, value and rule;
unresolved Terraform references pass through."""

import pytest
from cdktf import TerraformVariable

from constructs_lib import (
    ConstructValidationError,
    QueueWorker,
    RateLimits,
    RetryPolicy,
    ScheduledTrigger,
    SchedulerRetry,
)

from .synth import new_stack


def worker(stack=None, **options):
    stack = stack or new_stack()
    props = {"name": "jobs", "image": "example/image:1", "region": "europe-west1"} | options
    return QueueWorker(stack, "worker", **props)


def trigger(**options):
    stack = new_stack()
    props = {"job": worker(stack), "schedule": "* * * * *"} | options
    return ScheduledTrigger(stack, "trigger", **props)


WORKER_ERRORS = {
    "name-uppercase": ({"name": "Jobs"}, "name='Jobs'", "lowercase letters"),
    "name-starts-with-digit": ({"name": "1jobs"}, "name='1jobs'", "starting with a letter"),
    "name-ends-with-hyphen": ({"name": "jobs-"}, "name='jobs-'", "not ending with a hyphen"),
    "name-too-long": ({"name": "j" * 64}, "name=", "1-63"),
    "cpu-not-allowed": ({"cpu": "3"}, "cpu='3'", "one of '1', '2', '4', '6', '8'"),
    "cpu-fraction": ({"cpu": "0.5"}, "cpu='0.5'", "one of"),
    "memory-format": ({"memory": "512MB"}, "memory='512MB'", '"512Mi" or "2Gi"'),
    "memory-too-small": ({"memory": "256Mi"}, "memory='256Mi'", "from 512Mi to 4Gi with cpu='1'"),
    "memory-too-big-for-cpu": ({"cpu": "2", "memory": "16Gi"}, "memory='16Gi'", "to 8Gi with cpu='2'"),
    "memory-too-small-for-cpu": ({"cpu": "4", "memory": "1Gi"}, "memory='1Gi'", "from 2048Mi to 16Gi"),
    "timeout-format": ({"timeout": "10m"}, "timeout='10m'", '"600s"'),
    "timeout-too-long": ({"timeout": "604801s"}, "timeout='604801s'", "between 1s and 604800s"),
    "max-retries-too-many": ({"max_retries": 11}, "max_retries=11", "from 0 to 10"),
    "max-retries-negative": ({"max_retries": -1}, "max_retries=-1", "from 0 to 10"),
    "task-count-zero": ({"task_count": 0}, "task_count=0", "from 1 to 10000"),
    "parallelism-above-task-count": ({"task_count": 2, "parallelism": 3}, "parallelism=3", "at most task_count (2)"),
    "label-key-uppercase": ({"labels": {"Team": "x"}}, "labels key='Team'", "starting with a lowercase letter"),
    "label-value-too-long": ({"labels": {"team": "x" * 64}}, "labels['team']=", "0-63"),
    "reserved-env": ({"env": {"CLOUD_RUN_TASK_INDEX": "1"}}, "env='CLOUD_RUN_TASK_INDEX'", "Cloud Run sets itself"),
    "env-and-secret-env-clash": ({"env": {"K": "v"}, "secret_env": {"K": "s"}}, "secret_env='K'", "not also given in env"),
    "producer-env-clash": ({"worker_can_enqueue": True, "env": {"CLOUD_TASKS_QUEUE_PATH": "x"}},
                           "env='CLOUD_TASKS_QUEUE_PATH'", "worker_can_enqueue"),
    "retry-attempts-zero": ({"retry": RetryPolicy(max_attempts=0)}, "retry.max_attempts=0", "or -1"),
    "retry-backoff-format": ({"retry": RetryPolicy(min_backoff="1m")}, "retry.min_backoff='1m'", '"600s"'),
    "retry-backoffs-reversed": ({"retry": RetryPolicy(min_backoff="60s", max_backoff="10s")},
                                "retry.min_backoff='60s'", "at most retry.max_backoff ('10s')"),
    "retry-doublings-negative": ({"retry": RetryPolicy(max_doublings=-1)}, "retry.max_doublings=-1", "from 0"),
    "rate-too-high": ({"rate_limits": RateLimits(max_dispatches_per_second=501)},
                      "rate_limits.max_dispatches_per_second=501", "above 0 and at most 500"),
    "rate-zero": ({"rate_limits": RateLimits(max_dispatches_per_second=0)},
                  "rate_limits.max_dispatches_per_second=0", "above 0"),
    "concurrency-too-high": ({"rate_limits": RateLimits(max_concurrent_dispatches=5001)},
                             "rate_limits.max_concurrent_dispatches=5001", "from 1 to 5000"),
    "sampling-ratio-above-one": ({"logging_sampling_ratio": 1.5}, "logging_sampling_ratio=1.5", "from 0.0 to 1.0"),
}


def assert_rejected(build, options, construct, names, allowed):
    """Building with `options` fails, naming the construct, the option and value, and the rule."""
    with pytest.raises(ConstructValidationError) as error:
        build(**options)
    message = str(error.value)
    assert message.startswith(f"{construct}: ")
    assert names in message and allowed in message


@pytest.mark.parametrize("options, names, allowed", WORKER_ERRORS.values(), ids=WORKER_ERRORS.keys())
def test_queue_worker_rejects(options, names, allowed):
    assert_rejected(worker, options, "QueueWorker test/worker", names, allowed)


TRIGGER_ERRORS = {
    "cron-six-fields": ({"schedule": "0 * * * * *"}, "schedule='0 * * * * *'", "five fields"),
    "cron-nickname": ({"schedule": "@hourly"}, "schedule='@hourly'", "five fields"),
    "cron-out-of-range": ({"schedule": "61 * * * *"}, "schedule='61 * * * *'", "unix-cron"),
    "cron-words": ({"schedule": "every 5 minutes"}, "schedule='every 5 minutes'", "unix-cron"),
    "time-zone-unknown": ({"time_zone": "Mars/Olympus"}, "time_zone='Mars/Olympus'", "tz database"),
    "name-bad-characters": ({"name": "nightly report"}, "name='nightly report'", "letters, digits, hyphens"),
    "attempt-deadline-too-short": ({"attempt_deadline": "5s"}, "attempt_deadline='5s'", "between 15s and 1800s"),
    "attempt-deadline-too-long": ({"attempt_deadline": "1801s"}, "attempt_deadline='1801s'", "between 15s and 1800s"),
    "retry-count-too-many": ({"retry": SchedulerRetry(retry_count=6)}, "retry.retry_count=6", "from 0 to 5"),
    "retry-backoffs-reversed": ({"retry": SchedulerRetry(min_backoff_duration="20s", max_backoff_duration="5s")},
                                "retry.min_backoff_duration='20s'", "at most retry.max_backoff_duration"),
    "empty-args": ({"args": []}, "args=[]", "None to keep the job's args"),
    "not-a-job": ({"job": "my-job"}, "job='my-job'", "a QueueWorker or a CloudRunV2Job"),
    "description-too-long": ({"description": "d" * 501}, "description=", "at most 500 characters"),
}


@pytest.mark.parametrize("options, names, allowed", TRIGGER_ERRORS.values(), ids=TRIGGER_ERRORS.keys())
def test_scheduled_trigger_rejects(options, names, allowed):
    assert_rejected(trigger, options, "ScheduledTrigger test/trigger", names, allowed)


def test_grant_enqueue_rejects_a_member_without_a_type():
    with pytest.raises(ConstructValidationError, match=r"grant_enqueue member='web@p\.iam\.gserviceaccount\.com'"):
        worker().grant_enqueue("web@p.iam.gserviceaccount.com")


def test_grant_enqueue_rejects_public_principals():
    with pytest.raises(ConstructValidationError, match="allUsers"):
        worker().grant_enqueue("allUsers")


def test_grant_enqueue_needs_an_id_for_a_member_that_is_a_reference():
    stack = new_stack()
    member = TerraformVariable(stack, "member", type="string").string_value
    with pytest.raises(ConstructValidationError, match="an id for this grant"):
        worker(stack).grant_enqueue(member)


def test_grant_enqueue_rejects_the_same_id_twice():
    queue_worker = worker()
    queue_worker.grant_enqueue("serviceAccount:a@p.iam.gserviceaccount.com", id="web")
    with pytest.raises(ConstructValidationError, match="id='web'"):
        queue_worker.grant_enqueue("serviceAccount:b@p.iam.gserviceaccount.com", id="web")


def test_two_workers_of_one_name_in_one_stack_are_refused():
    stack = new_stack()
    QueueWorker(stack, "first", name="jobs", image="example/image:1", region="europe-west1")
    with pytest.raises(ConstructValidationError, match="name='jobs'.*already used by test/first"):
        QueueWorker(stack, "second", name="jobs", image="example/image:1", region="europe-west1")


def test_unresolved_references_pass_through():
    stack = new_stack()

    def variable(name, type="string"):
        value = TerraformVariable(stack, name, type=type)
        return value.string_value if type == "string" else value.number_value

    queue_worker = QueueWorker(
        stack, "worker", name=variable("name"), image=variable("image"), region=variable("region"),
        cpu=variable("cpu"), memory=variable("memory"), timeout=variable("timeout"),
        max_retries=variable("retries", "number"), task_count=variable("tasks", "number"),
        retry=RetryPolicy(min_backoff=variable("min_backoff"), max_backoff="10s"),
    )
    ScheduledTrigger(stack, "trigger", job=queue_worker, schedule=variable("schedule"),
                     time_zone=variable("time_zone"), attempt_deadline=variable("deadline"))
