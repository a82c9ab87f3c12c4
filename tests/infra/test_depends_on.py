"""`depends_on` on the constructs: every resource they create waits for what it names,
so a stack can make them wait for the Google APIs they use (`google_project_service`);
`node.add_dependency()`, which cdktf would not apply to their resources, is refused."""

import cdktf
import pytest
from cdktf_cdktf_provider_google.cloud_run_v2_service import CloudRunV2Service
from cdktf_cdktf_provider_google.project_service import ProjectService

from constructs_lib import QueueWorker, ScheduledTrigger

from .synth import all_resources, new_stack, synth

API = "google_project_service.run-api"


@pytest.fixture(scope="module")
def waiting_stack():
    def build(stack):
        api = ProjectService(stack, "run-api", service="run.googleapis.com", disable_on_destroy=False)
        worker = QueueWorker(
            stack, "worker", name="jobs", image="example/image:1", region="europe-west1",
            secret_env={"API_KEY": "api-key"}, worker_can_enqueue=True, depends_on=[api],
        )
        worker.grant_enqueue("serviceAccount:web@example-project.iam.gserviceaccount.com")
        worker.allow_push_to_service(CloudRunV2Service(stack, "web", name="web", location="europe-west1",
                                                       template={"containers": [{"image": "example/web:1"}]}))
        ScheduledTrigger(stack, "nightly", job=worker, schedule="0 3 * * *", args=["--all"], depends_on=[api])
    return synth(build)


def test_every_resource_of_both_constructs_waits_for_the_api(waiting_stack):
    made = [(kind, logical_id, body) for kind, logical_id, body in all_resources(waiting_stack)
            if kind not in ("google_project_service", "google_cloud_run_v2_service")]
    assert len(made) >= 11
    not_waiting = [f"{kind}.{logical_id}" for kind, logical_id, body in made if API not in body.get("depends_on", [])]
    assert not_waiting == []


def test_the_scheduler_job_still_waits_for_its_own_grant(waiting_stack):
    (scheduler,) = [body for kind, _, body in all_resources(waiting_stack) if kind == "google_cloud_scheduler_job"]
    assert API in scheduler["depends_on"]
    assert any(dep.startswith("google_cloud_run_v2_job_iam_member.") for dep in scheduler["depends_on"])


def test_without_depends_on_only_what_needs_iam_waits(trigger_stack):
    # The job for its identity to take effect, the scheduler for its grant; each wait for them.
    waiting = {kind for kind, _, body in all_resources(trigger_stack) if "depends_on" in body}
    assert waiting == {"google_cloud_scheduler_job", "google_cloud_run_v2_job", "time_sleep"}


@pytest.mark.parametrize("kind", ["QueueWorker", "ScheduledTrigger"])
def test_node_add_dependency_is_refused_at_synth_pointing_at_depends_on(kind):
    stack = new_stack()
    api = ProjectService(stack, "run-api", service="run.googleapis.com", disable_on_destroy=False)
    worker = QueueWorker(stack, "worker", name="jobs", image="example/image:1", region="europe-west1")
    construct = worker if kind == "QueueWorker" else ScheduledTrigger(stack, "nightly", job=worker, schedule="0 3 * * *")

    construct.node.add_dependency(api)

    with pytest.raises(RuntimeError, match=rf"{kind} test/\w+: node.add_dependency\(\) is not applied .* "
                                           rf"Pass depends_on=\[\.\.\.\] to {kind} instead"):
        cdktf.Testing.synth(stack, run_validations=True)


def test_constructs_without_node_dependencies_pass_validation():
    stack = new_stack()
    worker = QueueWorker(stack, "worker", name="jobs", image="example/image:1", region="europe-west1")
    ScheduledTrigger(stack, "nightly", job=worker, schedule="0 3 * * *")

    cdktf.Testing.synth(stack, run_validations=True)
