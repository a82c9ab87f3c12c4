"""Pins the facts the reference chapter got wrong, across every stack we synthesize."""

import pytest

from .synth import all_resources, keys_anywhere

STACKS = ["app_stack", "cloud_sql_app_stack", "minimal_worker_stack", "full_worker_stack", "trigger_stack", "trigger_with_overrides_stack"]


@pytest.fixture(params=STACKS)
def stack(request):
    return request.getfixturevalue(request.param)


def test_queues_have_no_route_queue_block(stack):
    for kind, _, body in all_resources(stack):
        if kind == "google_cloud_tasks_queue":
            assert "route_queue" not in keys_anywhere(body)


def test_v2_jobs_have_no_v1_spec_block_nor_service_only_fields(stack):
    for kind, _, body in all_resources(stack):
        if kind == "google_cloud_run_v2_job":
            assert not {"spec", "ingress", "max_instance_count"} & keys_anywhere(body)


def test_calls_to_google_apis_use_oauth_not_oidc(stack):
    for kind, _, body in all_resources(stack):
        if kind == "google_cloud_scheduler_job" and "run.googleapis.com" in body["http_target"]["uri"]:
            assert "oauth_token" in body["http_target"] and "oidc_token" not in body["http_target"]


def test_nothing_is_granted_project_wide(stack):
    # Cloud SQL grants exist only on projects: one is allowed with a condition that
    # limits it to one instance.
    wide = [
        (kind, body) for kind, _, body in all_resources(stack)
        if kind.startswith(("google_project_iam", "google_organization_iam", "google_folder_iam"))
    ]
    assert all(
        kind == "google_project_iam_member" and body["condition"]["expression"].startswith("resource.name == ")
        for kind, body in wide
    ), wide
