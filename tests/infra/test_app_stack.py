"""The app stack builds the system the Django app needs."""

from .synth import decode_body, only, ref, resources

QUEUE = "google_cloud_tasks_queue"
JOB = "google_cloud_run_v2_job"
SERVICE = "google_cloud_run_v2_service"


def env(container):
    return {e["name"]: e.get("value", e.get("value_source")) for e in container["env"]}


def web_container(stack):
    (container,) = only(stack, SERVICE)["template"]["containers"]
    return container


def job_container(stack):
    (container,) = only(stack, JOB)["template"]["template"]["containers"]
    return container


def test_variables_project_region_with_default_and_image(app_stack):
    variables = app_stack["variable"]
    assert set(variables) == {"project_id", "region", "image"}
    assert "default" not in variables["project_id"] and "default" not in variables["image"]
    assert variables["region"]["default"] == "us-central1"


def test_provider_takes_project_and_region_from_variables(app_stack):
    (provider,) = app_stack["provider"]["google"]
    assert provider == {"project": "${var.project_id}", "region": "${var.region}"}


def test_default_queue_retries_five_times_backing_off_10s_to_600s_for_600s(app_stack):
    assert only(app_stack, QUEUE)["retry_config"] == {
        "max_attempts": 5, "min_backoff": "10s", "max_backoff": "600s", "max_retry_duration": "600s",
    }


def test_worker_job_has_one_cpu_512mi_and_an_hour(app_stack):
    job = only(app_stack, JOB)
    assert job_container(app_stack)["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert job["template"]["template"]["timeout"] == "3600s"
    assert job_container(app_stack)["command"] == ["python", "manage.py", "run_task"]
    assert job_container(app_stack)["image"] == "${var.image}"


def test_trigger_runs_the_heartbeat_every_minute_in_utc(app_stack):
    scheduler = only(app_stack, "google_cloud_scheduler_job")
    assert (scheduler["schedule"], scheduler["time_zone"]) == ("* * * * *", "UTC")
    overrides = decode_body(scheduler["http_target"]["body"])["overrides"]
    assert overrides["containerOverrides"] == [{"args": ["--task", "cloudtasks.tasks.heartbeat"]}]


def test_outputs(app_stack):
    assert app_stack["output"] == {
        "cloud_tasks_queue_name": {"value": ref(QUEUE, app_stack, "name")},
        "worker_job_name": {"value": ref(JOB, app_stack, "name")},
        "scheduler_job_name": {"value": ref("google_cloud_scheduler_job", app_stack, "name")},
        "web_service_url": {"value": ref(SERVICE, app_stack, "uri")},
    }


def test_web_service_runs_as_its_own_identity(app_stack):
    assert only(app_stack, SERVICE)["template"]["service_account"] == "${google_service_account.web-identity.email}"


def test_web_identity_may_enqueue_through_the_construct_grant(app_stack):
    member = "serviceAccount:${google_service_account.web-identity.email}"
    enqueuers = [g for g in resources(app_stack, "google_cloud_tasks_queue_iam_member").values() if g["member"] == member]
    act_as = [g for g in resources(app_stack, "google_service_account_iam_member").values() if g["member"] == member]
    assert [g["role"] for g in enqueuers] == ["roles/cloudtasks.enqueuer"]
    assert [g["role"] for g in act_as] == ["roles/iam.serviceAccountUser"]


def test_tasks_may_be_pushed_to_the_web_service(app_stack):
    grants = resources(app_stack, "google_cloud_run_v2_service_iam_member").values()
    invoker = ref("google_service_account", app_stack, "email", id_contains="invoker")
    assert {"role": "roles/run.invoker", "member": f"serviceAccount:{invoker}"}.items() <= next(
        g for g in grants if g["member"] != "allUsers").items()


def test_web_and_worker_get_the_same_task_settings(app_stack):
    web, worker = env(web_container(app_stack)), env(job_container(app_stack))
    shared = {k: v for k, v in web.items() if k != "DJANGO_ALLOWED_HOSTS"}
    assert shared == worker


def test_handler_url_is_the_deterministic_service_url(app_stack):
    web = env(web_container(app_stack))
    base = "https://djapp-web-${data.google_project.project.number}.${var.region}.run.app"
    assert web["CLOUD_TASKS_HANDLER_URL"] == f"{base}/tasks/run/"
    assert web["CLOUD_TASKS_OIDC_AUDIENCE"] == base
    assert web["DJANGO_ALLOWED_HOSTS"] == base.removeprefix("https://")


def test_secret_key_comes_from_secret_manager_readable_by_both_identities(app_stack):
    assert env(web_container(app_stack))["DJANGO_SECRET_KEY"] == {
        "secret_key_ref": {"secret": "django-secret-key", "version": "latest"}
    }
    readers = {g["member"] for g in resources(app_stack, "google_secret_manager_secret_iam_member").values()}
    assert readers == {
        "serviceAccount:${google_service_account.web-identity.email}",
        "serviceAccount:" + ref("google_service_account", app_stack, "email", id_contains="runtime"),
    }
