"""The app stack builds the system the Django app needs, and a first apply can succeed."""

import json
import re
import warnings

import pytest

from constructs_lib import ConstructWarning

from stacks.app_stack import APIS, CLOUD_SQL_API, MIGRATE_JOB_NAME

# Python as the app's jobs start it: no PYTHON* variables, no user site, unbuffered.
PYTHON = ["python", "-E", "-s", "-u"]

from .synth import all_resources, ancestors, decode_body, only, ref, resources, synth_app_stack

QUEUE = "google_cloud_tasks_queue"
JOB = "google_cloud_run_v2_job"
SERVICE = "google_cloud_run_v2_service"
SECRET_GRANT = "google_secret_manager_secret_iam_member"
SECRETS_READ = {"DJANGO_SECRET_KEY", "DJANGO_EMAIL_URL", "DATABASE_URL"}
SA = "google_service_account"
WEB = "serviceAccount:${google_service_account.web-identity.email}"
WORKERS = ("djapp-default", "djapp-long")


def env(container):
    return {e["name"]: e.get("value", e.get("value_source")) for e in container["env"]}


def job(stack, name):
    [found] = [body for body in resources(stack, JOB).values() if body["name"] == name]
    return found


def web_container(stack):
    (container,) = only(stack, SERVICE)["template"]["containers"]
    return container


def job_container(stack, name):
    (container,) = job(stack, name)["template"]["template"]["containers"]
    return container


def worker_members(stack):
    """The runtime identity of each worker job, as an IAM member."""
    return {name: f"serviceAccount:{job(stack, name)['template']['template']['service_account']}" for name in WORKERS}


def runner_addresses(stack):
    """The Terraform addresses of what runners() yields, in the same order."""
    yield f"{SERVICE}.{next(iter(resources(stack, SERVICE)))}"
    yield from (f"{JOB}.{i}" for i in resources(stack, JOB))


def runners(stack):
    """(resource, its template, its one container) for the web service and each job."""
    service = only(stack, SERVICE)
    yield service, service["template"], web_container(stack)
    for body in resources(stack, JOB).values():
        yield body, body["template"]["template"], body["template"]["template"]["containers"][0]


def test_variables_project_region_image_and_mail_sender_none_with_a_default_and_alert_channels(app_stack):
    # A region left out must not fall back to one the stack was not deployed to: a plan
    # there would replace every regional resource.
    variables = app_stack["variable"]
    assert set(variables) == {"project_id", "region", "image", "mail_from", "alert_notification_channels"}
    assert not any("default" in variables[name] for name in ("project_id", "region", "image", "mail_from"))
    assert variables["alert_notification_channels"]["default"] == []


def test_provider_takes_project_and_region_from_variables(app_stack):
    (provider,) = app_stack["provider"]["google"]
    assert provider == {"project": "${var.project_id}", "region": "${var.region}"}


def test_the_apis_it_uses_are_enabled_and_stay_enabled_on_destroy(app_stack, cloud_sql_app_stack):
    for stack, expected in ((app_stack, set(APIS)), (cloud_sql_app_stack, {*APIS, CLOUD_SQL_API})):
        services = resources(stack, "google_project_service").values()
        assert {s["service"] for s in services} == expected
        assert all(s["disable_on_destroy"] is False for s in services)
    assert {"run.googleapis.com", "cloudtasks.googleapis.com", "cloudscheduler.googleapis.com",
            "secretmanager.googleapis.com", "iam.googleapis.com"} <= set(APIS)


@pytest.mark.parametrize("stack_name", ["app_stack", "cloud_sql_app_stack"])
def test_every_google_resource_waits_for_every_api(request, stack_name):
    stack = request.getfixturevalue(stack_name)
    apis = {f"google_project_service.{i}" for i in resources(stack, "google_project_service")}
    not_waiting = [
        f"{kind}.{logical_id}" for kind, logical_id, body in all_resources(stack)
        if kind.startswith("google_") and kind != "google_project_service"
        and not apis <= set(body.get("depends_on", []))
    ]
    assert not_waiting == []


def test_default_queue_retries_five_times_backing_off_10s_to_600s_for_600s(app_stack):
    [default] = [q for q in resources(app_stack, QUEUE).values() if q["name"] == "djapp-default"]
    assert default["retry_config"] == {
        "max_attempts": 5, "min_backoff": "10s", "max_backoff": "600s", "max_retry_duration": "600s",
    }


def test_one_queue_and_worker_job_for_each_django_queue_name(app_stack):
    assert {q["name"] for q in resources(app_stack, QUEUE).values()} == set(WORKERS)
    assert {j["name"] for j in resources(app_stack, JOB).values()} == {*WORKERS, MIGRATE_JOB_NAME}


def test_default_queue_keeps_its_resource_address_so_a_deployed_queue_is_not_replaced(app_stack):
    assert [i for i, q in resources(app_stack, QUEUE).items() if q["name"] == "djapp-default"] == [
        "worker_queue_3B12C5E3"
    ]


def test_long_queue_retries_three_times_far_apart_and_dispatches_few_at_a_time(app_stack):
    [long] = [q for q in resources(app_stack, QUEUE).values() if q["name"] == "djapp-long"]
    assert long["retry_config"] == {"max_attempts": 3, "min_backoff": "60s", "max_backoff": "900s"}
    assert long["rate_limits"] == {"max_dispatches_per_second": 0.05, "max_concurrent_dispatches": 3}


def test_default_worker_job_has_one_cpu_512mi_and_three_minutes(app_stack):
    assert job_container(app_stack, "djapp-default")["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert job(app_stack, "djapp-default")["template"]["template"]["timeout"] == "180s"


def test_long_worker_job_has_2gi_and_four_hours(app_stack):
    assert job_container(app_stack, "djapp-long")["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert job(app_stack, "djapp-long")["template"]["template"]["timeout"] == "14400s"


def test_every_worker_job_runs_a_due_job_task_of_its_own_queue_from_the_app_image(app_stack):
    for queue in ("default", "long"):
        container = job_container(app_stack, f"djapp-{queue}")
        assert container["command"] == [*PYTHON, "manage.py", "run_task", "--settings", "config.settings"], queue
        assert container["args"] == ["--queue", queue]
        assert container["image"] == "${var.image}", queue


def test_every_invoker_may_only_start_its_job_as_defined(app_stack):
    # Each queue's invoker (and no one else but the schedule's caller) may start a worker
    # job; none may override it, so no enqueuer chooses an execution's args or env.
    invokers = {g["member"]: g["role"] for g in resources(app_stack, "google_cloud_run_v2_job_iam_member").values()
                if "invoker" in g["member"]}
    assert sorted(invokers.values()) == ["roles/run.invoker", "roles/run.invoker"]


def test_migrate_job_runs_migrate_once_on_the_same_image_as_its_own_identity(app_stack):
    migrate = job(app_stack, MIGRATE_JOB_NAME)["template"]["template"]
    container = job_container(app_stack, MIGRATE_JOB_NAME)
    assert container["command"] == [*PYTHON, "manage.py", "migrate", "--settings", "config.settings", "--noinput"]
    assert container["image"] == "${var.image}"
    assert migrate["max_retries"] == 0
    assert migrate["service_account"] == "${google_service_account.migrate-identity.email}"


def scheduled(stack, name):
    """The schedule, time zone, job and args of the scheduler job `name`."""
    [scheduler] = [body for body in resources(stack, "google_cloud_scheduler_job").values() if body["name"] == name]
    [job_id] = re.findall(rf"/jobs/\${{{JOB}\.([^.]+)\.name}}:run$", scheduler["http_target"]["uri"])
    [overrides] = decode_body(scheduler["http_target"]["body"])["overrides"]["containerOverrides"]
    return scheduler["schedule"], scheduler["time_zone"], resources(stack, JOB)[job_id]["name"], overrides["args"]


def test_trigger_runs_the_outbox_flush_every_minute_in_utc_on_the_default_worker(app_stack):
    # The periodic task "every-minute" (django_project/config/periodic.py) runs the flush.
    assert scheduled(app_stack, "djapp-every-minute") == (
        "* * * * *", "UTC", "djapp-default", ["--periodic", "every-minute"]
    )


def test_trigger_runs_the_prune_of_finished_records_every_hour_in_utc_on_the_default_worker(app_stack):
    assert scheduled(app_stack, "djapp-prune-records") == (
        "30 * * * *", "UTC", "djapp-default", ["--periodic", "prune-records"]
    )


def test_the_worker_that_flushes_may_view_the_tasks_of_every_queue_and_no_other_identity_may(app_stack):
    # GetTask: the flush asks whether Cloud Tasks still holds a task that has not started.
    queues = {f"${{{QUEUE}.{i}.name}}" for i in resources(app_stack, QUEUE)}
    viewers = [g for g in resources(app_stack, "google_cloud_tasks_queue_iam_member").values()
               if g["role"] == "roles/cloudtasks.viewer"]
    assert {g["member"] for g in viewers} == {worker_members(app_stack)["djapp-default"]}
    assert {g["name"] for g in viewers} == queues


def test_outputs(app_stack):
    queues = {q["name"]: i for i, q in resources(app_stack, QUEUE).items()}
    jobs = {j["name"]: i for i, j in resources(app_stack, JOB).items()}
    assert app_stack["output"] == {
        "cloud_tasks_queue_names": {"value": {
            name: f"${{{QUEUE}.{queues[f'djapp-{name}']}.name}}" for name in ("default", "long")
        }},
        "worker_job_names": {"value": {
            name: f"${{{JOB}.{jobs[f'djapp-{name}']}.name}}" for name in ("default", "long")
        }},
        "migrate_job_name": {"value": f"${{{JOB}.{jobs[MIGRATE_JOB_NAME]}.name}}"},
        "scheduler_job_name": {"value": ref("google_cloud_scheduler_job", app_stack, "name", "every-minute")},
        "web_service_url": {"value": "https://djapp-web-${data.google_project.project.number}.${var.region}.run.app"},
        "deployed_with": {"value": {"project_id": "${var.project_id}", "region": "${var.region}",
                                    "image": "${var.image}", "mail_from": "${var.mail_from}"}},
    }


def test_web_service_runs_as_its_own_identity(app_stack):
    assert only(app_stack, SERVICE)["template"]["service_account"] == "${google_service_account.web-identity.email}"


def grants(stack, kind, member):
    return [g for g in resources(stack, kind).values() if g["member"] == member]


def test_web_identity_and_every_worker_may_enqueue_on_every_queue(app_stack):
    queues = {f"${{{QUEUE}.{i}.name}}" for i in resources(app_stack, QUEUE)}
    for member in [WEB, *worker_members(app_stack).values()]:
        enqueuers = [g for g in grants(app_stack, "google_cloud_tasks_queue_iam_member", member)
                     if g["role"] == "roles/cloudtasks.enqueuer"]
        assert {g["name"] for g in enqueuers} == queues, member


def test_every_producer_may_act_as_every_invoker_and_nothing_else(app_stack):
    invokers = {f"${{{SA}.{i}.name}}" for i in resources(app_stack, SA) if "_invoker_" in i}
    assert len(invokers) == 2
    for member in [WEB, *worker_members(app_stack).values()]:
        act_as = grants(app_stack, "google_service_account_iam_member", member)
        assert {g["role"] for g in act_as} == {"roles/iam.serviceAccountUser"}, member
        assert {g["service_account_id"] for g in act_as} == invokers, member


def test_the_migrate_job_may_not_enqueue(app_stack):
    member = f"serviceAccount:{job(app_stack, MIGRATE_JOB_NAME)['template']['template']['service_account']}"
    assert grants(app_stack, "google_cloud_tasks_queue_iam_member", member) == []
    assert grants(app_stack, "google_service_account_iam_member", member) == []


def test_web_service_is_public_through_invoker_iam_disabled_with_no_all_users_member(app_stack):
    assert only(app_stack, SERVICE)["invoker_iam_disabled"] is True
    assert only(app_stack, SERVICE)["ingress"] == "INGRESS_TRAFFIC_ALL"
    # No IAM on the service at all: with the invoker check off it would decide nothing.
    assert resources(app_stack, "google_cloud_run_v2_service_iam_member") == {}
    assert "allUsers" not in json.dumps(app_stack) and "allAuthenticatedUsers" not in json.dumps(app_stack)


def test_web_service_is_billed_by_request_cpu_only_while_serving(app_stack):
    # With resource limits set, Cloud Run's default (CPU only during requests) must be
    # written out, or every instance is billed for its whole life.
    assert web_container(app_stack)["resources"] == {"limits": {"cpu": "1", "memory": "512Mi"}, "cpu_idle": True}


def test_web_service_timeout_concurrency_and_instances(app_stack):
    template = only(app_stack, SERVICE)["template"]
    assert template["timeout"] == "600s"
    assert template["max_instance_request_concurrency"] == 4
    assert template["scaling"] == {"max_instance_count": 4}


def test_web_and_jobs_get_the_same_settings_but_allowed_hosts(app_stack):
    web = env(web_container(app_stack))
    for name in (*WORKERS, MIGRATE_JOB_NAME):
        assert {k: v for k, v in web.items() if k != "DJANGO_ALLOWED_HOSTS"} == env(job_container(app_stack, name))
    assert web["DJANGO_DEFAULT_FROM_EMAIL"] == "${var.mail_from}"


def test_handler_url_is_the_deterministic_service_url(app_stack):
    web = env(web_container(app_stack))
    base = "https://djapp-web-${data.google_project.project.number}.${var.region}.run.app"
    assert web["CLOUD_TASKS_HANDLER_URL"] == f"{base}/tasks/run/"
    assert web["CLOUD_TASKS_OIDC_AUDIENCE"] == base


def test_allowed_hosts_cover_the_deterministic_url_and_the_services_own_hash_url(app_stack):
    hosts = env(web_container(app_stack))["DJANGO_ALLOWED_HOSTS"].split(",")
    assert hosts == ["djapp-web-${data.google_project.project.number}.${var.region}.run.app", ".a.run.app"]


@pytest.mark.parametrize("stack_name", ["app_stack", "cloud_sql_app_stack"])
def test_secrets_come_from_secret_manager_and_each_runner_waits_for_its_own_grants(request, stack_name):
    stack = request.getfixturevalue(stack_name)
    grants = resources(stack, SECRET_GRANT)
    for address, (resource, template, container) in zip(runner_addresses(stack), runners(stack)):
        member = f"serviceAccount:{template['service_account']}"
        read = {name: value["secret_key_ref"] for name, value in env(container).items() if isinstance(value, dict)}
        assert set(read) == SECRETS_READ
        waited_for = {grants[d.split(".", 1)[1]]["secret_id"] for d in ancestors(stack, address)
                      if d.startswith(SECRET_GRANT) and grants[d.split(".", 1)[1]]["member"] == member}
        assert waited_for == {ref["secret"] for ref in read.values()}, resource["name"]


def test_the_secrets_you_create_are_read_as_latest_and_the_one_the_stack_writes_by_its_version(
    app_stack, cloud_sql_app_stack,
):
    # Secret Manager reads a version just added consistently by its number, not as
    # "latest"; and a new number is a new revision, so a changed URL rolls out.
    version = "${google_secret_manager_secret_version." + next(iter(
        resources(cloud_sql_app_stack, "google_secret_manager_secret_version"))) + ".version}"
    for stack, database_url_version in ((app_stack, "latest"), (cloud_sql_app_stack, version)):
        for _, _, container in runners(stack):
            versions = {name: value["secret_key_ref"]["version"] for name, value in env(container).items()
                        if isinstance(value, dict)}
            assert versions == {"DJANGO_SECRET_KEY": "latest", "DJANGO_EMAIL_URL": "latest",
                                "DATABASE_URL": database_url_version}


def test_the_secrets_you_create_are_named_in_the_docs(app_stack):
    secrets = {value["secret_key_ref"]["secret"] for value in env(web_container(app_stack)).values() if isinstance(value, dict)}
    assert secrets == {"django-secret-key", "django-email-url", "django-database-url"}
    assert not resources(app_stack, "google_sql_database_instance")
    assert "random" not in app_stack["provider"]


def test_deletion_protection_is_on_unless_turned_off_for_destroy(app_stack, cloud_sql_app_stack):
    unprotected = synth_app_stack(deletion_protection=False)
    for stack, protected in ((app_stack, True), (unprotected, False)):
        assert only(stack, SERVICE)["deletion_protection"] is protected
        assert [body["deletion_protection"] for body in resources(stack, JOB).values()] == [protected] * 3
    instance = only(cloud_sql_app_stack, "google_sql_database_instance")
    assert instance["deletion_protection"] is True
    assert instance["settings"]["deletion_protection_enabled"] is True


def test_state_goes_to_a_gcs_bucket_when_one_is_given(app_stack):
    assert "backend" not in app_stack.get("terraform", {})
    stack = synth_app_stack(state_bucket="example-state")
    assert stack["terraform"]["backend"] == {"gcs": {"bucket": "example-state", "prefix": "djapp/app"}}


# ---- The Cloud SQL option ------------------------------------------------------------

def test_cloud_sql_makes_a_postgresql_instance_database_and_user(cloud_sql_app_stack):
    instance = only(cloud_sql_app_stack, "google_sql_database_instance")
    assert instance["database_version"] == "POSTGRES_16"
    assert instance["region"] == "${var.region}"
    assert instance["settings"]["tier"] == "db-g1-small"
    assert instance["settings"]["edition"] == "ENTERPRISE"
    assert instance["settings"]["backup_configuration"]["enabled"] is True
    assert only(cloud_sql_app_stack, "google_sql_database")["name"] == "djapp"
    assert only(cloud_sql_app_stack, "google_sql_user")["name"] == "djapp"


def test_cloud_sql_password_is_a_random_password_never_written_into_the_json(cloud_sql_app_stack):
    password = ref("random_password", cloud_sql_app_stack, "result")
    assert only(cloud_sql_app_stack, "google_sql_user")["password"] == password
    generated = only(cloud_sql_app_stack, "random_password")
    assert (generated["length"], generated["special"]) == (32, False)
    # The only places the password is used are references to the generated result.
    assert json.dumps(cloud_sql_app_stack).count(password) == 2


def test_cloud_sql_url_is_written_to_a_secret_the_stack_creates(cloud_sql_app_stack):
    version = only(cloud_sql_app_stack, "google_secret_manager_secret_version")
    instance = ref("google_sql_database_instance", cloud_sql_app_stack, "connection_name")
    assert version["secret"] == ref("google_secret_manager_secret", cloud_sql_app_stack, "id")
    assert version["secret_data"] == (
        f"postgres://{ref('google_sql_user', cloud_sql_app_stack, 'name')}:"
        f"{ref('random_password', cloud_sql_app_stack, 'result')}"
        f"@${{urlencode(\"/cloudsql/{instance}\")}}/{ref('google_sql_database', cloud_sql_app_stack, 'name')}"
    )
    assert env(web_container(cloud_sql_app_stack))["DATABASE_URL"]["secret_key_ref"]["secret"] == ref(
        "google_secret_manager_secret", cloud_sql_app_stack, "secret_id")


def test_cloud_sql_is_mounted_in_the_service_and_every_job_which_wait_for_the_url(cloud_sql_app_stack):
    instance = ref("google_sql_database_instance", cloud_sql_app_stack, "connection_name")
    version = f"google_secret_manager_secret_version.{next(iter(resources(cloud_sql_app_stack, 'google_secret_manager_secret_version')))}"
    for resource, template, container in runners(cloud_sql_app_stack):
        assert template["volumes"] == [{"name": "cloudsql", "cloud_sql_instance": {"instances": [instance]}}]
        assert container["volume_mounts"] == [{"name": "cloudsql", "mount_path": "/cloudsql"}]
        assert version in resource["depends_on"]


def test_cloud_sql_client_is_granted_to_each_identity_on_that_instance_only(cloud_sql_app_stack):
    grants = resources(cloud_sql_app_stack, "google_project_iam_member").values()
    instance = ref("google_sql_database_instance", cloud_sql_app_stack, "name")
    assert {g["member"] for g in grants} == {
        f"serviceAccount:{template['service_account']}" for _, template, _ in runners(cloud_sql_app_stack)
    }
    for grant in grants:
        assert grant["role"] == "roles/cloudsql.client"
        assert grant["condition"]["expression"] == (
            f"resource.name == 'projects/${{var.project_id}}/instances/{instance}' "
            "&& resource.type == 'sqladmin.googleapis.com/Instance'"
        )


def test_the_service_and_every_job_wait_for_their_cloud_sql_grant(cloud_sql_app_stack):
    grants = resources(cloud_sql_app_stack, "google_project_iam_member")
    for address, (resource, template, _) in zip(runner_addresses(cloud_sql_app_stack), runners(cloud_sql_app_stack)):
        members = {grants[d.split(".", 1)[1]]["member"] for d in ancestors(cloud_sql_app_stack, address)
                   if d.startswith("google_project_iam_member.")}
        assert members == {f"serviceAccount:{template['service_account']}"}, resource["name"]


def test_the_cloud_sql_user_and_database_are_left_to_the_instances_deletion(cloud_sql_app_stack):
    # Cloud SQL refuses to delete a PostgreSQL user that was granted roles, and the two
    # deleted in parallel fail each other: the instance's deletion takes both.
    assert only(cloud_sql_app_stack, "google_sql_user")["deletion_policy"] == "ABANDON"
    assert only(cloud_sql_app_stack, "google_sql_database")["deletion_policy"] == "ABANDON"


def test_the_app_stack_synthesizes_without_construct_warnings():
    # Each queue's rate times its job's timeout stays below Cloud Run's running executions.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConstructWarning)
        synth_app_stack()
