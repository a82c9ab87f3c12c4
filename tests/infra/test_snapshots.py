"""Snapshots of the synthesized Terraform JSON: any drift shows in review.

Update deliberately with `pytest tests/infra --snapshot-update`.
"""


def test_app_stack_snapshot(app_stack, snapshot_json):
    assert app_stack == snapshot_json


def test_app_stack_with_cloud_sql_snapshot(cloud_sql_app_stack, snapshot_json):
    assert cloud_sql_app_stack == snapshot_json


def test_minimal_queue_worker_snapshot(minimal_worker_stack, snapshot_json):
    assert minimal_worker_stack == snapshot_json


def test_full_queue_worker_snapshot(full_worker_stack, snapshot_json):
    assert full_worker_stack == snapshot_json


def test_scheduled_trigger_snapshot(trigger_stack, snapshot_json):
    assert trigger_stack == snapshot_json


def test_scheduled_trigger_with_overrides_snapshot(trigger_with_overrides_stack, snapshot_json):
    assert trigger_with_overrides_stack == snapshot_json
