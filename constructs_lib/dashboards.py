"""The dashboard of a QueueWorker: its queue and its job, on the metrics of
constructs_lib/metrics.py.

The JSON is written as the Monitoring API returns it, so that Terraform sees no change
on the next plan: tile positions of 0 left out (the API drops them), every line chart's
`targetAxis` given (the API adds "Y1"), no empty lists or strings (the API drops them);
hashicorp/terraform-provider-google#16173 lists the normalizations its comparison misses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from constructs import Construct

from . import metrics
from .engine import engine_of

if TYPE_CHECKING:  # the stack's engine's class at run time (engine.py)
    from cdktf_cdktf_provider_google.monitoring_dashboard import MonitoringDashboard

_COLUMNS = 12
_TILE_WIDTH, _TILE_HEIGHT = 6, 4
_CHART_PERIOD = "60s"


def queue_worker_dashboard(
    scope: Construct, id: str, *, name: str, region: str, project: str, resource_options: Mapping[str, Any],
) -> MonitoringDashboard:
    """Four charts: the tasks in queue `name`, its attempts by response code, the delay
    before an attempt, and its job's executions by result."""
    queue = {"project_id": project, "location": region, "queue_id": name}
    job = {"project_id": project, "location": region, "job_name": name}
    charts = [
        _chart("Tasks in the queue", metrics.metric_filter(metrics.QUEUE_DEPTH, resource=queue), "ALIGN_MAX"),
        _chart("Task attempts by response code", metrics.metric_filter(metrics.TASK_ATTEMPT_COUNT, resource=queue),
               "ALIGN_SUM", group_by=metrics.group_by(metrics.TASK_ATTEMPT_COUNT, "response_code")),
        _chart("Delay before an attempt, 99th percentile (ms)",
               metrics.metric_filter(metrics.TASK_ATTEMPT_DELAYS, resource=queue), "ALIGN_PERCENTILE_99"),
        _chart("Job executions by result", metrics.metric_filter(metrics.JOB_COMPLETED_EXECUTIONS, resource=job),
               "ALIGN_SUM", group_by=metrics.group_by(metrics.JOB_COMPLETED_EXECUTIONS, "result")),
    ]
    per_row = _COLUMNS // _TILE_WIDTH
    tiles = [_tile(chart, column=i % per_row, row=i // per_row) for i, chart in enumerate(charts)]
    dashboard = {
        "displayName": f"Queue worker {name} ({region})",
        "mosaicLayout": {"columns": _COLUMNS, "tiles": tiles},
    }
    return engine_of(scope).google("monitoring_dashboard").MonitoringDashboard(
        scope, id, dashboard_json=json.dumps(dashboard), **resource_options,
    )


def _chart(title: str, filter: str, aligner: str, group_by: str | None = None) -> dict[str, Any]:
    aggregation: dict[str, Any] = {"alignmentPeriod": _CHART_PERIOD, "perSeriesAligner": aligner}
    if group_by:
        aggregation |= {"crossSeriesReducer": "REDUCE_SUM", "groupByFields": [group_by]}
    return {"title": title, "xyChart": {"dataSets": [{
        "timeSeriesQuery": {"timeSeriesFilter": {"filter": filter, "aggregation": aggregation}},
        "plotType": "LINE", "targetAxis": "Y1",
    }]}}


def _tile(widget: dict[str, Any], *, column: int, row: int) -> dict[str, Any]:
    position = {"xPos": column * _TILE_WIDTH, "yPos": row * _TILE_HEIGHT}
    return {**{k: v for k, v in position.items() if v}, "width": _TILE_WIDTH, "height": _TILE_HEIGHT, "widget": widget}
