"""Two constructs of one stack never derive the same service account id in one project:
the second is refused at synth, naming both, instead of failing with 409 at apply."""

import pytest

from constructs_lib import ConstructValidationError, QueueWorker, ScheduledTrigger

from .synth import new_stack, resources, synth


def worker(stack, id="worker", name="jobs", **options):
    return QueueWorker(stack, id, name=name, image="example/image:1", region="europe-west1", **options)


def test_two_triggers_named_alike_in_two_regions_are_refused():
    stack = new_stack()
    jobs = worker(stack)
    ScheduledTrigger(stack, "paris", job=jobs, schedule="0 3 * * *", name="nightly", region="europe-west9")
    with pytest.raises(ConstructValidationError) as error:
        ScheduledTrigger(stack, "frankfurt", job=jobs, schedule="0 3 * * *", name="nightly", region="europe-west3")
    message = str(error.value)
    assert message.startswith("ScheduledTrigger test/frankfurt: name='nightly' is not valid")
    assert "'nightly-sched'" in message and "ScheduledTrigger test/paris" in message
    assert "pass caller_service_account" in message


@pytest.mark.parametrize("first, second", [("Nightly_Report", "nightly-report"), ("nightly", "nightly-"),
                                           ("reports-daily", "reports_daily")])
def test_trigger_names_that_differ_only_in_case_or_punctuation_are_refused(first, second):
    stack = new_stack()
    jobs = worker(stack)
    ScheduledTrigger(stack, "first", job=jobs, schedule="0 3 * * *", name=first)
    with pytest.raises(ConstructValidationError, match="already derived for ScheduledTrigger test/first"):
        ScheduledTrigger(stack, "second", job=jobs, schedule="0 3 * * *", name=second)


def test_two_workers_of_one_name_in_two_regions_are_refused_for_their_accounts():
    stack = new_stack()
    worker(stack, "europe")
    with pytest.raises(ConstructValidationError) as error:
        QueueWorker(stack, "asia", name="jobs", image="example/image:1", region="asia-east1")
    assert "'jobs-worker'" in str(error.value) and "QueueWorker test/europe" in str(error.value)
    assert "pass runtime_service_account" in str(error.value)


def test_the_same_name_in_two_regions_works_with_existing_identities():
    accounts = {"runtime_service_account": "jobs@example-project.iam.gserviceaccount.com",
                "invoker_service_account": "jobs-invoker@example-project.iam.gserviceaccount.com"}

    def build(stack):
        worker(stack, "europe", **accounts)
        QueueWorker(stack, "asia", name="jobs", image="example/image:1", region="asia-east1", **accounts)
    stack = synth(build)
    assert {q["location"] for q in resources(stack, "google_cloud_tasks_queue").values()} == {"europe-west1", "asia-east1"}
    assert resources(stack, "google_service_account") == {}


def test_workers_in_two_projects_may_derive_the_same_ids():
    def build(stack):
        worker(stack, "a", project="project-a")
        worker(stack, "b", project="project-b")
    ids = sorted(body["account_id"] for body in resources(synth(build), "google_service_account").values())
    assert ids == ["jobs-invoker", "jobs-invoker", "jobs-worker", "jobs-worker"]


def test_every_derived_id_in_a_stack_of_many_constructs_is_distinct():
    def build(stack):
        for i in range(20):
            jobs = worker(stack, f"w{i}", name=f"customer-notifications-{i}")
            ScheduledTrigger(stack, f"t{i}", job=jobs, schedule="0 3 * * *")
    ids = [body["account_id"] for body in resources(synth(build), "google_service_account").values()]
    assert len(ids) == 60 and len(set(ids)) == 60
