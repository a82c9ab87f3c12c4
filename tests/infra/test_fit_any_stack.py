"""The constructs fit stacks they were not written for: an aliased provider for another
project, service accounts that exist already, resources to wait for, and grants that
others make too. Here, in one stack with two providers."""

import pytest
from cdktf_cdktf_provider_google.cloud_run_v2_job import CloudRunV2Job
from cdktf_cdktf_provider_google.cloud_run_v2_service import CloudRunV2Service
from cdktf_cdktf_provider_google.project_service import ProjectService
from cdktf_cdktf_provider_google.provider import GoogleProvider

from constructs_lib import QueueWorker, ScheduledTrigger
from constructs_lib.iam import service_account_member

from .synth import all_resources, only, resources, synth

OTHER = "google.other"
API = "google_project_service.run-api"
RUNTIME = "runtime@other-project.iam.gserviceaccount.com"
INVOKER = "invoker@other-project.iam.gserviceaccount.com"
CALLER = "caller@other-project.iam.gserviceaccount.com"
WEB = "serviceAccount:web@other-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def two_providers():
    def build(stack):  # the default provider (project example-project) comes with the stack
        other = GoogleProvider(stack, "other", alias="other", project="other-project")
        api = ProjectService(stack, "run-api", service="run.googleapis.com", provider=other)
        worker = QueueWorker(
            stack, "worker", name="jobs", image="example/image:1", region="asia-east1", provider=other,
            depends_on=[api], runtime_service_account=RUNTIME, invoker_service_account=INVOKER,
            secret_env={"API_KEY": "api-key"}, worker_can_enqueue=True,
        )
        worker.grant_enqueue(WEB)
        service = CloudRunV2Service(stack, "web", name="web", location="asia-east1", provider=other,
                                    template={"containers": [{"image": "example/web:1"}]})
        worker.allow_push_to_service(service)
        ScheduledTrigger(stack, "nightly", job=worker, schedule="0 3 * * *", args=["--all"], depends_on=[api],
                         caller_service_account=CALLER)
        QueueWorker(stack, "local", name="local", image="example/image:1", region="europe-west1")
    return synth(build)


def made_by(stack, path_part):
    """The Google resources made by the construct `path_part` (its waits for IAM are
    hashicorp/time's, on the stack's time provider)."""
    return [(kind, body) for kind, logical_id, body in all_resources(stack)
            if path_part in logical_id and kind.startswith("google_")
            and kind not in ("google_project_service", "google_cloud_run_v2_service")]


def test_every_resource_of_both_constructs_uses_the_given_provider(two_providers):
    made = made_by(two_providers, "worker") + made_by(two_providers, "nightly")
    assert len(made) >= 9
    assert {body.get("provider") for _, body in made} == {OTHER}


def test_constructs_without_the_option_use_the_stacks_default_provider(two_providers):
    made = made_by(two_providers, "local")
    assert made and all("provider" not in body for _, body in made)


def test_every_resource_waits_for_what_depends_on_names(two_providers):
    made = made_by(two_providers, "worker") + made_by(two_providers, "nightly")
    assert all(API in body.get("depends_on", []) for _, body in made)


def test_existing_identities_are_used_and_not_created(two_providers):
    created = {body["account_id"] for body in resources(two_providers, "google_service_account").values()}
    assert created == {"local-worker", "local-invoker"}
    job = resources(two_providers, "google_cloud_run_v2_job")
    (worker_job,) = [j for j in job.values() if j["name"] == "jobs"]
    assert worker_job["template"]["template"]["service_account"] == RUNTIME
    scheduler = only(two_providers, "google_cloud_scheduler_job")
    assert scheduler["http_target"]["oauth_token"]["service_account_email"] == CALLER


def test_grants_name_the_existing_identities(two_providers):
    job_members = {g["member"]: g["role"] for g in resources(two_providers, "google_cloud_run_v2_job_iam_member").values()}
    assert job_members[f"serviceAccount:{INVOKER}"] == "roles/run.invoker"
    assert job_members[f"serviceAccount:{CALLER}"] == "roles/run.jobsExecutorWithOverrides"
    act_as = {g["member"]: g["service_account_id"]
              for g in resources(two_providers, "google_service_account_iam_member").values()}
    assert act_as == {WEB: f"projects/-/serviceAccounts/{INVOKER}", f"serviceAccount:{RUNTIME}": f"projects/-/serviceAccounts/{INVOKER}"}
    (reader,) = resources(two_providers, "google_secret_manager_secret_iam_member").values()
    assert reader["member"] == f"serviceAccount:{RUNTIME}"
    (push,) = resources(two_providers, "google_cloud_run_v2_service_iam_member").values()
    assert push["member"] == f"serviceAccount:{INVOKER}"


def test_a_trigger_on_a_plain_job_uses_that_jobs_provider():
    def build(stack):
        other = GoogleProvider(stack, "other", alias="other", project="other-project")
        job = CloudRunV2Job(stack, "cleanup", name="cleanup", location="asia-east1", provider=other,
                            deletion_protection=False, template={"template": {"containers": [{"image": "x/y:1"}]}})
        ScheduledTrigger(stack, "daily", job=job, schedule="30 2 * * *")
    stack = synth(build)
    made = made_by(stack, "daily")
    assert len(made) == 3 and {body.get("provider") for _, body in made} == {OTHER}


# --- the same grant twice is one binding --------------------------------------------------

def test_granting_a_member_twice_makes_one_binding_of_each_role():
    def build(stack):
        worker = QueueWorker(stack, "w", name="jobs", image="example/image:1", region="europe-west1")
        worker.grant_enqueue(WEB)
        worker.grant_enqueue(WEB)
        worker.grant_enqueue(WEB, id="web-again")
    stack = synth(build)
    assert len(resources(stack, "google_cloud_tasks_queue_iam_member")) == 1
    assert len(resources(stack, "google_service_account_iam_member")) == 1


def test_a_worker_that_enqueues_and_is_granted_again_has_one_binding():
    def build(stack):
        worker = QueueWorker(stack, "w", name="jobs", image="example/image:1", region="europe-west1",
                             worker_can_enqueue=True)
        worker.grant_enqueue(service_account_member(worker.service_account), id="runtime")
    stack = synth(build)
    assert len(resources(stack, "google_cloud_tasks_queue_iam_member")) == 1


def test_two_triggers_with_one_existing_caller_share_one_job_binding():
    caller = "caller@example-project.iam.gserviceaccount.com"

    def build(stack):
        worker = QueueWorker(stack, "w", name="jobs", image="example/image:1", region="europe-west1")
        for name in ("morning", "evening"):
            ScheduledTrigger(stack, name, job=worker, schedule="0 3 * * *", args=["--all"],
                             caller_service_account=caller)
    stack = synth(build)
    caller_grants = {i: g for i, g in resources(stack, "google_cloud_run_v2_job_iam_member").items()
                     if g["member"] == f"serviceAccount:{caller}"}
    (grant_id,) = caller_grants
    for scheduler in resources(stack, "google_cloud_scheduler_job").values():
        assert f"google_cloud_run_v2_job_iam_member.{grant_id}" in scheduler["depends_on"]


def test_pushing_to_a_service_twice_is_one_binding():
    def build(stack):
        service = CloudRunV2Service(stack, "web", name="web", location="europe-west1",
                                    template={"containers": [{"image": "example/web:1"}]})
        worker = QueueWorker(stack, "w", name="jobs", image="example/image:1", region="europe-west1")
        worker.allow_push_to_service(service)
        worker.allow_push_to_service(service)
    assert len(resources(synth(build), "google_cloud_run_v2_service_iam_member")) == 1
