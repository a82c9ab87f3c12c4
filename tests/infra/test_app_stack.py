"""The app stack builds the system the Django app needs."""

from .synth import decode_body, only, ref, resources

QUEUE = "google_cloud_tasks_queue"
JOB = "google_cloud_run_v2_job"
SERVICE = "google_cloud_run_v2_service"
SA = "google_service_account"
WEB = "serviceAccount:${google_service_account.web-identity.email}"


def env(container):
    return {e["name"]: e.get("value", e.get("value_source")) for e in container["env"]}


def web_container(stack):
    (container,) = only(stack, SERVICE)["template"]["containers"]
    return container


def by_name(stack, kind):
    return {body["name"]: body for body in resources(stack, kind).values()}


def job_container(stack, name):
    (container,) = by_name(stack, JOB)[name]["template"]["template"]["containers"]
    return container


def runtime_members(stack):
    """The runtime identity of each worker job, as an IAM member."""
    return {
        name: f"serviceAccount:{job['template']['template']['service_account']}"
        for name, job in by_name(stack, JOB).items()
    }


def test_variables_project_region_with_default_and_image(app_stack):
    variables = app_stack["variable"]
    assert set(variables) == {"project_id", "region", "image"}
    assert "default" not in variables["project_id"] and "default" not in variables["image"]
    assert variables["region"]["default"] == "us-central1"


def test_provider_takes_project_and_region_from_variables(app_stack):
    (provider,) = app_stack["provider"]["google"]
    assert provider == {"project": "${var.project_id}", "region": "${var.region}"}


def test_one_queue_and_worker_job_for_each_django_queue_name(app_stack):
    assert set(by_name(app_stack, QUEUE)) == set(by_name(app_stack, JOB)) == {"djapp-default", "djapp-long"}


def test_default_queue_keeps_its_resource_address_so_a_deployed_queue_is_not_replaced(app_stack):
    assert [i for i, q in resources(app_stack, QUEUE).items() if q["name"] == "djapp-default"] == [
        "worker_queue_3B12C5E3"
    ]


def test_default_queue_retries_five_times_backing_off_10s_to_600s_for_600s(app_stack):
    assert by_name(app_stack, QUEUE)["djapp-default"]["retry_config"] == {
        "max_attempts": 5, "min_backoff": "10s", "max_backoff": "600s", "max_retry_duration": "600s",
    }


def test_long_queue_retries_three_times_far_apart_and_dispatches_few_at_a_time(app_stack):
    long = by_name(app_stack, QUEUE)["djapp-long"]
    assert long["retry_config"] == {"max_attempts": 3, "min_backoff": "60s", "max_backoff": "900s"}
    assert long["rate_limits"] == {"max_dispatches_per_second": 1, "max_concurrent_dispatches": 3}


def test_the_two_queues_differ_in_retry_policy_and_rate_limits(app_stack):
    default, long = (by_name(app_stack, QUEUE)[name] for name in ("djapp-default", "djapp-long"))
    assert default["retry_config"] != long["retry_config"]
    assert default["rate_limits"] != long["rate_limits"]


def test_default_worker_job_has_one_cpu_512mi_and_an_hour(app_stack):
    job = by_name(app_stack, JOB)["djapp-default"]
    assert job_container(app_stack, "djapp-default")["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert job["template"]["template"]["timeout"] == "3600s"


def test_long_worker_job_has_2gi_and_four_hours(app_stack):
    job = by_name(app_stack, JOB)["djapp-long"]
    assert job_container(app_stack, "djapp-long")["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert job["template"]["template"]["timeout"] == "14400s"


def test_every_worker_job_runs_run_task_from_the_app_image(app_stack):
    for name in by_name(app_stack, JOB):
        assert job_container(app_stack, name)["command"] == ["python", "manage.py", "run_task"], name
        assert job_container(app_stack, name)["image"] == "${var.image}", name


def test_trigger_runs_the_heartbeat_every_minute_in_utc_on_the_default_worker(app_stack):
    scheduler = only(app_stack, "google_cloud_scheduler_job")
    assert (scheduler["schedule"], scheduler["time_zone"]) == ("* * * * *", "UTC")
    (default_job,) = [i for i, job in resources(app_stack, JOB).items() if job["name"] == "djapp-default"]
    assert scheduler["http_target"]["uri"].endswith(f"/jobs/${{{JOB}.{default_job}.name}}:run")
    overrides = decode_body(scheduler["http_target"]["body"])["overrides"]
    assert overrides["containerOverrides"] == [{"args": ["--task", "cloudtasks.tasks.heartbeat"]}]


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
        "scheduler_job_name": {"value": ref("google_cloud_scheduler_job", app_stack, "name")},
        "web_service_url": {"value": ref(SERVICE, app_stack, "uri")},
    }


def test_web_service_runs_as_its_own_identity(app_stack):
    assert only(app_stack, SERVICE)["template"]["service_account"] == "${google_service_account.web-identity.email}"


def grants(stack, kind, member):
    return [g for g in resources(stack, kind).values() if g["member"] == member]


def test_web_identity_and_every_worker_may_enqueue_on_every_queue(app_stack):
    queues = {f"${{{QUEUE}.{i}.name}}" for i in resources(app_stack, QUEUE)}
    for member in [WEB, *runtime_members(app_stack).values()]:
        enqueuers = grants(app_stack, "google_cloud_tasks_queue_iam_member", member)
        assert {g["role"] for g in enqueuers} == {"roles/cloudtasks.enqueuer"}, member
        assert {g["name"] for g in enqueuers} == queues, member


def test_every_producer_may_act_as_every_invoker_and_nothing_else(app_stack):
    invokers = {f"${{{SA}.{i}.name}}" for i in resources(app_stack, SA) if "_invoker_" in i}
    assert len(invokers) == 2
    for member in [WEB, *runtime_members(app_stack).values()]:
        act_as = grants(app_stack, "google_service_account_iam_member", member)
        assert {g["role"] for g in act_as} == {"roles/iam.serviceAccountUser"}, member
        assert {g["service_account_id"] for g in act_as} == invokers, member


def test_every_queues_invoker_may_push_to_the_web_service(app_stack):
    pushers = {
        g["member"] for g in resources(app_stack, "google_cloud_run_v2_service_iam_member").values()
        if g["role"] == "roles/run.invoker" and g["member"] != "allUsers"
    }
    invokers = {f"serviceAccount:${{{SA}.{i}.email}}" for i in resources(app_stack, SA) if "_invoker_" in i}
    assert pushers == invokers


def test_web_and_every_worker_get_the_same_task_settings(app_stack):
    web = {k: v for k, v in env(web_container(app_stack)).items() if k != "DJANGO_ALLOWED_HOSTS"}
    for name in by_name(app_stack, JOB):
        assert env(job_container(app_stack, name)) == web, name


def test_handler_url_is_the_deterministic_service_url(app_stack):
    web = env(web_container(app_stack))
    base = "https://djapp-web-${data.google_project.project.number}.${var.region}.run.app"
    assert web["CLOUD_TASKS_HANDLER_URL"] == f"{base}/tasks/run/"
    assert web["CLOUD_TASKS_OIDC_AUDIENCE"] == base
    assert web["DJANGO_ALLOWED_HOSTS"] == base.removeprefix("https://")


def test_secret_key_comes_from_secret_manager_readable_by_the_web_and_every_worker(app_stack):
    assert env(web_container(app_stack))["DJANGO_SECRET_KEY"] == {
        "secret_key_ref": {"secret": "django-secret-key", "version": "latest"}
    }
    readers = {g["member"] for g in resources(app_stack, "google_secret_manager_secret_iam_member").values()}
    assert readers == {WEB, *runtime_members(app_stack).values()}
