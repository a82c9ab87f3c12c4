"""Inputs Google accepts that the constructs used to refuse, and that now reach the
synthesized resources unchanged."""

import pytest

from constructs_lib import QueueWorker, ScheduledTrigger, SecretEnv

from .synth import only, resources, synth

UNIX_CRON = [
    "* * * * *", "*/5 * * * *", "0 */2 * * *", "0-30/10 8-18 * * *", "0 9 * * MON-FRI", "0 9 * * 1-5",
    "0 0 1,15 * *", "15 3 * JAN,JUL SUN", "0 0 * * 7", "0 0 * * 0", "59 23 31 DEC SAT", "0 0 1-7/2 * *",
]
ENGLISH_LIKE = [
    "every 5 minutes", "every 1 mins", "every 12 hours", "every 24 hours", "every 5 minutes from 10:00 to 14:00",
    "every 2 hours synchronized", "every monday 09:00", "every day 00:00", "every mon,wed,fri 9:30",
    "2nd,third mon,wed,thu of march 17:00", "1st monday of sep,oct,nov 17:00", "1,15 of month 09:00",
    "first sunday of quarter 00:00", "1st monday of 2nd month of quarter 08:00", "every saturday of january 23:59",
    "1st,3rd tuesday 15:30", "4th friday of month 12:00",
]


@pytest.mark.parametrize("schedule", UNIX_CRON + ENGLISH_LIKE)
def test_cloud_scheduler_schedules_reach_the_scheduler_job(schedule):
    stack = synth(lambda s: ScheduledTrigger(s, "t", job=QueueWorker(
        s, "w", name="jobs", image="example/image:1", region="europe-west1"), schedule=schedule))
    assert only(stack, "google_cloud_scheduler_job")["schedule"] == schedule


@pytest.mark.parametrize("time_zone", ["UTC", "Etc/UTC", "Europe/Paris", "America/Argentina/Buenos_Aires",
                                       "Etc/GMT+5", "US/Eastern", "Asia/Kolkata"])
def test_tz_database_names_are_accepted(time_zone):
    stack = synth(lambda s: ScheduledTrigger(s, "t", job=QueueWorker(
        s, "w", name="jobs", image="example/image:1", region="europe-west1"), schedule="0 3 * * *",
        time_zone=time_zone))
    assert only(stack, "google_cloud_scheduler_job")["time_zone"] == time_zone


@pytest.mark.parametrize("cpu, memory", [("1000m", "1G"), ("1", "0.5Gi"), ("2000m", "8Gi"), ("4", "2Gi"),
                                         ("4.0", "16384Mi"), ("8", "32Gi"), ("1", "536870912"), ("6", "4295M")])
def test_kubernetes_quantities_for_cpu_and_memory_are_kept_as_written(cpu, memory):
    stack = synth(lambda s: QueueWorker(s, "w", name="jobs", image="example/image:1", region="europe-west1",
                                        cpu=cpu, memory=memory))
    (container,) = only(stack, "google_cloud_run_v2_job")["template"]["template"]["containers"]
    assert container["resources"]["limits"] == {"cpu": cpu, "memory": memory}


def test_labels_with_international_characters_are_accepted():
    labels = {"équipe": "données", "チーム": "データ", "команда": "аналитика", "team_2": "a-b_c"}
    stack = synth(lambda s: QueueWorker(s, "w", name="jobs", image="example/image:1", region="europe-west1",
                                        labels=labels))
    assert only(stack, "google_cloud_run_v2_job")["labels"] == labels


@pytest.mark.parametrize("version", ["latest", "1", "42", "prod", "release-2024_01"])
def test_secret_versions_numbers_and_aliases_are_accepted(version):
    stack = synth(lambda s: QueueWorker(s, "w", name="jobs", image="example/image:1", region="europe-west1",
                                        secret_env={"KEY": SecretEnv("api-key", version=version)}))
    (container,) = only(stack, "google_cloud_run_v2_job")["template"]["template"]["containers"]
    assert container["env"][0]["value_source"]["secret_key_ref"] == {"secret": "api-key", "version": version}


@pytest.mark.parametrize("member", [
    "serviceAccount:web@example-project.iam.gserviceaccount.com",
    "user:someone@example.com",
    "principal://iam.googleapis.com/locations/global/workforcePools/staff/subject/alice@example.com",
    "principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/subject/repo:main",
])
def test_members_of_one_identity_may_enqueue(member):
    stack = synth(lambda s: QueueWorker(s, "w", name="jobs", image="example/image:1", region="europe-west1")
                  .grant_enqueue(member, id="producer"))
    assert only(stack, "google_cloud_tasks_queue_iam_member")["member"] == member


@pytest.mark.parametrize("member", ["group:producers@example.com", "domain:example.com",
                                    "principalSet://iam.googleapis.com/locations/global/workforcePools/staff/*"])
def test_members_of_many_identities_may_enqueue_when_the_caller_says_so(member):
    stack = synth(lambda s: QueueWorker(s, "w", name="jobs", image="example/image:1", region="europe-west1")
                  .grant_enqueue(member, id="producers", allow_many_identities=True))
    assert only(stack, "google_service_account_iam_member")["member"] == member


def test_a_worker_name_may_be_used_again_in_another_project():
    def build(s):
        QueueWorker(s, "a", name="jobs", image="example/image:1", region="europe-west1", project="project-a")
        QueueWorker(s, "b", name="jobs", image="example/image:1", region="europe-west1", project="project-b")
    stack = synth(build)
    assert sorted(q["project"] for q in resources(stack, "google_cloud_tasks_queue").values()) == [
        "project-a", "project-b"]
