"""Every Monitoring filter the stacks synthesize (alert policies' conditions, dashboards'
charts) names one metric type of Google's list kept in constructs_lib/metrics.py, with
the resource type Google documents for it, and only labels Google documents for that
metric and that resource type."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from constructs_lib import metrics
from constructs_lib.engine import CDKTF

from .conftest import construct_stack, monitored_trigger, monitored_worker
from .synth import app_stack_on, resources

_METRIC_TYPE = re.compile(r'\bmetric\.type\s*=\s*"([^"]+)"')
_RESOURCE_TYPE = re.compile(r'\bresource\.type\s*=\s*"([^"]+)"')
_LABEL = re.compile(r"\b(metric|resource)\.labels?\.([A-Za-z_][A-Za-z0-9_]*)")


def filters(stack: dict[str, Any]) -> Iterator[tuple[str, str, list[str]]]:
    """(where, filter, group-by fields) of every condition and chart in `stack`."""
    for key, policy in resources(stack, "google_monitoring_alert_policy").items():
        for condition in policy["conditions"]:
            threshold = condition["condition_threshold"]
            fields = [f for a in threshold.get("aggregations", []) for f in a.get("group_by_fields", [])]
            yield f"policy {key}", threshold["filter"], fields
    for key, dashboard in resources(stack, "google_monitoring_dashboard").items():
        for tile in json.loads(dashboard["dashboard_json"])["mosaicLayout"]["tiles"]:
            for data in tile["widget"]["xyChart"]["dataSets"]:
                query = data["timeSeriesQuery"]["timeSeriesFilter"]
                yield f"dashboard {key}", query["filter"], query["aggregation"].get("groupByFields", [])


def undocumented(filter: str, group_by: list[str]) -> list[str]:
    """What in one filter (and its group-by fields) Google's list does not document."""
    named = _METRIC_TYPE.findall(filter)
    if len(named) != 1 or named[0] not in metrics.METRICS:
        return [f"metric types {named}, not one of {sorted(metrics.METRICS)}"]
    metric = metrics.METRICS[named[0]]
    problems = [f"resource type {r!r}, not {metric.resource.name!r}" for r in _RESOURCE_TYPE.findall(filter)
                if r != metric.resource.name]
    if not _RESOURCE_TYPE.findall(filter):
        problems.append("no resource type")
    for kind, label in _LABEL.findall(" ".join([filter, *group_by])):
        documented = metric.labels if kind == "metric" else metric.resource.labels
        if label not in documented:
            problems.append(f"{kind} label {label!r}, not one of {sorted(documented)}")
    return problems


STACKS = {
    "app stack": lambda engine: app_stack_on(engine),
    "app stack with cloud sql": lambda engine: app_stack_on(engine, cloud_sql=True),
    "monitored worker": lambda engine: construct_stack(monitored_worker, engine),
    "monitored trigger": lambda engine: construct_stack(monitored_trigger, engine),
}


@pytest.mark.parametrize("build", STACKS.values(), ids=STACKS)
def test_every_filter_names_a_documented_metric_its_resource_type_and_documented_labels(engine, build):
    found = list(filters(build(engine)))

    assert found, "the stack has no alert policy or dashboard"
    assert {where: undocumented(f, fields) for where, f, fields in found if undocumented(f, fields)} == {}


def test_the_app_stack_with_cloud_sql_uses_every_metric_of_the_list():
    used = {_METRIC_TYPE.search(f)[1] for _, f, _ in filters(app_stack_on(CDKTF, cloud_sql=True))}

    assert used == set(metrics.METRICS)


@pytest.mark.parametrize("bad_filter, problem", [
    ('metric.type="cloudtasks.googleapis.com/queue/lenght" AND resource.type="cloud_tasks_queue"', "metric types"),
    ('metric.type="cloudtasks.googleapis.com/queue/depth" AND resource.type="cloud_run_job"', "resource type"),
    ('metric.type="cloudtasks.googleapis.com/queue/depth" AND resource.type="cloud_tasks_queue" '
     'AND resource.labels.queue="q"', "resource label 'queue'"),
    ('metric.type="run.googleapis.com/job/completed_execution_count" AND resource.type="cloud_run_job" '
     'AND metric.labels.status="failed"', "metric label 'status'"),
    ('resource.type="cloud_run_job"', "metric types []"),
], ids=["misspelled metric", "wrong resource type", "undocumented resource label", "undocumented metric label",
        "no metric"])
def test_the_check_finds_what_google_does_not_document(bad_filter, problem):
    assert any(problem in found for found in undocumented(bad_filter, []))


def test_every_metric_cites_the_section_of_googles_list_that_documents_it():
    for metric in metrics.METRICS.values():
        assert metric.source.startswith(f"{metrics.METRICS_PAGE}#gcp-"), metric.type
        assert metric.resource.source.startswith(f"{metrics.RESOURCES_PAGE}#"), metric.resource.name
        assert metric.kind in {"GAUGE", "DELTA", "CUMULATIVE"} and metric.value_type in {"INT64", "DISTRIBUTION"}


def test_a_filter_on_a_label_google_does_not_document_is_refused_when_written():
    with pytest.raises(metrics.UnknownMetric, match=r"completed_execution_count has no metric label 'status'; "
                                                    r"documented: result"):
        metrics.metric_filter(metrics.JOB_COMPLETED_EXECUTIONS, resource={}, equal={"status": "failed"})
    with pytest.raises(metrics.UnknownMetric, match=r"cloud_tasks_queue \(the resource of .*\) has no label 'queue'"):
        metrics.metric_filter(metrics.QUEUE_DEPTH, resource={"queue": "q"})


def test_a_metric_type_not_in_the_list_is_refused_when_written():
    unlisted = metrics.MetricType("run.googleapis.com/job/running_executions", "GAUGE", "INT64", "1",
                                  metrics.CLOUD_RUN_JOB, frozenset(), metrics.METRICS_PAGE)
    with pytest.raises(metrics.UnknownMetric, match=r"'run.googleapis.com/job/running_executions' is not one of"):
        metrics.metric_filter(unlisted, resource={})
