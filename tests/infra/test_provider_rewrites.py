"""Values the Google provider drops or rewrites either work as written or are refused
with the reason, so no plan shows a change that never settles."""

import pytest

from constructs_lib import ConstructValidationError, QueueWorker, RetryPolicy, ScheduledTrigger, SchedulerRetry, SecretEnv

from .synth import new_stack, only, resources, synth


def worker(stack, **options):
    return QueueWorker(stack, "worker", name="jobs", image="example/image:1", region="europe-west1", **options)


def test_zero_queue_doublings_are_refused_with_the_reason_and_what_to_do_instead():
    with pytest.raises(ConstructValidationError) as error:
        worker(new_stack(), retry=RetryPolicy(max_doublings=0))
    assert "the Google provider does not send 0, so Google's default (16) would apply" in str(error.value)
    assert "set min_backoff equal to max_backoff" in str(error.value)


def test_zero_scheduler_doublings_are_refused_with_the_reason():
    stack = new_stack()
    with pytest.raises(ConstructValidationError) as error:
        ScheduledTrigger(stack, "t", job=worker(stack), schedule="0 3 * * *", retry=SchedulerRetry(max_doublings=0))
    assert "does not send 0, so Google's default (5) would apply" in str(error.value)
    assert "set min_backoff_duration equal to max_backoff_duration" in str(error.value)


def test_a_constant_backoff_is_written_as_equal_bounds():
    stack = synth(lambda s: worker(s, retry=RetryPolicy(min_backoff="30s", max_backoff="30s")))
    assert only(stack, "google_cloud_tasks_queue")["retry_config"] == {"min_backoff": "30s", "max_backoff": "30s"}


def test_a_zero_logging_sampling_ratio_logs_nothing_as_a_queue_without_the_block_does():
    queue = only(synth(lambda s: worker(s, logging_sampling_ratio=0.0)), "google_cloud_tasks_queue")
    assert "stackdriver_logging_config" not in queue


@pytest.mark.parametrize("option", ["min_backoff", "max_backoff", "max_retry_duration"])
def test_fractional_seconds_in_queue_durations_are_refused(option):
    with pytest.raises(ConstructValidationError) as error:
        worker(new_stack(), retry=RetryPolicy(**{option: "10.5s"}))
    assert f"retry.{option}='10.5s'" in str(error.value)
    assert 'whole seconds, such as "10s": Cloud Tasks truncates durations' in str(error.value)


def test_whole_seconds_written_with_a_fraction_are_kept():
    stack = synth(lambda s: worker(s, retry=RetryPolicy(min_backoff="10.0s", max_retry_duration="600s")))
    assert only(stack, "google_cloud_tasks_queue")["retry_config"] == {"min_backoff": "10.0s", "max_retry_duration": "600s"}


def test_a_secret_given_as_a_full_path_is_granted_without_a_second_project():
    stack = synth(lambda s: worker(s, project="app-project", secret_env={
        "SHARED": "projects/secrets-project/secrets/api-key", "LOCAL": "db-password"}))
    grants = {g["secret_id"]: g for g in resources(stack, "google_secret_manager_secret_iam_member").values()}
    assert "project" not in grants["projects/secrets-project/secrets/api-key"]
    assert grants["db-password"]["project"] == "app-project"


def test_two_variables_from_one_secret_make_one_grant():
    stack = synth(lambda s: worker(s, secret_env={
        "KEY": "api-key", "KEY_V1": SecretEnv("api-key", version="1")}))
    assert len(resources(stack, "google_secret_manager_secret_iam_member")) == 1
