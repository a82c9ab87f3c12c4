"""A first apply that succeeds on a new project, and a second deployment beside the first.

- Every Cloud Run resource and scheduler job is created after every grant to its
  identity (but those on itself, which need it to exist) and after a wait that starts
  once those grants exist: IAM takes effect minutes after a grant (constructs_lib/iam_wait.py).
- Names are claimed per project across the App: two providers for one project, or two
  stacks in one project, cannot create the same names; two environments of the app can.
- Grants to a secret known by its id are one per project, even for one shared identity.
Each on both engines; the app stack in both database modes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from constructs_lib import ConstructValidationError, QueueWorker, ScheduledTrigger
from stacks.app_options import AppOptions
from stacks.app_stack import app_stack
from stacks.database import CloudSqlDatabase, ExistingDatabase
from stacks.names import AppNames, InvalidEnvironment

from .conftest import construct_stack, full_worker, trigger_with_overrides
from .synth import Stack, ancestors, app_stack_on, dependencies, resources, synth

RUNNERS = ("google_cloud_run_v2_service", "google_cloud_run_v2_job", "google_cloud_scheduler_job")
SHARED = "shared-runtime@identity-project.iam.gserviceaccount.com"


def identity_of(body: dict[str, Any]) -> str:
    """The identity a runner runs (or, a scheduler job, calls) as."""
    if "http_target" in body:
        return body["http_target"]["oauth_token"]["service_account_email"]
    template = body["template"]
    return (template.get("template") or template)["service_account"]


def grants_to(stack: Stack, member: str) -> set[str]:
    return {f"{kind}.{i}" for kind in stack["resource"] if kind.endswith("_iam_member")
            for i, body in resources(stack, kind).items() if body["member"] == member}


def unwaited_grants(stack: Stack) -> dict[str, set[str]]:
    """For each runner, the grants to its identity it is not created after, through a wait."""
    missing = {}
    for kind in RUNNERS:
        for logical_id, body in resources(stack, kind).items():
            runner = f"{kind}.{logical_id}"
            before = ancestors(stack, runner)
            waits = {a for a in before if a.startswith("time_sleep.")}
            after_waits = set().union(*(ancestors(stack, w) for w in waits))
            needed = {g for g in grants_to(stack, f"serviceAccount:{identity_of(body)}")
                      if runner not in ancestors(stack, g)}  # a grant on the runner itself comes after it
            if needed - after_waits or not waits:
                missing[runner] = needed - after_waits or {"(no wait at all)"}
    return missing


def wait_graph(stack: Stack) -> dict[str, list[str]]:
    """What each runner and each wait is created after, among grants, identities and waits."""
    kept = ("time_sleep.", "google_service_account.", "google_project_iam_member.")
    graph = {}
    for kind in (*RUNNERS, "time_sleep"):
        for logical_id in resources(stack, kind):
            address = f"{kind}.{logical_id}"
            graph[address] = sorted(a for a in ancestors(stack, address) if a.startswith(kept) or "_iam_member." in a)
    return graph


# --- grants and waits in the dependency graph ----------------------------------------------

@pytest.mark.parametrize("cloud_sql", [False, True], ids=["existing database", "cloud sql"])
def test_every_runner_of_the_app_stack_is_created_after_its_grants_took_effect(engine, cloud_sql):
    assert unwaited_grants(app_stack_on(engine, cloud_sql)) == {}


@pytest.mark.parametrize("build", [full_worker, trigger_with_overrides], ids=["full worker", "trigger"])
def test_every_runner_of_the_constructs_is_created_after_its_grants_took_effect(engine, build):
    assert unwaited_grants(construct_stack(build, engine)) == {}


def test_a_grant_made_after_the_worker_is_waited_for_too():
    def build(stack):
        worker = QueueWorker(stack, "worker", name="jobs", image="example/image:1", region="europe-west1")
        other = QueueWorker(stack, "other", name="other", image="example/image:1", region="europe-west1")
        worker.wait_for_grants(*other.grant_enqueue("serviceAccount:jobs-worker@example-project.iam.gserviceaccount.com",
                                                    id="jobs"))
    stack = synth(build)
    (wait,) = [w for w in resources(stack, "time_sleep") if w.startswith("worker_")]
    assert sum(t.endswith(("other/enqueue-jobs", "other/act-as-invoker-jobs"))
               for t in resources(stack, "time_sleep")[wait]["triggers"]) == 2


def test_the_waits_are_replaced_when_a_grant_they_wait_for_is(app_stack):
    # Each wait's triggers are the ids of what it waits for: a new or replaced grant
    # replaces the wait, and what depends on it waits again in the same apply.
    for logical_id, wait in resources(app_stack, "time_sleep").items():
        waited = {d for d in dependencies(app_stack, f"time_sleep.{logical_id}") if "_iam_member." in d}
        assert {v.removeprefix("${").removesuffix(".id}") for v in wait["triggers"].values()} >= waited
        assert wait["create_duration"] == "120s"


def test_the_wait_graph_snapshot(snapshot_json):
    assert {"existing": wait_graph(app_stack_on(engine=_cdktf())),
            "cloud-sql": wait_graph(app_stack_on(_cdktf(), cloud_sql=True))} == snapshot_json


def test_a_job_that_does_not_wait_is_found_out():
    # The property above fails for a job that reads a secret without waiting for it.
    stack = copy.deepcopy(construct_stack(full_worker))
    (job_id,) = resources(stack, "google_cloud_run_v2_job")
    del stack["resource"]["google_cloud_run_v2_job"][job_id]["depends_on"]
    assert set(unwaited_grants(stack)) == {f"google_cloud_run_v2_job.{job_id}"}


def _cdktf():
    from constructs_lib.engine import CDKTF
    return CDKTF


# --- two environments in one project -----------------------------------------------------

def two_environments(engine, database, first="", second="staging") -> list[Stack]:
    """The app stack of two environments in one App (one project: the same variables)."""
    testing = engine.core.Testing
    app = testing.app()
    stacks = [app_stack(app, f"app-{index}", AppOptions(engine=engine, database=database, environment=env))
              for index, env in enumerate((first, second))]
    return [json.loads(testing.synth(stack)) for stack in stacks]


def google_names(stack: Stack) -> set[str]:
    """Every name that must be unique in a project (per kind)."""
    fields = {"google_cloud_tasks_queue": "name", "google_cloud_run_v2_job": "name",
              "google_cloud_run_v2_service": "name", "google_cloud_scheduler_job": "name",
              "google_service_account": "account_id", "google_sql_database_instance": "name",
              "google_secret_manager_secret": "secret_id"}
    names = {f"{kind}:{body[field]}" for kind, field in fields.items() for body in resources(stack, kind).values()}
    containers = [c for kind in ("google_cloud_run_v2_service", "google_cloud_run_v2_job")
                  for body in resources(stack, kind).values()
                  for c in (body["template"].get("template") or body["template"])["containers"]]
    names |= {f"secret:{e['value_source']['secret_key_ref']['secret']}" for c in containers for e in c["env"]
              if "value_source" in e and not e["value_source"]["secret_key_ref"]["secret"].startswith("${")}
    return names


@pytest.mark.parametrize("database", [ExistingDatabase(), CloudSqlDatabase()], ids=["existing database", "cloud sql"])
def test_two_environments_in_one_project_share_no_name(engine, database):
    first, staging = two_environments(engine, database)
    assert google_names(first) & google_names(staging) == set()
    assert "google_cloud_run_v2_service:djapp-staging-web" in google_names(staging)
    assert "secret:django-secret-key-staging" in google_names(staging)
    assert "google_cloud_run_v2_service:djapp-web" in google_names(first)


def test_two_environments_snapshot(snapshot_json):
    from constructs_lib.engine import CDKTF
    assert two_environments(CDKTF, ExistingDatabase())[1] == snapshot_json


def test_the_same_environment_twice_in_one_app_is_refused_naming_both_stacks(engine):
    with pytest.raises(ConstructValidationError) as error:
        two_environments(engine, ExistingDatabase(), "staging", "staging")
    message = str(error.value)
    assert "djapp-staging" in message and "app stack app-0" in message
    assert "another environment" in message


def test_state_of_each_environment_is_kept_apart():
    assert AppNames("").state_prefix == "djapp" and AppNames("staging").state_prefix == "djapp-staging"


@pytest.mark.parametrize("environment", ["Staging", "-x", "x-", "a" * 21, "st ag", "prod_1"])
def test_an_environment_that_cannot_name_a_deployment_is_refused(environment):
    with pytest.raises(InvalidEnvironment, match="DJAPP_ENVIRONMENT is .*1-20 lowercase letters, digits or hyphens"):
        AppOptions(environment=environment)


# --- collisions per project -------------------------------------------------------------

def worker(stack, id, **options):
    return QueueWorker(stack, id, name="jobs", image="example/image:1", region="europe-west1", **options)


def test_two_providers_for_one_project_cannot_make_the_same_queue():
    def build(stack):
        same = stack.node.try_find_child("google").__class__(stack, "again", alias="again", project="example-project")
        worker(stack, "first")
        worker(stack, "second", provider=same)
    with pytest.raises(ConstructValidationError, match="not already used by QueueWorker test/first in project 'example-project'"):
        synth(build)


def test_two_stacks_in_one_project_cannot_make_the_same_queue(engine):
    app = engine.core.Testing.app()
    for id in ("one", "two"):
        stack = engine.core.TerraformStack(app, id)
        engine.google("provider").GoogleProvider(stack, "google", project="example-project")
        if id == "one":
            worker(stack, "worker")
    with pytest.raises(ConstructValidationError, match="QueueWorker one/worker in project 'example-project'"):
        worker(stack, "worker")


def test_two_stacks_in_two_projects_may_make_the_same_queue(engine):
    app = engine.core.Testing.app()
    for project in ("project-a", "project-b"):
        stack = engine.core.TerraformStack(app, project)
        engine.google("provider").GoogleProvider(stack, "google", project=project)
        worker(stack, "worker")


# --- two projects with one shared identity ------------------------------------------------

def two_projects_one_identity(stack) -> None:
    """A worker in each of two projects, both running as one existing service account,
    both reading a secret of the same id (each project's own)."""
    provider = stack.node.try_find_child("google").__class__
    for project in ("project-a", "project-b"):
        QueueWorker(stack, project, name="jobs", image="example/image:1", region="europe-west1",
                    provider=provider(stack, f"google-{project}", alias=project, project=project),
                    runtime_service_account=SHARED, secret_env={"API_KEY": "api-key"})


def test_each_project_grants_the_shared_identity_its_own_secret(engine):
    stack = synth(two_projects_one_identity, engine=engine)
    grants = resources(stack, "google_secret_manager_secret_iam_member")
    assert sorted(g["provider"] for g in grants.values()) == ["google.project-a", "google.project-b"]
    for logical_id, job in resources(stack, "google_cloud_run_v2_job").items():
        own = {f"google_secret_manager_secret_iam_member.{i}" for i, g in grants.items() if g["provider"] == job["provider"]}
        waited = {a for a in ancestors(stack, f"google_cloud_run_v2_job.{logical_id}") if a.startswith("google_secret")}
        assert waited == own


def test_two_projects_one_identity_snapshot(engine, snapshot_json):
    assert synth(two_projects_one_identity, engine=engine) == snapshot_json


def test_an_invoker_of_another_project_is_refused():
    with pytest.raises(ConstructValidationError) as error:
        synth(lambda stack: worker(stack, "worker", invoker_service_account="invoker@other-project.iam.gserviceaccount.com"))
    assert "invoker_service_account='invoker@other-project.iam.gserviceaccount.com' is not valid" in str(error.value)
    assert "same project as the queue" in str(error.value)


def test_a_caller_of_another_project_is_refused():
    def build(stack):
        ScheduledTrigger(stack, "nightly", job=worker(stack, "worker"), schedule="0 3 * * *",
                         caller_service_account="caller@other-project.iam.gserviceaccount.com")
    with pytest.raises(ConstructValidationError, match="caller_service_account=.* a service account of project 'example-project'"):
        synth(build)


# --- smaller -------------------------------------------------------------------------------

def test_secret_variables_differing_only_in_case_each_get_their_grant():
    stack = synth(lambda stack: worker(stack, "worker", secret_env={"API_KEY": "upper", "api_key": "lower"}))
    assert sorted(g["secret_id"] for g in resources(stack, "google_secret_manager_secret_iam_member").values()) == [
        "lower", "upper"]


def test_a_long_description_is_reported_with_its_own_length():
    with pytest.raises(ConstructValidationError, match=r"\(501 characters\)"):
        synth(lambda stack: ScheduledTrigger(stack, "t", job=worker(stack, "worker"), schedule="0 3 * * *",
                                             description="d" * 501))
