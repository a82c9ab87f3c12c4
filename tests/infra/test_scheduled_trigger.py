"""What ScheduledTrigger makes: an OAuth-authenticated jobs:run call and job-scoped IAM."""

import pytest

from .synth import decode_body, only, ref, resources

SCHEDULER = "google_cloud_scheduler_job"
JOB = "google_cloud_run_v2_job"
GRANT = "google_cloud_run_v2_job_iam_member"


def caller_grant(stack):
    """The grant whose member is the trigger's caller (the worker's invoker has its own)."""
    grants = [g for g in resources(stack, GRANT).values() if "_caller_" in g["member"]]
    assert len(grants) == 1, grants
    return grants[0]


def test_calls_the_v2_run_api_of_the_job_with_post(trigger_stack):
    target = only(trigger_stack, SCHEDULER)["http_target"]
    assert target["http_method"] == "POST"
    assert target["uri"] == (
        f"https://run.googleapis.com/v2/projects/{ref(JOB, trigger_stack, 'project')}"
        f"/locations/{ref(JOB, trigger_stack, 'location')}/jobs/{ref(JOB, trigger_stack, 'name')}:run"
    )


def test_authenticates_with_an_oauth_token_not_oidc(trigger_stack):
    target = only(trigger_stack, SCHEDULER)["http_target"]
    assert "oidc_token" not in target
    assert target["oauth_token"]["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    caller_id = next(i for i in resources(trigger_stack, "google_service_account") if "_caller_" in i)
    assert target["oauth_token"]["service_account_email"] == f"${{google_service_account.{caller_id}.email}}"


def test_without_overrides_the_caller_gets_run_invoker_on_the_job_only(trigger_stack):
    grant = caller_grant(trigger_stack)
    assert grant["role"] == "roles/run.invoker"
    assert grant["name"] == ref(JOB, trigger_stack, "name")
    assert "body" not in only(trigger_stack, SCHEDULER)["http_target"]


def test_with_overrides_the_caller_gets_executor_with_overrides(trigger_with_overrides_stack):
    assert caller_grant(trigger_with_overrides_stack)["role"] == "roles/run.jobsExecutorWithOverrides"


def test_overrides_travel_in_the_run_request_body(trigger_with_overrides_stack):
    target = only(trigger_with_overrides_stack, SCHEDULER)["http_target"]
    assert target["headers"] == {"Content-Type": "application/json"}
    assert decode_body(target["body"]) == {"overrides": {"containerOverrides": [{
        "args": ["--task", "reports.tasks.hourly"], "env": [{"name": "REPORT", "value": "short"}],
    }]}}


def test_defaults(trigger_stack):
    job = only(trigger_stack, SCHEDULER)
    assert job["schedule"] == "0 3 * * *"
    assert job["time_zone"] == "UTC"
    assert job["paused"] is False
    assert job["region"] == "europe-west1"  # the worker's
    assert job["name"] == "test-nightly"  # from the construct path
    for unset in ("description", "attempt_deadline", "retry_config"):
        assert unset not in job


def test_options_reach_the_scheduler_job(trigger_with_overrides_stack):
    job = only(trigger_with_overrides_stack, SCHEDULER)
    assert (job["name"], job["region"], job["time_zone"]) == ("hourly-report", "europe-west3", "Europe/Paris")
    assert (job["description"], job["paused"], job["attempt_deadline"]) == ("Hourly report", True, "320s")
    assert job["retry_config"] == {
        "retry_count": 2, "min_backoff_duration": "10s", "max_backoff_duration": "100s", "max_doublings": 2,
        "max_retry_duration": "600s",
    }


def test_scheduler_waits_for_its_grant_so_the_first_run_is_authorized(trigger_stack):
    (grant_id,) = [i for i, g in resources(trigger_stack, GRANT).items() if "_caller_" in g["member"]]
    assert f"{GRANT}.{grant_id}" in only(trigger_stack, SCHEDULER)["depends_on"]


@pytest.fixture(scope="module")
def plain_job_stack():
    from cdktf_cdktf_provider_google.cloud_run_v2_job import CloudRunV2Job

    from constructs_lib import ScheduledTrigger

    from .synth import synth

    def build(stack):
        job = CloudRunV2Job(stack, "cleanup", name="cleanup", location="asia-east1", deletion_protection=False,
                            template={"template": {"containers": [{"image": "example/cleanup:1"}]}})
        ScheduledTrigger(stack, "daily", job=job, schedule="30 2 * * *", name="cleanup-daily")
    return synth(build)


def test_any_cloud_run_job_can_be_triggered(plain_job_stack):
    scheduler = only(plain_job_stack, SCHEDULER)
    assert scheduler["http_target"]["uri"] == (
        "https://run.googleapis.com/v2/projects/${google_cloud_run_v2_job.cleanup.project}"
        "/locations/${google_cloud_run_v2_job.cleanup.location}/jobs/${google_cloud_run_v2_job.cleanup.name}:run"
    )
    assert scheduler["region"] == "${google_cloud_run_v2_job.cleanup.location}"
    (grant,) = resources(plain_job_stack, GRANT).values()
    assert (grant["name"], grant["role"]) == ("${google_cloud_run_v2_job.cleanup.name}", "roles/run.invoker")
