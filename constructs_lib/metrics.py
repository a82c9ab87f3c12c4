"""The metric types Google publishes that the constructs' alert policies and dashboards
read, as Google's metric list documents them, and the one function that writes a
Monitoring filter on them.

Each entry keeps what the list says of the metric: its kind, value type and unit, the
monitored resource type it is written against, the labels it has, and where it says
so. The monitored resource types' labels are from Google's list of resource types.
`metric_filter` and `group_by` refuse a metric type, resource label or metric label
that is not here, so a typo fails at synth rather than as an alert that never fires;
tests/infra/test_metrics.py checks every filter of the synthesized stacks against
this list as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# https://cloud.google.com/monitoring/api/metrics_gcp (one section per service).
METRICS_PAGE = "https://cloud.google.com/monitoring/api/metrics_gcp"
RESOURCES_PAGE = "https://cloud.google.com/monitoring/api/resources"


@dataclass(frozen=True)
class ResourceType:
    """A monitored resource type and its labels (RESOURCES_PAGE)."""

    name: str
    labels: frozenset[str]
    source: str


@dataclass(frozen=True)
class MetricType:
    """One metric type of Google's list: e.g. "cloudtasks.googleapis.com/queue/depth"."""

    type: str
    kind: str  # GAUGE, DELTA or CUMULATIVE
    value_type: str  # INT64, DOUBLE, DISTRIBUTION, ...
    unit: str
    resource: ResourceType
    labels: frozenset[str]
    source: str


CLOUD_TASKS_QUEUE = ResourceType(
    "cloud_tasks_queue", frozenset({"project_id", "queue_id", "target_type", "location"}),
    f"{RESOURCES_PAGE}#tag_cloud_tasks_queue",
)
CLOUD_RUN_JOB = ResourceType(
    "cloud_run_job", frozenset({"project_id", "job_name", "location"}), f"{RESOURCES_PAGE}#tag_cloud_run_job",
)
CLOUDSQL_DATABASE = ResourceType(
    # database_id is "PROJECT_ID:INSTANCE_ID".
    "cloudsql_database", frozenset({"project_id", "database_id", "region"}), f"{RESOURCES_PAGE}#tag_cloudsql_database",
)

_CLOUD_TASKS = f"{METRICS_PAGE}#gcp-cloudtasks"
_CLOUD_RUN = f"{METRICS_PAGE}#gcp-run"
_CLOUD_SQL = f"{METRICS_PAGE}#gcp-cloudsql"

# "The number of tasks in the queue." Sampled every 60 seconds; no labels. It counts
# every task the queue holds: due, scheduled for later, and being retried.
QUEUE_DEPTH = MetricType(
    "cloudtasks.googleapis.com/queue/depth", "GAUGE", "INT64", "1", CLOUD_TASKS_QUEUE, frozenset(), _CLOUD_TASKS,
)
# "Count of task attempts broken down by response code." response_code is the attempt's
# canonical code in lower case: "ok" for a 2xx answer (or a jobs:run call that started an
# execution), anything else for a failed attempt.
TASK_ATTEMPT_COUNT = MetricType(
    "cloudtasks.googleapis.com/queue/task_attempt_count", "DELTA", "INT64", "1", CLOUD_TASKS_QUEUE,
    frozenset({"response_code"}), _CLOUD_TASKS,
)
# "Delay between each scheduled attempt time and actual attempt time", in milliseconds.
TASK_ATTEMPT_DELAYS = MetricType(
    "cloudtasks.googleapis.com/queue/task_attempt_delays", "DELTA", "DISTRIBUTION", "ms", CLOUD_TASKS_QUEUE,
    frozenset({"response_code"}), _CLOUD_TASKS,
)
# "Number of completed job executions and their result"; result is "succeeded" or "failed".
JOB_COMPLETED_EXECUTIONS = MetricType(
    "run.googleapis.com/job/completed_execution_count", "DELTA", "INT64", "1", CLOUD_RUN_JOB,
    frozenset({"result"}), _CLOUD_RUN,
)
# "Number of connections to the Cloud SQL PostgreSQL instance", by database.
POSTGRESQL_BACKENDS = MetricType(
    "cloudsql.googleapis.com/database/postgresql/num_backends", "GAUGE", "INT64", "1", CLOUDSQL_DATABASE,
    frozenset({"database"}), _CLOUD_SQL,
)

METRICS: dict[str, MetricType] = {
    metric.type: metric
    for metric in (QUEUE_DEPTH, TASK_ATTEMPT_COUNT, TASK_ATTEMPT_DELAYS, JOB_COMPLETED_EXECUTIONS, POSTGRESQL_BACKENDS)
}


class UnknownMetric(ValueError):
    """A filter on a metric type, or a label, that Google's list does not document."""


def metric_filter(
    metric: MetricType, *, resource: Mapping[str, str], equal: Mapping[str, str] | None = None,
    not_equal: Mapping[str, str] | None = None,
) -> str:
    """`metric.type="..." AND resource.type="..." AND resource.labels.K="V" ...`: the time
    series of `metric` on the resources whose labels are `resource`, whose metric labels
    are `equal` and are not `not_equal`. Values may be Terraform references."""
    _known(metric)
    terms = [f'metric.type="{metric.type}"', f'resource.type="{metric.resource.name}"']
    terms += [f'resource.labels.{_resource_label(metric, key)}="{value}"' for key, value in resource.items()]
    terms += [f'metric.labels.{_metric_label(metric, key)}="{value}"' for key, value in (equal or {}).items()]
    terms += [f'metric.labels.{_metric_label(metric, key)}!="{value}"' for key, value in (not_equal or {}).items()]
    return " AND ".join(terms)


def group_by(metric: MetricType, label: str) -> str:
    """The field that groups `metric`'s time series by one of its metric labels."""
    _known(metric)
    return f"metric.label.{_metric_label(metric, label)}"


def _known(metric: MetricType) -> None:
    if METRICS.get(metric.type) != metric:
        raise UnknownMetric(f"{metric.type!r} is not one of the metric types kept in {__name__}: {', '.join(METRICS)}")


def _metric_label(metric: MetricType, label: str) -> str:
    return _documented(label, metric.labels, f"{metric.type} has no metric label", metric.source)


def _resource_label(metric: MetricType, label: str) -> str:
    resource = metric.resource
    return _documented(label, resource.labels, f"{resource.name} (the resource of {metric.type}) has no label",
                       resource.source)


def _documented(label: str, labels: frozenset[str], missing: str, source: str) -> str:
    if label not in labels:
        raise UnknownMetric(f"{missing} {label!r}; documented: {', '.join(sorted(labels)) or 'none'} ({source})")
    return label
