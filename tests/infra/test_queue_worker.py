"""What QueueWorker makes, option by option, and the IAM it grants."""

import pytest

from .synth import dependencies, only, ref, resources

QUEUE = "google_cloud_tasks_queue"
JOB = "google_cloud_run_v2_job"
SA = "google_service_account"


def container(stack):
    (c,) = only(stack, JOB)["template"]["template"]["containers"]
    return c


def env_of(stack):
    return {e["name"]: e.get("value", e.get("value_source")) for e in container(stack).get("env", [])}


def accounts(stack):
    return {body["account_id"]: logical_id for logical_id, body in resources(stack, SA).items()}


def iam(stack, kind):
    return list(resources(stack, kind).values())


# --- defaults -------------------------------------------------------------------------

def test_queue_and_job_take_the_name_and_region(minimal_worker_stack):
    queue, job = only(minimal_worker_stack, QUEUE), only(minimal_worker_stack, JOB)
    assert (queue["name"], queue["location"]) == ("jobs", "europe-west1")
    assert (job["name"], job["location"]) == ("jobs", "europe-west1")


def test_job_defaults(minimal_worker_stack):
    job = only(minimal_worker_stack, JOB)
    template = job["template"]
    assert template["task_count"] == 1 and "parallelism" not in template
    assert template["template"]["timeout"] == "600s"
    assert template["template"]["max_retries"] == 3
    assert container(minimal_worker_stack)["resources"] == {"limits": {"cpu": "1", "memory": "512Mi"}}
    assert job["deletion_protection"] is True
    assert "command" not in container(minimal_worker_stack) and "args" not in container(minimal_worker_stack)


def test_job_runs_as_its_runtime_service_account(minimal_worker_stack):
    assert accounts(minimal_worker_stack).keys() == {"jobs-worker", "jobs-invoker"}
    runtime_id = accounts(minimal_worker_stack)["jobs-worker"]
    assert only(minimal_worker_stack, JOB)["template"]["template"]["service_account"] == (
        f"${{google_service_account.{runtime_id}.email}}"
    )


def test_queue_defaults_guard_against_runaway_dispatch_and_leave_retries_to_cloud_tasks(minimal_worker_stack):
    queue = only(minimal_worker_stack, QUEUE)
    assert queue["rate_limits"] == {"max_dispatches_per_second": 1, "max_concurrent_dispatches": 10}
    assert "retry_config" not in queue
    assert "stackdriver_logging_config" not in queue


def test_invoker_may_start_the_job_as_defined_and_nothing_else(minimal_worker_stack):
    # Without runWithOverrides, no task can choose an execution's args or env.
    (grant,) = iam(minimal_worker_stack, "google_cloud_run_v2_job_iam_member")
    invoker_id = accounts(minimal_worker_stack)["jobs-invoker"]
    invoker = f"serviceAccount:${{google_service_account.{invoker_id}.email}}"
    granted = {(kind, g["role"]) for kind in minimal_worker_stack["resource"] if kind.endswith("_iam_member")
               for g in iam(minimal_worker_stack, kind) if g["member"] == invoker}
    assert granted == {("google_cloud_run_v2_job_iam_member", "roles/run.invoker")}
    assert grant["member"] == f"serviceAccount:${{google_service_account.{invoker_id}.email}}"
    assert grant["name"] == ref(JOB, minimal_worker_stack, "name")
    assert grant["location"] == ref(JOB, minimal_worker_stack, "location")
    kinds = set(minimal_worker_stack["resource"])
    assert kinds == {QUEUE, JOB, SA, "google_cloud_run_v2_job_iam_member", "time_sleep"}


def test_allow_task_overrides_grants_the_invoker_the_overrides_role_instead(full_worker_stack):
    (grant,) = iam(full_worker_stack, "google_cloud_run_v2_job_iam_member")
    assert grant["role"] == "roles/run.jobsExecutorWithOverrides"
    assert grant["member"] == f"serviceAccount:${{google_service_account.{accounts(full_worker_stack)['reports-invoker']}.email}}"


def test_producer_environment_is_not_on_the_job_unless_asked(minimal_worker_stack):
    assert "env" not in container(minimal_worker_stack)


# --- every option ---------------------------------------------------------------------

def test_container_options_reach_the_job(full_worker_stack):
    c = container(full_worker_stack)
    assert c["image"] == "example/image:2"
    assert c["command"] == ["python", "manage.py"] and c["args"] == ["run_task"]
    assert c["resources"] == {"limits": {"cpu": "2", "memory": "4Gi"}}
    assert env_of(full_worker_stack) == {
        "MODE": "batch",
        "API_KEY": {"secret_key_ref": {"secret": "api-key", "version": "latest"}},
        "DB_PASSWORD": {"secret_key_ref": {"secret": "db-password", "version": "3"}},
    }


def test_execution_options_reach_the_job(full_worker_stack):
    job = only(full_worker_stack, JOB)
    assert job["template"]["task_count"] == 4 and job["template"]["parallelism"] == 2
    assert job["template"]["template"]["timeout"] == "7200s"
    assert job["template"]["template"]["max_retries"] == 1
    assert job["labels"] == {"team": "data"}
    assert job["deletion_protection"] is False


def test_project_is_set_on_every_resource_that_takes_it(full_worker_stack):
    assert only(full_worker_stack, QUEUE)["project"] == "example-project"
    assert only(full_worker_stack, JOB)["project"] == "example-project"
    assert {body["project"] for body in resources(full_worker_stack, SA).values()} == {"example-project"}


def test_queue_options_reach_the_queue(full_worker_stack):
    queue = only(full_worker_stack, QUEUE)
    assert queue["retry_config"] == {
        "max_attempts": 7, "min_backoff": "5s", "max_backoff": "300s", "max_doublings": 3,
        "max_retry_duration": "3600s",
    }
    assert queue["rate_limits"] == {"max_dispatches_per_second": 2.5, "max_concurrent_dispatches": 4}
    assert queue["stackdriver_logging_config"] == {"sampling_ratio": 0.5}


def test_runtime_identity_reads_exactly_the_secrets_it_is_given(full_worker_stack):
    runtime_id = accounts(full_worker_stack)["reports-worker"]
    grants = iam(full_worker_stack, "google_secret_manager_secret_iam_member")
    assert sorted(g["secret_id"] for g in grants) == ["api-key", "db-password"]
    for grant in grants:
        assert grant["role"] == "roles/secretmanager.secretAccessor"
        assert grant["member"] == f"serviceAccount:${{google_service_account.{runtime_id}.email}}"


def test_job_waits_for_its_secret_grants_to_take_effect(full_worker_stack):
    # Cloud Run checks secret access when it creates the job; a job created first fails.
    grants = {f"google_secret_manager_secret_iam_member.{i}" for i in resources(full_worker_stack, "google_secret_manager_secret_iam_member")}
    assert len(grants) == 2
    (wait,) = [f"time_sleep.{i}" for i in resources(full_worker_stack, "time_sleep")]
    (job,) = [f"{JOB}.{i}" for i in resources(full_worker_stack, JOB)]
    assert wait in dependencies(full_worker_stack, job)
    assert grants <= dependencies(full_worker_stack, wait)
    assert only(full_worker_stack, "time_sleep")["create_duration"] == "120s"


# --- grants ---------------------------------------------------------------------------

PRODUCER = "serviceAccount:producer@example-project.iam.gserviceaccount.com"


def test_grant_enqueue_gives_enqueuer_on_this_queue_only(full_worker_stack):
    (grant,) = iam(full_worker_stack, "google_cloud_tasks_queue_iam_member")
    assert grant == grant | {
        "role": "roles/cloudtasks.enqueuer", "member": PRODUCER,
        "name": ref(QUEUE, full_worker_stack, "name"), "location": ref(QUEUE, full_worker_stack, "location"),
    }


def test_grant_enqueue_lets_the_producer_act_as_the_invoker_only(full_worker_stack):
    (grant,) = iam(full_worker_stack, "google_service_account_iam_member")
    invoker_id = accounts(full_worker_stack)["reports-invoker"]
    assert grant["role"] == "roles/iam.serviceAccountUser"
    assert grant["member"] == PRODUCER
    assert grant["service_account_id"] == f"${{google_service_account.{invoker_id}.name}}"


def test_worker_can_enqueue_sets_producer_environment_and_grants_its_identity(enqueuing_worker_stack):
    env = env_of(enqueuing_worker_stack)
    invoker_id = accounts(enqueuing_worker_stack)["chain-invoker"]
    runtime_id = accounts(enqueuing_worker_stack)["chain-worker"]
    assert env == {
        "CLOUD_TASKS_QUEUE_PATH": ref(QUEUE, enqueuing_worker_stack, "id"),
        "CLOUD_TASKS_INVOKER_EMAIL": f"${{google_service_account.{invoker_id}.email}}",
        "CLOUD_RUN_JOB_PATH": f"projects/{ref(QUEUE, enqueuing_worker_stack, 'project')}/locations/europe-west1/jobs/chain",
    }
    runtime = f"serviceAccount:${{google_service_account.{runtime_id}.email}}"
    assert [g["member"] for g in iam(enqueuing_worker_stack, "google_cloud_tasks_queue_iam_member")] == [runtime]
    assert [g["member"] for g in iam(enqueuing_worker_stack, "google_service_account_iam_member")] == [runtime]


@pytest.fixture(scope="module")
def push_stack():
    from cdktf_cdktf_provider_google.cloud_run_v2_service import CloudRunV2Service

    from .conftest import minimal_worker
    from .synth import synth

    def build(stack):
        service = CloudRunV2Service(stack, "web", name="web", location="europe-west1",
                                    template={"containers": [{"image": "example/web:1"}]})
        minimal_worker(stack).allow_push_to_service(service)
    return synth(build)


def test_allow_push_to_service_grants_invoker_on_that_service_only(push_stack):
    (grant,) = iam(push_stack, "google_cloud_run_v2_service_iam_member")
    invoker_id = accounts(push_stack)["jobs-invoker"]
    assert grant["role"] == "roles/run.invoker"
    assert grant["member"] == f"serviceAccount:${{google_service_account.{invoker_id}.email}}"
    assert grant["name"] == "${google_cloud_run_v2_service.web.name}"
