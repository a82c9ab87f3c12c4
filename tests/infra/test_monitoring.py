"""QueueWorker(monitoring=...) and ScheduledTrigger(monitoring=...): each alert policy
present, on its own queue or job, with the thresholds and channels given (or the
defaults), a dashboard unless turned off, names that tell two workers apart, and every
bad option refused at synth with what is allowed."""

from __future__ import annotations

import json
import re

import pytest
from cdktf import TerraformVariable

from constructs_lib import ConstructValidationError, JobMonitoring, Monitoring, QueueWorker, ScheduledTrigger

from .conftest import CHANNELS, construct_stack, minimal_worker, monitored_trigger, monitored_worker, plain_job, trigger
from .synth import new_stack, resources, synth

POLICY = "google_monitoring_alert_policy"
DASHBOARD = "google_monitoring_dashboard"


def policies_by_suffix(stack) -> dict[str, dict]:
    """The alert policies, by what follows "alert-" in their logical id."""
    return {re.search(r"alert-([a-z-]+)_", key)[1]: body for key, body in resources(stack, POLICY).items()}


def condition(policy) -> dict:
    (only_condition,) = policy["conditions"]
    return only_condition["condition_threshold"]


def worker(stack, id="worker", name="jobs", **monitoring):
    return QueueWorker(stack, id, name=name, image="example/image:1", region="europe-west1",
                       monitoring=Monitoring(**monitoring))


def test_a_monitored_worker_has_a_backlog_a_failing_attempts_and_a_failed_executions_policy_and_a_dashboard(engine):
    stack = construct_stack(monitored_worker, engine)

    assert set(policies_by_suffix(stack)) == {"backlog", "failing-attempts", "failed-executions"}
    assert len(resources(stack, DASHBOARD)) == 1


def test_the_construct_exposes_its_policies_and_dashboard():
    made = {}
    synth(lambda stack: made.setdefault("worker", worker(stack)))

    assert set(made["worker"].alerts) == {"backlog", "failing_attempts", "failed_executions"}
    assert made["worker"].dashboard is not None


def test_a_worker_without_monitoring_makes_no_policy_and_no_dashboard():
    stack = construct_stack(minimal_worker)

    assert resources(stack, POLICY) == {} and resources(stack, DASHBOARD) == {}


@pytest.mark.parametrize("build, expected", [
    # The thresholds given: backlog 50 tasks for 600s, 3 failed attempts and 1 failed execution in 600s.
    (monitored_worker, ((50, "600s"), (3, "600s"), (1, "600s"))),
    # The defaults: 100 tasks for 15 minutes, 5 failed attempts and any failed execution in 5 minutes.
    (lambda stack: worker(stack), ((100, "900s"), (5, "300s"), (0, "300s"))),
], ids=["given", "defaults"])
def test_each_threshold_is_the_one_its_policy_applies(build, expected):
    policies = policies_by_suffix(synth(build))

    backlog, failing, failed = (condition(policies[k]) for k in ("backlog", "failing-attempts", "failed-executions"))
    assert (backlog["threshold_value"], backlog["duration"]) == expected[0]
    assert [(c["threshold_value"], c["aggregations"][0]["alignment_period"]) for c in (failing, failed)] == [
        *expected[1:]]
    assert all(c["comparison"] == "COMPARISON_GT" for c in (backlog, failing, failed))


def test_every_policy_notifies_the_channels_given():
    for policy in resources(construct_stack(monitored_worker), POLICY).values():
        assert policy["notification_channels"] == list(CHANNELS)


def test_without_channels_the_policies_are_still_made_and_notify_nobody():
    policies = resources(synth(worker), POLICY)

    assert len(policies) == 3
    assert all(not policy.get("notification_channels") for policy in policies.values())


def test_channels_may_be_a_terraform_variable():
    def with_variable(stack):
        channels = TerraformVariable(stack, "channels", type="list(string)").list_value
        worker(stack, notification_channels=channels)

    for policy in resources(synth(with_variable), POLICY).values():
        assert policy["notification_channels"] == "${var.channels}"


def test_each_filter_selects_this_workers_queue_or_job_in_its_region():
    policies = policies_by_suffix(construct_stack(monitored_worker))

    for kind in ("backlog", "failing-attempts"):
        assert 'resource.labels.queue_id="mail"' in condition(policies[kind])["filter"]
    assert 'resource.labels.job_name="mail"' in condition(policies["failed-executions"])["filter"]
    assert all('resource.labels.location="europe-west1"' in condition(p)["filter"] for p in policies.values())
    assert 'metric.labels.response_code!="ok"' in condition(policies["failing-attempts"])["filter"]
    assert 'metric.labels.result="failed"' in condition(policies["failed-executions"])["filter"]


def test_the_dashboard_charts_the_queue_and_the_job():
    (dashboard,) = resources(construct_stack(monitored_worker), DASHBOARD).values()
    layout = json.loads(dashboard["dashboard_json"])

    titles = [tile["widget"]["title"] for tile in layout["mosaicLayout"]["tiles"]]
    assert titles == ["Tasks in the queue", "Task attempts by response code",
                      "Delay before an attempt, 99th percentile (ms)", "Job executions by result"]
    assert layout["displayName"] == "Queue worker mail (europe-west1)"


def test_the_dashboard_json_is_written_as_the_api_returns_it():
    (dashboard,) = resources(construct_stack(monitored_worker), DASHBOARD).values()
    tiles = json.loads(dashboard["dashboard_json"])["mosaicLayout"]["tiles"]

    # Positions of 0 left out and a target axis on every line: no change on the next plan.
    assert all(tile.get("xPos", 1) and tile.get("yPos", 1) for tile in tiles)
    assert all(data["targetAxis"] == "Y1" for t in tiles for data in t["widget"]["xyChart"]["dataSets"])
    assert empty_values(json.loads(dashboard["dashboard_json"])) == []


def empty_values(value, path="") -> list[str]:
    """Paths of the empty lists, objects and strings in a JSON value."""
    if value in ([], {}, ""):
        return [path]
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [found for key, child in children for found in empty_values(child, f"{path}/{key}")]


def test_dashboard_false_makes_the_policies_only():
    stack = synth(lambda s: worker(s, dashboard=False))

    assert len(resources(stack, POLICY)) == 3 and resources(stack, DASHBOARD) == {}


def test_two_workers_policies_and_dashboards_have_names_of_their_own():
    stack = synth(lambda s: (worker(s, "mail", name="mail"), worker(s, "reports", name="reports")))

    names = [policy["display_name"] for policy in resources(stack, POLICY).values()]
    dashboards = [json.loads(d["dashboard_json"])["displayName"] for d in resources(stack, DASHBOARD).values()]
    assert len(names) == 6 and len(set(names)) == 6
    assert len(set(dashboards)) == 2


def test_a_trigger_of_a_plain_job_alerts_on_that_jobs_failed_executions(engine):
    stack = construct_stack(monitored_trigger, engine)

    (policy,) = resources(stack, POLICY).values()
    assert 'resource.labels.job_name="${google_cloud_run_v2_job.report.name}"' in condition(policy)["filter"]
    assert policy["notification_channels"] == [CHANNELS[0]]
    assert condition(policy)["threshold_value"] == 0


def test_a_trigger_without_monitoring_makes_no_policy():
    assert resources(construct_stack(trigger), POLICY) == {}


def valid_worker(**monitoring):
    return worker(new_stack(), **monitoring)


MONITORING_ERRORS = {
    "channels-a-string": ({"notification_channels": CHANNELS[0]}, "a list of notification channel names"),
    "channel-not-a-name": ({"notification_channels": ["123"]}, '"projects/PROJECT/notificationChannels/ID"'),
    "channel-of-another-kind": ({"notification_channels": ["projects/p/alertPolicies/1"]},
                                "projects/PROJECT/notificationChannels/ID"),
    "channel-twice": ({"notification_channels": [CHANNELS[0], CHANNELS[0]]}, "a channel not already listed"),
    "backlog-negative": ({"backlog_tasks": -1}, "a whole number from 0"),
    "backlog-fraction": ({"backlog_tasks": 1.5}, "a whole number from 0"),
    "backlog-for-not-whole-minutes": ({"backlog_for": "90s"}, "only multiples of 60s"),
    "backlog-for-not-a-duration": ({"backlog_for": "15m"}, 'a duration in seconds with an "s" suffix'),
    "failed-attempts-not-a-number": ({"failed_attempts": "5"}, "a whole number from 0"),
    "failed-executions-negative": ({"failed_executions": -1}, "a whole number from 0"),
    "window-below-a-minute": ({"window": "30s"}, "between 60s and 90000s"),
    "window-above-25-hours": ({"window": "90060s"}, "between 60s and 90000s"),
    "window-none": ({"window": None}, 'a duration such as "300s"'),
    "dashboard-not-a-flag": ({"dashboard": "yes"}, "True or False"),
}


@pytest.mark.parametrize("options, allowed", MONITORING_ERRORS.values(), ids=MONITORING_ERRORS)
def test_a_bad_monitoring_option_is_refused_naming_it_and_what_is_allowed(options, allowed):
    with pytest.raises(ConstructValidationError) as error:
        valid_worker(**options)

    (option,) = options
    assert f"QueueWorker test/worker: monitoring.{option}" in str(error.value)
    assert allowed in str(error.value)


def test_a_worker_refuses_monitoring_of_another_type():
    with pytest.raises(ConstructValidationError, match=r"monitoring=JobMonitoring\(.*None or a constructs_lib.Monitoring"):
        QueueWorker(new_stack(), "worker", name="jobs", image="example/image:1", region="europe-west1",
                    monitoring=JobMonitoring())


def test_a_trigger_of_a_queue_worker_refuses_monitoring_and_says_where_it_goes():
    stack = new_stack()
    with pytest.raises(ConstructValidationError, match=r"give the QueueWorker monitoring=Monitoring\(\.\.\.\)"):
        ScheduledTrigger(stack, "trigger", job=worker(stack), schedule="* * * * *", monitoring=JobMonitoring())


def test_a_trigger_refuses_a_bad_monitoring_option():
    stack = new_stack()
    with pytest.raises(ConstructValidationError, match=r"monitoring.window='45s' is not valid: between 60s"):
        ScheduledTrigger(stack, "trigger", job=plain_job(stack), schedule="* * * * *",
                         monitoring=JobMonitoring(window="45s"))


def test_a_second_trigger_monitoring_the_same_job_is_refused_naming_the_first():
    def two_triggers(stack):
        job = plain_job(stack)
        ScheduledTrigger(stack, "nightly", job=job, schedule="0 3 * * *", monitoring=JobMonitoring())
        ScheduledTrigger(stack, "hourly", job=job, schedule="0 * * * *", monitoring=JobMonitoring())

    with pytest.raises(ConstructValidationError, match=r"test/hourly: monitoring=.* given to one construct only: "
                                                       r"ScheduledTrigger test/nightly already makes"):
        synth(two_triggers)
