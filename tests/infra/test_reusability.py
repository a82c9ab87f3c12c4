"""The constructs drop into any stack: two workers and two triggers, no collisions."""

from collections import Counter

import pytest

from constructs_lib import QueueWorker, ScheduledTrigger

from .synth import all_resources, synth

# Google names that must be unique per project (and location), by resource type.
NAME_FIELDS = {
    "google_cloud_tasks_queue": "name",
    "google_cloud_run_v2_job": "name",
    "google_service_account": "account_id",
    "google_cloud_scheduler_job": "name",
}


@pytest.fixture(scope="module")
def two_of_each():
    def build(stack):
        emails = QueueWorker(stack, "emails", name="emails", image="example/app:1", region="europe-west1")
        reports = QueueWorker(stack, "reports", name="reports", image="example/app:1", region="europe-west1",
                              worker_can_enqueue=True)
        emails.grant_enqueue("serviceAccount:web@example-project.iam.gserviceaccount.com")
        reports.grant_enqueue("serviceAccount:web@example-project.iam.gserviceaccount.com")
        ScheduledTrigger(stack, "nightly", job=emails, schedule="0 2 * * *")
        ScheduledTrigger(stack, "nightly-reports", job=reports, schedule="0 3 * * *", args=["--all"])
    return synth(build, id="unrelated")


def test_no_two_resources_share_a_google_name(two_of_each):
    names = Counter(
        (kind, body[NAME_FIELDS[kind]]) for kind, _, body in all_resources(two_of_each) if kind in NAME_FIELDS
    )
    assert names and all(count == 1 for count in names.values()), names


def test_expected_counts(two_of_each):
    counts = Counter(kind for kind, _, _ in all_resources(two_of_each))
    assert counts["google_cloud_tasks_queue"] == 2
    assert counts["google_cloud_run_v2_job"] == 2
    assert counts["google_cloud_scheduler_job"] == 2
    assert counts["google_service_account"] == 6  # runtime + invoker per worker, caller per trigger
