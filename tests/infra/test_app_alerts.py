"""The app stack's alerts: every worker monitored, every policy notifying the channels of
the `alert_notification_channels` variable (none by default: incidents in the console
only), and with Cloud SQL a connections alert against the app's connection budget."""

from __future__ import annotations

import re

import pytest

from constructs_lib import limits
from stacks.app_stack import ALERT_CHANNELS_VARIABLE, CONNECTIONS_ALERT_SHARE, QUEUES, connection_budget

from .synth import resources

POLICY = "google_monitoring_alert_policy"
DASHBOARD = "google_monitoring_dashboard"


def policies(stack) -> dict[str, dict]:
    return resources(stack, POLICY)


def test_every_worker_has_its_three_alerts_and_its_dashboard(app_stack):
    for queue in QUEUES:
        found = {key.partition("_alert-")[2].rpartition("_")[0] for key in policies(app_stack)
                 if key.startswith(f"{queue.worker_id}_alert-")}
        assert found == {"backlog", "failing-attempts", "failed-executions"}, queue.name
    assert len(resources(app_stack, DASHBOARD)) == len(QUEUES)


def test_every_policy_notifies_the_channels_of_the_variable_which_default_to_none(app_stack, cloud_sql_app_stack):
    variable = app_stack["variable"][ALERT_CHANNELS_VARIABLE]

    assert variable["type"] == "list(string)" and variable["default"] == []
    for stack in (app_stack, cloud_sql_app_stack):
        assert {p["notification_channels"] for p in policies(stack).values()} == {f"${{var.{ALERT_CHANNELS_VARIABLE}}}"}


@pytest.mark.parametrize("channels, valid", [
    (["projects/my-project/notificationChannels/1234567890"], True),
    (["projects/my-project/notificationChannels/1", "projects/123456/notificationChannels/2"], True),
    ([], True),
    (["1234567890"], False),
    (["projects/my-project/alertPolicies/1"], False),
    (["projects/my-project/notificationChannels/1/x"], False),
])
def test_the_variable_refuses_at_plan_what_is_not_a_channels_name(app_stack, channels, valid):
    (validation,) = app_stack["variable"][ALERT_CHANNELS_VARIABLE]["validation"]
    # The one regex of the condition, as Terraform reads the HCL string.
    (pattern,) = re.findall(r'regex\("(.*?)", channel\)', validation["condition"])

    assert all(re.search(pattern, channel) for channel in channels) is valid
    assert pattern == f"^{limits.NOTIFICATION_CHANNEL.pattern}$"
    assert "projects/PROJECT/notificationChannels/ID" in validation["error_message"]


def test_with_cloud_sql_a_connections_alert_opens_at_90_percent_of_the_apps_budget(cloud_sql_app_stack):
    (policy,) = [p for key, p in policies(cloud_sql_app_stack).items() if key.startswith("database_alert-connections")]
    (condition,) = policy["conditions"]
    threshold = condition["condition_threshold"]

    assert threshold["threshold_value"] == int(connection_budget().app_connections * CONNECTIONS_ALERT_SHARE) == 42
    assert threshold["duration"] == "300s"
    assert 'metric.type="cloudsql.googleapis.com/database/postgresql/num_backends"' in threshold["filter"]
    assert 'metric.labels.database="${google_sql_database.database_' in threshold["filter"]
    assert 'resource.labels.database_id="${var.project_id}:${google_sql_database_instance.database_instance_' in (
        threshold["filter"])


def test_without_cloud_sql_there_is_no_connections_alert(app_stack):
    assert not [key for key in policies(app_stack) if "connections" in key]


def test_the_budget_the_alert_compares_with_is_what_the_apps_processes_may_hold():
    budget = connection_budget()

    assert budget.app_connections == budget.total - 3 == 47
