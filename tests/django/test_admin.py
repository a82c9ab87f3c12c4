"""The records in the Django admin, and `manage.py list_tasks`.

The admin is used as a browser uses it: a client that keeps cookies and must send the
CSRF token (Django's test client checks none unless told to).
"""

from __future__ import annotations

import re

import grpc
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.test import Client

from cloudtasks.models import TaskRecord
from cloudtasks.run import records
from tests.django import enqueued_tasks
from tests.django.backend_settings import tasks_setting

QUEUE = "projects/example-project/locations/europe-west1/queues/default"
CHANGELIST = "/admin/cloudtasks/taskrecord/"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(autouse=True)
def backends_on_fake(settings, fake_cloud_tasks, transactional_db):
    settings.TASKS = tasks_setting(QUEUE, emulator_host=fake_cloud_tasks.address)


@pytest.fixture
def admin_client() -> Client:
    User.objects.create_superuser("admin", "admin@example.com", "a-long-admin-password")
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/admin/login/")
    [token] = CSRF_FIELD.findall(page.content.decode())
    logged_in = browser.post("/admin/login/?next=/admin/", {
        "username": "admin", "password": "a-long-admin-password", "csrfmiddlewaretoken": token,
    })
    assert logged_in.status_code == 302 and logged_in.url == "/admin/"
    return browser


def in_state(status: str, name: str = "Ada") -> TaskRecord:
    """A task enqueued (to the fake Cloud Tasks) and brought to `status` as the runner would."""
    record = TaskRecord.objects.get(pk=enqueued_tasks.greet.enqueue(name).id)
    if status == TaskResultStatus.READY:
        return record
    claim = records.claim(record.pk, worker_id="worker-1", delivery_attempt=1, lease=60,
                          takes_over=lambda holder: False, adopt=lambda: None)
    if status == TaskResultStatus.SUCCESSFUL:
        records.succeeded(claim, f"Hello {name}!")
    elif status == TaskResultStatus.FAILED:
        records.failed(claim, RuntimeError("the mail server said no"), for_good=True)
    return TaskRecord.objects.get(pk=record.pk)


def test_the_list_shows_every_task_and_filters_by_status(admin_client):
    failed = in_state(TaskResultStatus.FAILED, "Grace")
    succeeded = in_state(TaskResultStatus.SUCCESSFUL, "Ada")

    everything = admin_client.get(CHANGELIST).content.decode()
    only_failed = admin_client.get(CHANGELIST, {"status__exact": "FAILED"}).content.decode()

    assert failed.pk in everything and succeeded.pk in everything
    assert failed.pk in only_failed and succeeded.pk not in only_failed
    for filter_by in ("By status", "By queue name", "By task path"):
        assert filter_by in everything


def test_a_task_shows_its_arguments_attempts_errors_and_result(admin_client):
    failed = in_state(TaskResultStatus.FAILED, "Grace")
    succeeded = in_state(TaskResultStatus.SUCCESSFUL, "Ada")

    failed_page = admin_client.get(f"{CHANGELIST}{failed.pk}/change/").content.decode()
    succeeded_page = admin_client.get(f"{CHANGELIST}{succeeded.pk}/change/").content.decode()

    assert "&quot;Grace&quot;" in failed_page  # the arguments
    assert "worker-1" in failed_page and "RuntimeError: the mail server said no" in failed_page
    assert "&quot;Hello Ada!&quot;" in succeeded_page  # the return value
    assert 'type="submit"' not in failed_page.split('id="content"')[1]  # nothing to save: it is read-only


def test_re_driving_a_failed_task_sends_it_again_under_a_new_name(admin_client, fake_cloud_tasks):
    failed = in_state(TaskResultStatus.FAILED)
    waiting = in_state(TaskResultStatus.READY, "Grace")
    fake_cloud_tasks.requests.clear()
    token = CSRF_FIELD.findall(admin_client.get(CHANGELIST).content.decode())[0]  # every form has the same

    done = admin_client.post(CHANGELIST, {
        "action": "redrive_failed", "_selected_action": [failed.pk, waiting.pk], "csrfmiddlewaretoken": token,
    }, follow=True)

    redriven = TaskRecord.objects.get(pk=failed.pk)
    assert (redriven.status, redriven.generation, redriven.finished_at) == (TaskResultStatus.READY, 1, None)
    assert len(redriven.attempts) == 1  # the history stays
    assert fake_cloud_tasks.names() == [f"{QUEUE}/tasks/{failed.pk}-1"]
    shown = done.content.decode()
    assert f"Re-driven: {failed.pk}-1." in shown
    assert "1 selected task(s) not FAILED, left alone." in shown
    assert TaskRecord.objects.get(pk=waiting.pk).generation == 0


def test_the_re_drive_needs_the_csrf_token(admin_client, fake_cloud_tasks):
    failed = in_state(TaskResultStatus.FAILED)

    refused = admin_client.post(CHANGELIST, {"action": "redrive_failed", "_selected_action": [failed.pk]})

    assert refused.status_code == 403
    assert TaskRecord.objects.get(pk=failed.pk).status == TaskResultStatus.FAILED


def test_cancelling_in_the_admin_stops_waiting_tasks_and_says_why_others_go_on(admin_client, fake_cloud_tasks):
    waiting = in_state(TaskResultStatus.READY)
    running = in_state(TaskResultStatus.RUNNING, "Grace")
    succeeded = in_state(TaskResultStatus.SUCCESSFUL, "Alan")
    token = CSRF_FIELD.findall(admin_client.get(CHANGELIST).content.decode())[0]

    done = admin_client.post(CHANGELIST, {
        "action": "cancel_not_started", "_selected_action": [waiting.pk, running.pk, succeeded.pk],
        "csrfmiddlewaretoken": token,
    }, follow=True)

    shown = done.content.decode()
    assert f"Cancelled: {waiting.pk}." in shown
    assert f"Not cancelled: Task {running.pk} (tests.django.enqueued_tasks.tasks.greet) is running" in shown
    assert f"Not cancelled: Task {succeeded.pk} (tests.django.enqueued_tasks.tasks.greet) finished SUCCESSFUL" in shown
    statuses = dict(TaskRecord.objects.values_list("pk", "status"))
    assert statuses == {waiting.pk: TaskResultStatus.FAILED, running.pk: TaskResultStatus.RUNNING,
                        succeeded.pk: TaskResultStatus.SUCCESSFUL}
    assert fake_cloud_tasks.deleted == [f"{QUEUE}/tasks/{waiting.pk}"]
    page = admin_client.get(f"{CHANGELIST}{waiting.pk}/change/").content.decode()
    assert "Cancelled at:" in page and "Cancelled at:" not in admin_client.get(
        f"{CHANGELIST}{running.pk}/change/").content.decode()


def test_tasks_cannot_be_added_by_hand(admin_client):
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_a_superuser_cannot_delete_a_record_in_the_admin(admin_client):
    waiting = in_state(TaskResultStatus.READY)  # a job task's would be lost with it
    succeeded = in_state(TaskResultStatus.SUCCESSFUL, "Grace")
    listed = admin_client.get(CHANGELIST).content.decode()
    shown = admin_client.get(f"{CHANGELIST}{waiting.pk}/change/").content.decode()
    [token] = CSRF_FIELD.findall(listed)[:1]

    bulk = admin_client.post(CHANGELIST, {
        "action": "delete_selected", "_selected_action": [waiting.pk, succeeded.pk], "post": "yes",
        "csrfmiddlewaretoken": token,
    }, follow=True)
    one = admin_client.post(f"{CHANGELIST}{waiting.pk}/delete/", {"post": "yes", "csrfmiddlewaretoken": token})

    assert 'value="delete_selected"' not in listed and "/delete/" not in shown
    assert "No action selected." in bulk.content.decode()
    assert (admin_client.get(f"{CHANGELIST}{waiting.pk}/delete/").status_code, one.status_code) == (403, 403)
    assert set(TaskRecord.objects.values_list("pk", flat=True)) == {waiting.pk, succeeded.pk}


def test_list_tasks_shows_pending_running_failed_and_stuck_tasks(fake_cloud_tasks, capsys):
    fake_cloud_tasks.script[:] = [grpc.StatusCode.UNAVAILABLE]
    stuck = in_state(TaskResultStatus.READY, "never sent")  # its send failed
    pending = in_state(TaskResultStatus.READY, "just sent")
    running = in_state(TaskResultStatus.RUNNING)
    failed = in_state(TaskResultStatus.FAILED, "Grace")

    call_command("list_tasks")

    out = capsys.readouterr().out
    sections = dict(re.findall(r"^(\w+): (\d+)$", out, re.MULTILINE))
    assert sections == {"pending": "2", "running": "1", "failed": "1", "stuck": "1"}
    assert f"{stuck.pk}  tests.django.enqueued_tasks.tasks.greet  queue=default  status=READY" in out
    assert "send error: UNAVAILABLE: scripted UNAVAILABLE" in out
    assert f"{running.pk}" in out and "worker=worker-1 lease until" in out
    assert f"{failed.pk}" in out and "last error: RuntimeError: the mail server said no" in out
    assert pending.pk in out


def test_list_tasks_shows_one_state_when_asked(capsys):
    failed = in_state(TaskResultStatus.FAILED)
    in_state(TaskResultStatus.RUNNING, "Grace")

    call_command("list_tasks", "--state", "failed")

    out = capsys.readouterr().out
    assert out.splitlines()[0] == "failed: 1"
    assert failed.pk in out and "running" not in out
