"""Snapshots of the synthesized Terraform JSON on each engine: any drift shows in review.

Each engine has its own snapshots (`[cdktf]`, `[cdktn]`); tests/infra/test_engines.py
says how the two differ. Update deliberately with `pytest tests/infra --snapshot-update`.
"""

from .conftest import (
    construct_stack,
    full_worker,
    minimal_worker,
    monitored_trigger,
    monitored_worker,
    trigger,
    trigger_with_overrides,
)
from .synth import app_stack_on


def test_app_stack_snapshot(engine, snapshot_json):
    assert app_stack_on(engine) == snapshot_json


def test_app_stack_with_cloud_sql_snapshot(engine, snapshot_json):
    assert app_stack_on(engine, cloud_sql=True) == snapshot_json


def test_minimal_queue_worker_snapshot(engine, snapshot_json):
    assert construct_stack(minimal_worker, engine) == snapshot_json


def test_full_queue_worker_snapshot(engine, snapshot_json):
    assert construct_stack(full_worker, engine) == snapshot_json


def test_scheduled_trigger_snapshot(engine, snapshot_json):
    assert construct_stack(trigger, engine) == snapshot_json


def test_scheduled_trigger_with_overrides_snapshot(engine, snapshot_json):
    assert construct_stack(trigger_with_overrides, engine) == snapshot_json


def test_monitored_queue_worker_snapshot(engine, snapshot_json):
    assert construct_stack(monitored_worker, engine) == snapshot_json


def test_monitored_scheduled_trigger_snapshot(engine, snapshot_json):
    assert construct_stack(monitored_trigger, engine) == snapshot_json
