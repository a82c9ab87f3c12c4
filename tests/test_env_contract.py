"""The stack and Django meet only in environment variables: they must agree.

Neither side imports the other; this test imports both. It reads what the synthesized
app stack sets on the web service and every worker job, resolves the Terraform
references the way an apply would, and loads the Django settings from the result.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import runpy
from typing import Any
from unittest import mock

import pytest
from cdktf import TerraformVariable

from cloudtasks import queue_env
from cloudtasks.auth import accepted
from cloudtasks.backend import CloudTasksBackend
from cloudtasks.config import env as django_env  # plain constants: no Django set-up needed
from cloudtasks.config.retry import read_retry
from constructs_lib import QueueWorker, producer_env
from stacks import django_env as stack_env
from tests.infra.synth import new_stack, resources

SERVICE = "google_cloud_run_v2_service"
JOB = "google_cloud_run_v2_job"
QUEUE = "google_cloud_tasks_queue"
SETTINGS_FILE = importlib.util.find_spec("config.settings").origin

# What Cloud Tasks uses for a RetryConfig field a queue leaves unset, as
# `gcloud tasks queues describe` shows a new queue
# (https://cloud.google.com/tasks/docs/add-task-queue); no maxRetryDuration means none.
# Written out here, apart from the code under test.
CLOUD_TASKS_RETRY_DEFAULTS = {
    "max_attempts": 100, "min_backoff": "0.100s", "max_backoff": "3600s", "max_doublings": 16,
    "max_retry_duration": "0s",
}

# Values an apply would give the references in the stack, for loading settings from it.
PROJECT, PROJECT_NUMBER, REGION = "example-project", "123456789012", "europe-west1"
MAIL_FROM = "noreply@example.com"
# What the secrets the stack reads from Secret Manager would hold.
SECRET_VALUES = {
    django_env.SECRET_KEY: "from-secret-manager",
    django_env.DATABASE_URL: "postgres://djapp:password@db.example.com:5432/djapp",
    django_env.EMAIL_URL: "smtp+starttls://mailer:password@mail.example.com:587",
}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("value_source")) for e in container["env"]}


def web_env(stack) -> dict[str, Any]:
    (service,) = resources(stack, SERVICE).values()
    (container,) = service["template"]["containers"]
    return env_of(container)


def job_envs(stack) -> dict[str, dict[str, Any]]:
    envs = {}
    for job in resources(stack, JOB).values():
        (container,) = job["template"]["template"]["containers"]
        envs[job["name"]] = env_of(container)
    return envs


def queues_set(stack) -> dict[str, dict[str, Any]]:
    """CLOUD_TASKS_QUEUES as the web service gets it (Terraform references unresolved)."""
    return json.loads(web_env(stack)[stack_env.QUEUES])


def applied(value: str, stack) -> str:
    """`value` with the stack's references replaced by what an apply would produce."""
    accounts = resources(stack, "google_service_account")

    def resolve(match: re.Match[str]) -> str:
        reference = match[1]
        if reference == "var.region":
            return REGION
        if reference == "var.mail_from":
            return MAIL_FROM
        if reference == "var.project_id":
            return PROJECT
        if reference == "data.google_project.project.number":
            return PROJECT_NUMBER
        kind, logical_id, attribute = reference.split(".")
        if (kind, attribute) == (QUEUE, "id"):
            return f"projects/{PROJECT}/locations/{REGION}/queues/{resources(stack, QUEUE)[logical_id]['name']}"
        if (kind, attribute) == (QUEUE, "project"):
            return PROJECT
        if (kind, attribute) == ("google_service_account", "email"):
            return f"{accounts[logical_id]['account_id']}@{PROJECT}.iam.gserviceaccount.com"
        raise AssertionError(f"no applied value for ${{{reference}}}")

    return re.sub(r"\$\{([^}]+)\}", resolve, value)


def deployed_settings(stack) -> dict[str, Any]:
    """config.settings as the web service would load them from what the stack sets."""
    variables = {
        name: applied(value, stack) for name, value in web_env(stack).items() if isinstance(value, str)
    }
    secrets = {name for name, value in web_env(stack).items() if not isinstance(value, str)}
    assert secrets == set(SECRET_VALUES)
    variables.update(SECRET_VALUES)
    cleared = {name: "" for name in (django_env.EMULATOR_HOST, django_env.DEBUG)}
    with mock.patch.dict(os.environ, {**cleared, **variables}):
        return runpy.run_path(SETTINGS_FILE)


def pushes_accepted(settings: dict[str, Any]) -> accepted.PushAuth:
    """What the push handler accepts under `settings`: what their TASKS implies."""
    backends = {alias: CloudTasksBackend(alias, params).backend_options for alias, params in settings["TASKS"].items()}
    return accepted.accepted_by({}, backends)


# --- names ------------------------------------------------------------------------------

def test_every_variable_the_web_service_gets_is_one_django_reads(app_stack):
    assert set(web_env(app_stack)) == django_env.STACK_SET


def test_every_job_gets_the_same_names_except_allowed_hosts(app_stack):
    envs = job_envs(app_stack)

    assert len(envs) == 3  # the two workers and the migrate job
    for job, names in envs.items():
        assert set(names) == django_env.STACK_SET - {django_env.ALLOWED_HOSTS}, job


def test_both_sides_name_the_variables_alike():
    assert (stack_env.QUEUES, stack_env.HANDLER_URL, stack_env.OIDC_AUDIENCE) == (
        django_env.QUEUES, django_env.HANDLER_URL, django_env.OIDC_AUDIENCE
    )
    assert (stack_env.ALLOWED_HOSTS, stack_env.SECRET_KEY) == (django_env.ALLOWED_HOSTS, django_env.SECRET_KEY)
    assert (stack_env.LOG_FORMAT, stack_env.PROJECT) == (django_env.LOG_FORMAT, django_env.PROJECT)


# --- CLOUD_TASKS_QUEUES -----------------------------------------------------------------

def test_every_process_gets_the_same_queues(app_stack):
    web = web_env(app_stack)[stack_env.QUEUES]

    for job, variables in job_envs(app_stack).items():
        assert variables[stack_env.QUEUES] == web, job


def test_the_stack_describes_exactly_the_queues_django_enqueues_on(app_stack):
    assert set(queues_set(app_stack)) == set(deployed_settings(app_stack)["TASK_QUEUES"])


def test_each_queue_entry_has_exactly_the_keys_django_reads(app_stack):
    for name, entry in queues_set(app_stack).items():
        assert set(entry) == set(queue_env.OPTION_OF), name


def test_an_entry_carries_all_that_queue_worker_exposes_to_producers():
    assert set(stack_env.QUEUE_KEYS) == set(producer_env.ALL)
    assert {
        *stack_env.QUEUE_KEYS.values(), stack_env.JOB_MAX_RETRIES_KEY, stack_env.JOB_TIMEOUT_KEY, stack_env.RETRY_KEY,
        stack_env.MAX_RUNNING_KEY, stack_env.SLOT_WAIT_KEY,
    } == set(queue_env.OPTION_OF)


def test_each_queue_name_has_its_own_cloud_tasks_queue_invoker_and_job(app_stack):
    entries = queues_set(app_stack).values()

    for key in (queue_env.QUEUE_PATH, queue_env.INVOKER_EMAIL, queue_env.JOB_PATH):
        values = [entry[key] for entry in entries]
        assert len(set(values)) == len(values), key


def test_each_entry_names_a_queue_its_invoker_and_its_job(app_stack):
    queues = resources(app_stack, QUEUE)
    jobs = {job["name"]: job for job in resources(app_stack, JOB).values()}

    for name, entry in queues_set(app_stack).items():
        (queue_id,) = re.fullmatch(rf"\$\{{{QUEUE}\.([^.]+)\.id\}}", entry[queue_env.QUEUE_PATH]).groups()
        queue = queues[queue_id]
        assert entry[queue_env.JOB_PATH] == (
            f"projects/${{{QUEUE}.{queue_id}.project}}/locations/{queue['location']}/jobs/{jobs[queue['name']]['name']}"
        ), name
        assert re.fullmatch(r"\$\{google_service_account\.[^.]+_invoker_[^.]+\.email\}", entry[queue_env.INVOKER_EMAIL])


def test_each_entry_carries_its_queues_retry_policy_as_declared(app_stack):
    queues = resources(app_stack, QUEUE)

    for name, entry in queues_set(app_stack).items():
        (queue_id,) = re.fullmatch(rf"\$\{{{QUEUE}\.([^.]+)\.id\}}", entry[queue_env.QUEUE_PATH]).groups()
        assert entry[queue_env.RETRY] == queues[queue_id].get("retry_config", {}), name


def test_each_entry_carries_its_jobs_max_retries_which_the_job_backend_reads(app_stack):
    jobs = {job["name"]: job for job in resources(app_stack, JOB).values()}
    settings = deployed_settings(app_stack)
    backend = CloudTasksBackend("jobs", settings["TASKS"]["jobs"])

    for name, entry in queues_set(app_stack).items():
        declared = jobs[f"djapp-{name}"]["template"]["template"]["max_retries"]
        assert entry[queue_env.JOB_MAX_RETRIES] == declared, name
        assert backend.route(name).target.max_retries == declared, name


def test_each_entry_carries_its_jobs_task_timeout_which_the_job_backend_reads(app_stack):
    jobs = {job["name"]: job for job in resources(app_stack, JOB).values()}
    settings = deployed_settings(app_stack)
    backend = CloudTasksBackend("jobs", settings["TASKS"]["jobs"])

    for name, entry in queues_set(app_stack).items():
        declared = jobs[f"djapp-{name}"]["template"]["template"]["timeout"]  # "180s"
        assert f"{entry[queue_env.JOB_TIMEOUT]}s" == declared, name
        assert f"{backend.route(name).target.timeout:g}s" == declared, name


def test_a_job_timeout_known_only_at_apply_is_refused_naming_the_job():
    stack = new_stack()
    timeout = TerraformVariable(stack, "timeout", type="string").string_value
    worker = QueueWorker(stack, "worker", name="jobs", image="example/image:1", region="europe-west1", timeout=timeout)

    with pytest.raises(ValueError, match=r"CLOUD_TASKS_QUEUES: the timeout of job test/worker/\S+ is a Terraform "
                                         r"reference; give it as a duration"):
        stack_env.job_timeout_seconds(worker)


def test_each_entry_carries_its_jobs_slots_which_both_backends_read(app_stack):
    from stacks.app_stack import QUEUES as APP_QUEUES

    declared = {queue.name: (queue.max_running, queue.slot_wait) for queue in APP_QUEUES}
    settings = deployed_settings(app_stack)

    for name, entry in queues_set(app_stack).items():
        assert (entry[queue_env.MAX_RUNNING], entry[queue_env.SLOT_WAIT]) == declared[name], name
        for alias, params in settings["TASKS"].items():
            route = CloudTasksBackend(alias, params).route(name)
            assert (route.max_running, route.slot_wait) == declared[name], (alias, name)


def test_django_reads_each_queues_retry_policy_with_cloud_tasks_defaults_for_unset_fields(app_stack):
    queues = resources(app_stack, QUEUE)
    settings = deployed_settings(app_stack)

    for name, entry in queues_set(app_stack).items():
        (queue_id,) = re.fullmatch(rf"\$\{{{QUEUE}\.([^.]+)\.id\}}", entry[queue_env.QUEUE_PATH]).groups()
        in_effect = read_retry({**CLOUD_TASKS_RETRY_DEFAULTS, **queues[queue_id].get("retry_config", {})})
        for alias, params in settings["TASKS"].items():
            route = CloudTasksBackend(alias, params).route(name)
            assert route.retry == in_effect, (alias, name)


def test_settings_loaded_from_what_the_stack_sets_pass_every_check(app_stack):
    settings = deployed_settings(app_stack)

    for alias, params in settings["TASKS"].items():
        assert CloudTasksBackend(alias, params).check() == [], alias
    assert pushes_accepted(settings).audiences


def test_settings_loaded_from_what_the_stack_sets_log_json_lines_with_the_projects_traces(app_stack):
    settings = deployed_settings(app_stack)

    assert settings["LOGGING"]["handlers"]["console"] == {
        "class": "cloudtasks.cloud_logging.CloudLoggingHandler", "project_id": PROJECT,
    }
    assert settings["MIDDLEWARE"][0] == "google.cloud.logging_v2.handlers.middleware.RequestMiddleware"


def test_each_backend_sends_each_queue_name_to_its_cloud_tasks_queue(app_stack):
    settings = deployed_settings(app_stack)

    for alias, params in settings["TASKS"].items():
        backend = CloudTasksBackend(alias, params)
        assert {name: backend.route(name).queue_path.rsplit("/", 1)[1] for name in backend.queues} == {
            "default": "djapp-default", "long": "djapp-long",
        }, alias


def test_the_push_handler_accepts_the_invoker_of_every_queue(app_stack):
    settings = deployed_settings(app_stack)
    backend = CloudTasksBackend("default", settings["TASKS"]["default"])

    assert pushes_accepted(settings).invoker_emails == {
        backend.route(name).target.service_account_email for name in backend.queues
    }
