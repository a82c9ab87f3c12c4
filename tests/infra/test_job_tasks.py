"""Executions started by a trigger run as many tasks as asked (one by default), and synth
warns when a queue's rate could start more job executions than Cloud Run runs at once."""

import warnings

import pytest
from cdktf_cdktf_provider_google.cloud_run_v2_job import CloudRunV2Job

from constructs_lib import ConstructWarning, QueueWorker, RateLimits, ScheduledTrigger

from .synth import decode_body, new_stack, only, resources, synth


def caller_role(stack):
    (grant,) = [g for g in resources(stack, "google_cloud_run_v2_job_iam_member").values() if "_caller_" in g["member"]]
    return grant["role"]


def triggered(task_count_of_job, **trigger_options):
    def build(stack):
        worker = QueueWorker(stack, "w", name="jobs", image="example/image:1", region="europe-west1",
                             task_count=task_count_of_job)
        ScheduledTrigger(stack, "t", job=worker, schedule="0 3 * * *", **trigger_options)
    stack = synth(build)
    target = only(stack, "google_cloud_scheduler_job")["http_target"]
    return stack, (decode_body(target["body"]) if "body" in target else None)


def test_a_job_of_several_tasks_is_started_with_one_task():
    stack, body = triggered(4)
    assert body == {"overrides": {"taskCount": 1}}
    assert caller_role(stack) == "roles/run.jobsExecutorWithOverrides"


def test_a_job_of_one_task_needs_no_override_and_no_override_permission():
    stack, body = triggered(1)
    assert body is None
    assert caller_role(stack) == "roles/run.invoker"


def test_a_trigger_may_ask_for_more_tasks_with_its_args():
    _, body = triggered(1, task_count=3, args=["--shard"])
    assert body == {"overrides": {"containerOverrides": [{"args": ["--shard"]}], "taskCount": 3}}


def test_a_trigger_may_run_the_jobs_own_task_count():
    _, body = triggered(4, task_count=None)
    assert body is None


@pytest.mark.parametrize("template, expected", [
    ({"task_count": 5, "template": {"containers": [{"image": "x/y:1"}]}}, {"overrides": {"taskCount": 1}}),
    ({"template": {"containers": [{"image": "x/y:1"}]}}, None),
])
def test_a_plain_cloud_run_job_is_started_with_one_task(template, expected):
    def build(stack):
        job = CloudRunV2Job(stack, "batch", name="batch", location="europe-west1", deletion_protection=False,
                            template=template)
        ScheduledTrigger(stack, "t", job=job, schedule="0 3 * * *")
    target = only(synth(build), "google_cloud_scheduler_job")["http_target"]
    assert (decode_body(target["body"]) if "body" in target else None) == expected


# --- running executions -------------------------------------------------------------------

def test_a_rate_that_could_pass_the_regions_running_executions_warns_at_the_callers_line():
    with pytest.warns(ConstructWarning) as caught:
        QueueWorker(new_stack(), "w", name="jobs", image="example/image:1", region="europe-west1",
                    rate_limits=RateLimits(max_dispatches_per_second=5))
    (warning,) = caught
    message = str(warning.message)
    assert message.startswith("QueueWorker test/w: rate_limits.max_dispatches_per_second=5 with timeout='600s'")
    assert "3,000 job executions running at once, above Cloud Run's 1,000 per project and region" in message
    assert "lower the rate to 1.67/s" in message
    assert warning.filename == __file__


@pytest.mark.parametrize("rate, timeout", [(1, "600s"), (0.25, "3600s"), (500, "2s")])
def test_a_rate_that_cannot_pass_it_does_not_warn(rate, timeout):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConstructWarning)
        QueueWorker(new_stack(), "w", name="jobs", image="example/image:1", region="europe-west1", timeout=timeout,
                    rate_limits=RateLimits(max_dispatches_per_second=rate))
