"""Every bad option fails at synth time with a message naming the construct, the option,
the value and what is allowed; unresolved Terraform references pass through."""

import pytest
from cdktf import TerraformVariable, Token

from constructs_lib import (
    ConstructValidationError,
    QueueWorker,
    RateLimits,
    RetryPolicy,
    ScheduledTrigger,
    SchedulerRetry,
    SecretEnv,
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
    "region-empty": ({"region": ""}, "region=''", 'a region such as "europe-west1"'),
    "region-a-zone": ({"region": "europe-west1-b"}, "region='europe-west1-b'", "not a zone"),
    "region-uppercase": ({"region": "Europe-West1"}, "region='Europe-West1'", "a region such as"),
    "image-empty": ({"image": ""}, "image=''", "a container image reference"),
    "image-padded": ({"image": " example/image:1"}, "image=' example/image:1'", "a container image reference"),
    "image-uppercase": ({"image": "Example/Image:1"}, "image='Example/Image:1'", "its path in lowercase"),
    "image-empty-tag": ({"image": "example/image:"}, "image='example/image:'", "REGISTRY/PATH[:TAG]"),
    "iam-propagation-minutes": ({"iam_propagation": "2m"}, "iam_propagation='2m'", 'with an "s" suffix'),
    "iam-propagation-too-long": ({"iam_propagation": "3601s"}, "iam_propagation='3601s'", "between 0s and 3600s"),
    "command-a-string": ({"command": "python manage.py"}, "command='python manage.py'", "a list of strings"),
    "args-with-nul": ({"args": ["--a\0b"]}, "args[0]='--a\\x00b'", "without NUL characters"),
    "args-too-long": ({"args": ["x" * 131_072]}, "args[0]=", "at most 131,071 bytes"),
    "args-too-many": ({"args": ["x"] * 1001}, "args='1001 strings'", "at most 1000"),
    "cpu-not-allowed": ({"cpu": "3"}, "cpu='3'", "1, 2, 4, 6, 8 vCPU"),
    "cpu-fraction": ({"cpu": "0.5"}, "cpu='0.5'", "jobs take whole vCPUs"),
    "cpu-millis-fraction": ({"cpu": "1500m"}, "cpu='1500m'", '"2000m"'),
    "cpu-not-a-quantity": ({"cpu": "one"}, "cpu='one'", "Kubernetes quantity"),
    "memory-format": ({"memory": "512MB"}, "memory='512MB'", 'such as "512Mi", "2Gi" or "1G"'),
    "memory-fraction-of-a-byte": ({"memory": "0.5"}, "memory='0.5'", "whole bytes"),
    "memory-too-small": ({"memory": "256Mi"}, "memory='256Mi'", "from 512Mi to 4Gi with cpu='1'"),
    "memory-decimal-too-small": ({"memory": "500M"}, "memory='500M'", "from 512Mi to 4Gi"),
    "memory-too-big-for-cpu": ({"cpu": "2", "memory": "16Gi"}, "memory='16Gi'", "to 8Gi with cpu='2'"),
    "memory-too-small-for-cpu": ({"cpu": "4", "memory": "1Gi"}, "memory='1Gi'", "from 2Gi to 16Gi with cpu='4'"),
    "memory-too-small-for-millicpu": ({"cpu": "6000m", "memory": "2Gi"}, "memory='2Gi'", "from 4Gi to 24Gi"),
    "timeout-format": ({"timeout": "10m"}, "timeout='10m'", '"600s"'),
    "timeout-too-long": ({"timeout": "604801s"}, "timeout='604801s'", "between 1s and 604800s"),
    "max-retries-too-many": ({"max_retries": 11}, "max_retries=11", "from 0 to 10"),
    "max-retries-negative": ({"max_retries": -1}, "max_retries=-1", "from 0 to 10"),
    "task-count-zero": ({"task_count": 0}, "task_count=0", "from 1 to 10000"),
    "allow-task-overrides-a-string": ({"allow_task_overrides": "false"}, "allow_task_overrides='false'", "True or False"),
    "allow-task-overrides-a-number": ({"allow_task_overrides": 1}, "allow_task_overrides=1", "True or False"),
    "parallelism-above-task-count": ({"task_count": 2, "parallelism": 3}, "parallelism=3", "at most task_count (2)"),
    "label-key-uppercase": ({"labels": {"Team": "x"}}, "labels key='Team'", "starting with a lowercase letter"),
    "label-key-starts-with-digit": ({"labels": {"1team": "x"}}, "labels key='1team'", "starting with a lowercase"),
    "label-value-too-long": ({"labels": {"team": "x" * 64}}, "labels['team']=", "0-63"),
    "label-value-uppercase": ({"labels": {"team": "Data"}}, "labels['team']='Data'", "lowercase letters"),
    "env-reserved": ({"env": {"CLOUD_RUN_TASK_INDEX": "1"}}, "env='CLOUD_RUN_TASK_INDEX'", "Cloud Run sets itself"),
    "env-name-with-equals": ({"env": {"A=B": "1"}}, "env='A=B'", "without '='"),
    "env-name-empty": ({"env": {"": "1"}}, "env=''", "a non-empty variable name"),
    "env-value-too-big": ({"env": {"K": "x" * 32_769}}, "env['K']=", "at most 32,768 bytes (UTF-8)"),
    "env-value-too-big-in-bytes": ({"env": {"K": "é" * 16_385}}, "env['K']=", "at most 32,768 bytes (UTF-8)"),
    "env-value-with-nul": ({"env": {"K": "a\0"}}, "env['K']='a\\x00'", "without NUL characters"),
    "env-too-many": ({"env": {f"V{i}": "x" for i in range(990)}, "secret_env": {f"S{i}": "s" for i in range(11)}},
                     "env='1001 variables'", "at most 1000 per container"),
    "env-and-secret-env-clash": ({"env": {"K": "v"}, "secret_env": {"K": "s"}}, "secret_env='K'", "not also given in env"),
    "secret-env-reserved": ({"secret_env": {"CLOUD_RUN_JOB": "s"}}, "secret_env='CLOUD_RUN_JOB'", "Cloud Run sets"),
    "secret-id-bad": ({"secret_env": {"K": "api key"}}, "secret_env['K'].secret='api key'", "1-255 letters, digits"),
    "secret-id-too-long": ({"secret_env": {"K": "s" * 256}}, "secret_env['K'].secret=", "1-255"),
    "secret-path-bad": ({"secret_env": {"K": "projects/p/secrets/"}}, "secret_env['K'].secret=", "projects/PROJECT/secrets/ID"),
    "secret-path-version-suffix": ({"secret_env": {"K": "projects/p/secrets/s/versions/1"}},
                                   "secret_env['K'].secret=", "projects/PROJECT/secrets/ID"),
    "secret-version-zero": ({"secret_env": {"K": SecretEnv("s", version="0")}}, "secret_env['K'].version='0'",
                            "a version number (1, 2, ...)"),
    "secret-version-reserved-alias": ({"secret_env": {"K": SecretEnv("s", version="New")}},
                                      "secret_env['K'].version='New'", "a version alias"),
    "secret-version-latest-capitalized": ({"secret_env": {"K": SecretEnv("s", version="Latest")}},
                                          "secret_env['K'].version='Latest'", '"latest"'),
    "secret-not-a-secret": ({"secret_env": {"K": 3}}, "secret_env['K']=3", "a secret id, a secret path or a SecretEnv"),
    "producer-env-clash": ({"worker_can_enqueue": True, "env": {"CLOUD_TASKS_QUEUE_PATH": "x"}},
                           "env='CLOUD_TASKS_QUEUE_PATH'", "worker_can_enqueue"),
    "runtime-account-not-an-email": ({"runtime_service_account": "worker"}, "runtime_service_account='worker'",
                                     "a service account email"),
    "invoker-account-a-user": ({"invoker_service_account": "someone@gmail.com"},
                               "invoker_service_account='someone@gmail.com'", "a service account email"),
    "retry-attempts-zero": ({"retry": RetryPolicy(max_attempts=0)}, "retry.max_attempts=0", "or -1"),
    "retry-backoff-format": ({"retry": RetryPolicy(min_backoff="1m")}, "retry.min_backoff='1m'", '"600s"'),
    "retry-backoffs-reversed": ({"retry": RetryPolicy(min_backoff="60s", max_backoff="10s")},
                                "retry.min_backoff='60s'", "at most retry.max_backoff ('10s')"),
    "retry-doublings-negative": ({"retry": RetryPolicy(max_doublings=-1)}, "retry.max_doublings=-1", "from 1"),
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
    assert message.startswith(f"{construct}: "), message
    assert names in message and allowed in message, message


@pytest.mark.parametrize("options, names, allowed", WORKER_ERRORS.values(), ids=WORKER_ERRORS.keys())
def test_queue_worker_rejects(options, names, allowed):
    assert_rejected(worker, options, "QueueWorker test/worker", names, allowed)


CRON = "unix-cron, five fields"

TRIGGER_ERRORS = {
    "cron-six-fields": ({"schedule": "0 * * * * *"}, "schedule='0 * * * * *'", "6 fields, not 5"),
    "cron-nickname": ({"schedule": "@hourly"}, "schedule='@hourly'", "1 field, not 5"),
    "cron-minute-out-of-range": ({"schedule": "61 * * * *"}, "schedule='61 * * * *'", "61 is outside 0-59"),
    "cron-day-of-month-zero": ({"schedule": "0 0 0 * *"}, "schedule=", "0 is outside 1-31"),
    "cron-day-of-week-eight": ({"schedule": "0 0 * * 8"}, "schedule=", "8 is outside 0-7"),
    "cron-last-day": ({"schedule": "0 0 L * *"}, "schedule='0 0 L * *'", "'L' is not a value"),
    "cron-nth-weekday": ({"schedule": "0 0 * * MON#1"}, "schedule=", "'MON#1' is not a value"),
    "cron-question-mark": ({"schedule": "0 0 ? * *"}, "schedule=", "'?' is not a value"),
    "cron-nearest-weekday": ({"schedule": "0 0 15W * *"}, "schedule=", "'15W' is not a value"),
    "cron-lowercase-name": ({"schedule": "0 0 * jan *"}, "schedule=", "'jan' is not a value"),
    "cron-name-in-wrong-field": ({"schedule": "0 0 * MON *"}, "schedule=", "'MON' is not a month (names JAN-DEC)"),
    "cron-step-after-a-value": ({"schedule": "5/15 * * * *"}, "schedule=", "/15 follows a range or *"),
    "cron-step-zero": ({"schedule": "*/0 * * * *"}, "schedule=", "a step is a whole number from 1"),
    "cron-range-backwards": ({"schedule": "0 5-1 * * *"}, "schedule=", "range '5-1' runs backwards"),
    "cron-star-in-a-list": ({"schedule": "*,5 * * * *"}, "schedule=", "* stands alone"),
    "english-singular-unit": ({"schedule": "every 5 minute"}, "schedule='every 5 minute'", CRON),
    "english-zero-interval": ({"schedule": "every 0 hours"}, "schedule='every 0 hours'", CRON),
    "english-no-time": ({"schedule": "every monday"}, "schedule='every monday'", CRON),
    "english-am-pm": ({"schedule": "every monday 9am"}, "schedule='every monday 9am'", CRON),
    "english-half-range": ({"schedule": "every 2 hours from 10:00"}, "schedule=", CRON),
    "english-range-and-synchronized": ({"schedule": "every 2 hours from 10:00 to 14:00 synchronized"}, "schedule=", CRON),
    "english-capitalized": ({"schedule": "Every Monday 09:00"}, "schedule=", CRON),
    "english-day-32": ({"schedule": "32 of month 09:00"}, "schedule=", CRON),
    "english-hour-24": ({"schedule": "every day 24:00"}, "schedule=", CRON),
    "time-zone-unknown": ({"time_zone": "Mars/Olympus"}, "time_zone='Mars/Olympus'", "tz database"),
    "time-zone-wrong-case": ({"time_zone": "europe/paris"}, "time_zone='europe/paris'", "tz database"),
    "time-zone-placeholder": ({"time_zone": "Factory"}, "time_zone='Factory'", "tz database"),
    "time-zone-empty": ({"time_zone": ""}, "time_zone=''", "tz database"),
    "name-bad-characters": ({"name": "nightly report"}, "name='nightly report'", "letters, digits, hyphens"),
    "region-a-zone": ({"region": "europe-west3-a"}, "region='europe-west3-a'", "not a zone"),
    "attempt-deadline-too-short": ({"attempt_deadline": "5s"}, "attempt_deadline='5s'", "between 15s and 1800s"),
    "attempt-deadline-too-long": ({"attempt_deadline": "1801s"}, "attempt_deadline='1801s'", "between 15s and 1800s"),
    "retry-count-too-many": ({"retry": SchedulerRetry(retry_count=6)}, "retry.retry_count=6", "from 0 to 5"),
    "retry-backoffs-reversed": ({"retry": SchedulerRetry(min_backoff_duration="20s", max_backoff_duration="5s")},
                                "retry.min_backoff_duration='20s'", "at most retry.max_backoff_duration"),
    "empty-args": ({"args": []}, "args=[]", "None to keep the job's args"),
    "args-with-nul": ({"args": ["--task", "a\0"]}, "args[1]='a\\x00'", "without NUL characters"),
    "args-too-many": ({"args": ["x"] * 1001}, "args='1001 strings'", "at most 1000"),
    "env-reserved": ({"env": {"CLOUD_RUN_EXECUTION": "x"}}, "env='CLOUD_RUN_EXECUTION'", "Cloud Run sets itself"),
    "env-changes-the-interpreter": ({"env": {"PYTHONPATH": "/tmp"}}, "env='PYTHONPATH'",
                                    "changes how the container's interpreter starts"),
    "env-preloads-a-library": ({"env": {"LD_PRELOAD": "/tmp/x.so"}}, "env='LD_PRELOAD'", "interpreter starts"),
    "env-value-too-big": ({"env": {"K": "x" * 32_769}}, "env['K']=", "at most 32,768 bytes"),
    "env-too-many": ({"env": {f"V{i}": "x" for i in range(1001)}}, "env='1001 variables'", "at most 1000"),
    "task-count-zero": ({"task_count": 0}, "task_count=0", "from 1 to 10000"),
    "caller-account-not-an-email": ({"caller_service_account": "caller"}, "caller_service_account='caller'",
                                    "a service account email"),
    "not-a-job": ({"job": "my-job"}, "job='my-job'", "a QueueWorker, or a CloudRunV2Job made with cdktf"),
    "description-too-long": ({"description": "d" * 501}, "description=", "at most 500 characters"),
}


@pytest.mark.parametrize("options, names, allowed", TRIGGER_ERRORS.values(), ids=TRIGGER_ERRORS.keys())
def test_scheduled_trigger_rejects(options, names, allowed):
    assert_rejected(trigger, options, "ScheduledTrigger test/trigger", names, allowed)


def grant(member, **options):
    worker().grant_enqueue(member, **options)


GRANT_ERRORS = {
    "no-type": ("web@p.iam.gserviceaccount.com", "grant_enqueue member='web@p.iam.gserviceaccount.com'",
                "an IAM member of one identity"),
    "all-users": ("allUsers", "grant_enqueue member='allUsers'", "never allUsers"),
    "all-authenticated-users": ("allAuthenticatedUsers", "member='allAuthenticatedUsers'", "never allUsers"),
    "a-group": ("group:team@example.com", "member='group:team@example.com'", "allow_many_identities=True"),
    "a-domain": ("domain:example.com", "member='domain:example.com'", "allow_many_identities=True"),
    "a-principal-set": ("principalSet://iam.googleapis.com/locations/global/workforcePools/p/group/g",
                        "member='principalSet://", "allow_many_identities=True"),
    "service-account-without-email": ("serviceAccount:web", "member='serviceAccount:web'", "one identity"),
    "user-without-email": ("user:", "member='user:'", "one identity"),
    "principal-without-subject": ("principal://iam.googleapis.com/locations/global/workforcePools/p",
                                  "member='principal://", "one identity"),
    "deleted-member": ("deleted:serviceAccount:web@p.iam.gserviceaccount.com?uid=1", "member='deleted:", "one identity"),
}


@pytest.mark.parametrize("member, names, allowed", GRANT_ERRORS.values(), ids=GRANT_ERRORS.keys())
def test_grant_enqueue_rejects(member, names, allowed):
    assert_rejected(grant, {"member": member}, "QueueWorker test/worker", names, allowed)


def test_grant_enqueue_needs_an_id_for_a_member_that_is_a_reference():
    stack = new_stack()
    member = TerraformVariable(stack, "member", type="string").string_value
    with pytest.raises(ConstructValidationError, match="an id for this grant"):
        worker(stack).grant_enqueue(member)


def test_grant_enqueue_rejects_the_same_id_for_another_member():
    queue_worker = worker()
    queue_worker.grant_enqueue("serviceAccount:a@p.iam.gserviceaccount.com", id="web")
    with pytest.raises(ConstructValidationError, match="id='web'.*to another member"):
        queue_worker.grant_enqueue("serviceAccount:b@p.iam.gserviceaccount.com", id="web")


def test_a_member_whose_identity_is_a_reference_is_checked_for_its_type():
    stack = new_stack()
    email = TerraformVariable(stack, "email", type="string").string_value
    queue_worker = worker(stack)
    queue_worker.grant_enqueue(f"serviceAccount:{email}", id="web")
    with pytest.raises(ConstructValidationError, match="allow_many_identities=True"):
        queue_worker.grant_enqueue(f"group:{email}", id="team")


def test_two_workers_of_one_name_in_one_region_are_refused():
    stack = new_stack()
    QueueWorker(stack, "first", name="jobs", image="example/image:1", region="europe-west1")
    with pytest.raises(ConstructValidationError, match="QueueWorker test/second: name='jobs'.*already used by "
                                                       "QueueWorker test/first"):
        QueueWorker(stack, "second", name="jobs", image="example/image:1", region="europe-west1")


def test_unresolved_references_pass_through():
    stack = new_stack()

    def variable(name, type="string"):
        value = TerraformVariable(stack, name, type=type)
        return {"string": lambda: value.string_value, "number": lambda: value.number_value,
                "list": lambda: value.list_value, "map": lambda: Token.as_string_map(value.value)}[type]()

    queue_worker = QueueWorker(
        stack, "worker", name=variable("name"), image=variable("image"), region=variable("region"),
        cpu=variable("cpu"), memory=variable("memory"), timeout=variable("timeout"),
        max_retries=variable("retries", "number"), task_count=variable("tasks", "number"),
        command=variable("command", "list"), args=[variable("arg")], env={"MODE": variable("mode")},
        secret_env={"KEY": SecretEnv(variable("secret"), version=variable("version"))},
        labels=variable("labels", "map"), runtime_service_account=variable("runtime"),
        retry=RetryPolicy(min_backoff=variable("min_backoff"), max_backoff="10s",
                          max_doublings=variable("doublings", "number")),
    )
    queue_worker.grant_enqueue(variable("member"), id="member")
    ScheduledTrigger(stack, "trigger", job=queue_worker, schedule=variable("schedule"), region=variable("where"),
                     time_zone=variable("time_zone"), attempt_deadline=variable("deadline"),
                     args=[variable("task")], env={"RUN": variable("run")}, caller_service_account=variable("caller"),
                     task_count=variable("count", "number"))
