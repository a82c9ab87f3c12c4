"""Local runs: only the tasks this system created run, and only where local signing may happen.

The attacks through real processes (another host, a proxy, a task created directly in the
emulator) are in tests/local_run/test_safety.py; here, the handler and the settings.
"""

from __future__ import annotations

import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from google.cloud import tasks_v2

from cloudtasks.auth.local_signing import TASK_CLAIM, LocalSigner, LocalSigningRefused, configured_signer, task_binding, vouch
from cloudtasks.config import env
from tests.django.backend_settings import BACKEND
from tests.django.live import wait_for
from tests.django.project_settings import load_settings
from tests.django.pushes import AUDIENCE, INVOKER, payload, push
from tests.django.taskapp import tasks

TASK_NAME = "queue-task-1"  # what tests.django.pushes.push sends as X-CloudTasks-TaskName


@pytest.fixture(autouse=True)
def local_handler(settings, local_signing):
    # No middleware or other setting: the handler itself requires tokens bound to their task.
    settings.CLOUD_TASKS_AUTH = {**settings.CLOUD_TASKS_AUTH, "AUDIENCE": AUDIENCE, "INVOKER_EMAILS": [INVOKER]}
    tasks.forget()


def bound_token(signer: LocalSigner, body: bytes, task_name: str = TASK_NAME) -> str:
    return signer.mint(audience=AUDIENCE, email=INVOKER, task=task_binding(task_name, body))


def test_push_with_a_token_bound_to_its_task_runs(client, local_signing, db):
    body = payload("record", "local")

    response = push(client, body, token=bound_token(local_signing, body))

    assert response.status_code == 200
    assert tasks.calls == [("record", "local")]


def test_push_without_a_token_does_not_run(client):
    response = push(client, payload("record", "x"), token=None)

    assert response.status_code == 401
    assert tasks.calls == []


def test_token_of_one_task_does_not_run_another_body(client, local_signing):
    token = bound_token(local_signing, payload("record", "harmless"))

    response = push(client, payload("record", "chosen by an attacker"), token=token)

    assert response.status_code == 401
    assert tasks.calls == []


def test_token_of_one_task_does_not_run_under_another_task_name(client, local_signing):
    body = payload("record", "x")

    response = push(client, body, token=bound_token(local_signing, body, task_name="another-task"))

    assert response.status_code == 401
    assert tasks.calls == []


def test_a_signing_key_in_the_backends_options_is_all_a_local_run_configures(client, settings, local_signing_key, db):
    settings.TASKS = {"default": {"BACKEND": BACKEND, "OPTIONS": {
        "QUEUE_PATH": "projects/local/locations/here/queues/default", "URL": AUDIENCE,
        "SERVICE_ACCOUNT_EMAIL": INVOKER, "EMULATOR_HOST": "127.0.0.1:8123", "LOCAL_SIGNING_KEY": local_signing_key,
    }}}
    del settings.CLOUD_TASKS_AUTH
    signer = LocalSigner.from_key_file(local_signing_key)
    body = payload("record", "bound")

    replayed = push(client, payload("record", "other body"), token=bound_token(signer, body))
    bound = push(client, body, token=bound_token(signer, body))

    assert (replayed.status_code, bound.status_code) == (401, 200)
    assert tasks.calls == [("record", "bound")]


def test_token_bound_to_no_task_does_not_run(client, local_signing):
    response = push(client, payload("record", "x"), token=local_signing.mint(audience=AUDIENCE, email=INVOKER))

    assert response.status_code == 401
    assert tasks.calls == []


def test_token_of_another_key_does_not_run(client):
    body = payload("record", "x")

    response = push(client, body, token=bound_token(LocalSigner(), body))

    assert response.status_code == 401
    assert tasks.calls == []


def test_with_debug_off_no_local_token_is_trusted(client, settings, local_signing):
    body = payload("record", "x")
    token = bound_token(local_signing, body)
    settings.DEBUG = False

    with pytest.raises(LocalSigningRefused, match="DEBUG is off"):
        push(client, body, token=token)
    assert tasks.calls == []


def test_with_debug_off_created_tasks_are_not_signed(settings):
    settings.DEBUG = False

    with pytest.raises(LocalSigningRefused, match="DEBUG is off"):
        configured_signer()


def test_key_file_others_may_read_is_refused(tmp_path):
    path = tmp_path / "key.pem"
    LocalSigner().write_key_file(path)
    os.chmod(path, 0o644)

    with pytest.raises(LocalSigningRefused, match="may be read by others"):
        LocalSigner.from_key_file(path)


def test_key_file_is_written_private_to_its_owner(tmp_path):
    path = tmp_path / "key.pem"

    LocalSigner().write_key_file(path)

    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_signers_loading_one_key_file_verify_each_others_tokens(local_signing_key):
    first, second = LocalSigner.from_key_file(local_signing_key), LocalSigner.from_key_file(local_signing_key)

    assert first.key_id == second.key_id
    assert first.jwks() == second.jwks()


def create_task_request(http_request: tasks_v2.HttpRequest) -> tasks_v2.CreateTaskRequest:
    queue = "projects/local/locations/here/queues/q"
    return tasks_v2.CreateTaskRequest(
        parent=queue, task=tasks_v2.Task(name=f"{queue}/tasks/abc123", http_request=http_request)
    )


def token_claims(request: tasks_v2.CreateTaskRequest, signer: LocalSigner, audience: str) -> dict:
    import jwt

    header = request.task.http_request.headers["Authorization"]
    [key] = jwt.PyJWKSet.from_dict(signer.jwks()).keys
    return jwt.decode(header.removeprefix("Bearer "), key, algorithms=["RS256"], audience=audience)


def test_vouching_binds_an_http_task_to_its_name_and_body_for_its_invoker(local_signing):
    request = create_task_request(tasks_v2.HttpRequest(
        url=AUDIENCE, body=b'{"x": 1}', oidc_token=tasks_v2.OidcToken(service_account_email=INVOKER, audience=AUDIENCE)
    ))

    vouched = vouch(request, local_signing)

    claims = token_claims(vouched, local_signing, AUDIENCE)
    assert claims["email"] == INVOKER
    assert claims[TASK_CLAIM] == task_binding("abc123", b'{"x": 1}')
    assert "Authorization" not in request.task.http_request.headers  # the caller's request is left alone


def test_vouching_a_job_task_uses_the_jobs_run_url_as_audience(local_signing):
    url = "https://run.googleapis.com/v2/projects/local/locations/here/jobs/worker:run"
    request = create_task_request(tasks_v2.HttpRequest(
        url=url, body=b"{}", oauth_token=tasks_v2.OAuthToken(service_account_email=INVOKER)
    ))

    vouched = vouch(request, local_signing)

    assert token_claims(vouched, local_signing, url)["email"] == INVOKER


def test_a_task_enqueued_through_the_emulator_runs_and_one_created_beside_it_does_not(local_run, tasks_emulator):
    """The enqueue path vouches for its task; the same kind of task created directly in
    the emulator is pushed to the same handler, refused, retried and dropped, never run."""
    queue = local_run["default"]
    direct = tasks_emulator.client.create_task(parent=queue, task=tasks_v2.Task(http_request=tasks_v2.HttpRequest(
        url=tasks.record.get_backend().route("default").target.url,
        body=payload("record", "created directly"), headers={"Content-Type": "application/json"},
    )))
    tasks.record.enqueue("enqueued")

    wait_for(lambda: ("record", "enqueued") in tasks.calls, "the enqueued task")
    wait_for(lambda: direct.name not in {t.name for t in tasks_emulator.list_tasks(queue)}, "the emulator to drop it")
    assert ("record", "created directly") not in tasks.calls


def local_signing_keys(settings: dict) -> set[str]:
    return {backend["OPTIONS"]["LOCAL_SIGNING_KEY"] for backend in settings["TASKS"].values()}


def test_settings_of_a_local_run_sign_with_the_key_file(local_signing_key):
    local = load_settings(**{
        env.DEBUG: "true", env.EMULATOR_HOST: "127.0.0.1:8123", env.LOCAL_KEY_FILE: str(local_signing_key)
    })

    assert local_signing_keys(local) == {str(local_signing_key)}
    assert "CLOUD_TASKS_AUTH" not in local


def test_with_debug_off_tasks_may_go_to_an_emulator_but_nothing_signs_them():
    enqueue_only = load_settings(**{env.DEBUG: "false", env.EMULATOR_HOST: "127.0.0.1:8123", env.LOCAL_KEY_FILE: ""})

    assert local_signing_keys(enqueue_only) == {""}


def test_settings_of_a_deployment_trust_no_local_key():
    deployed = load_settings(**{env.EMULATOR_HOST: "", env.LOCAL_KEY_FILE: ""})

    assert local_signing_keys(deployed) == {""}


REFUSED_SETTINGS = {
    "debug off": ({env.DEBUG: "false"}, f"{env.DEBUG} is not true"),
    "no emulator": ({env.EMULATOR_HOST: ""}, f"set without {env.EMULATOR_HOST}"),
    "emulator on another host": ({env.EMULATOR_HOST: "192.0.2.1:8123"}, "not a loopback address"),
    "emulator by name": ({env.EMULATOR_HOST: "localhost:8123"}, "not a loopback address"),
    "no key file": ({env.LOCAL_KEY_FILE: ""}, f"{env.LOCAL_KEY_FILE} is not"),
    "on a Cloud Run service": ({"K_SERVICE": "djapp-web"}, "is set on Cloud Run"),
    "on a Cloud Run job": ({"CLOUD_RUN_JOB": "djapp-default"}, "is set on Cloud Run"),
}


@pytest.mark.parametrize(("change", "message"), REFUSED_SETTINGS.values(), ids=REFUSED_SETTINGS.keys())
def test_settings_refuse_local_signing_outside_a_local_run(local_signing_key, change, message):
    local = {env.DEBUG: "true", env.EMULATOR_HOST: "127.0.0.1:8123", env.LOCAL_KEY_FILE: str(local_signing_key)}

    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(**{**local, **change})

