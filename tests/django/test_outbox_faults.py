"""No task is lost when Cloud Tasks is down, hangs, or gives up on tasks: faults injected
for real, counted.

A live server serves the sign-up page and the push handler; an emulator of this
module's own stands in for Cloud Tasks and is stopped, restarted and frozen (SIGSTOP);
the welcome mail goes to an SMTP server on loopback. `flush(now=...)` runs the flush as
the every-minute schedule would run it that much later.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.tasks import TaskResultStatus
from django.utils import timezone

from cloudtasks.auth import accepted, signing_keys, verify
from cloudtasks.auth.local_signing import LOCAL_ISSUER, LocalSigner
from cloudtasks.config.options import DEFAULT_SEND_BUDGET
from cloudtasks.enqueue.outbox import SEND_CLAIM
from cloudtasks.models import TaskRecord
from cloudtasks.operations.flush import QUIET, flush
from tests.django import cloud_tasks_emulator
from tests.django.backend_settings import INVOKER
from tests.django.conftest import configure_local_run
from tests.django.jwks_server import JwksServer
from tests.django.live import wait_for
from tests.django.loopback import free_port
from tests.django.sign_ups import sign_up
from tests.django.taskapp import tasks

MAX_RETRIES = 5  # the emulator's, about 100 ms apart; then it drops the task
# A queue that gives up at once, as the emulator does: the flush's judge of "gave up".
RETRY = {"max_attempts": 1, "min_backoff": "0.1s", "max_backoff": "0.1s"}
# What a request may wait on Cloud Tasks, and what else a sign-up takes on a busy machine.
REQUEST_BOUND = DEFAULT_SEND_BUDGET + 2.0
SIGN_UPS = 100
CONCURRENT_SIGN_UPS = 18


class OwnEmulator:
    """An emulator this module may stop, restart and freeze; `current` is the running one."""

    def __init__(self, log: Path) -> None:
        self.current = cloud_tasks_emulator.start(max_retries=MAX_RETRIES, log=log)
        self.stopped = False

    @property
    def address(self) -> str:
        return self.current.address

    def stop(self) -> None:
        cloud_tasks_emulator.stop(self.current)
        self.stopped = True

    def start_again(self, *queues: str) -> None:
        self.current = cloud_tasks_emulator.restart(self.current, max_retries=MAX_RETRIES)
        self.stopped = False
        for queue in queues:
            self.current.recreate_queue(queue)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> Iterator[OwnEmulator]:
    own = OwnEmulator(tmp_path_factory.mktemp("own-emulator") / "emulator.log")
    yield own
    cloud_tasks_emulator.stop(own.current)


@pytest.fixture
def queue(settings, emulator, web_server, local_signing_key, transactional_db, mailbox) -> Iterator[str]:
    """A running queue in the module's emulator, for both queue names; it pushes to the
    live server, and the welcome mail goes to `mailbox`."""
    path = emulator.current.create_queue(paused=False)
    configure_local_run(
        settings, web_server.url, emulator.address, local_signing_key, {"default": path, "long": path}, retry=RETRY
    )
    yield path
    emulator.current.thaw()
    if emulator.stopped:
        emulator.start_again()
    else:
        emulator.current.delete_queue(path)


def later(minutes: timedelta = SEND_CLAIM + QUIET) -> timezone.datetime:
    return timezone.now() + minutes + timedelta(seconds=1)


def mailed(mailbox) -> Counter[str]:
    return Counter(address for [address] in mailbox.envelope_recipients)


def settled(emulator, queue: str) -> bool:
    """Nothing left for the emulator to push, and no task still running."""
    return not emulator.current.list_tasks(queue) and not TaskRecord.objects.filter(
        status=TaskResultStatus.RUNNING
    ).exists()


def test_cloud_tasks_down_at_commit_every_sign_up_succeeds_and_each_mail_goes_out_once_after_a_flush(
    emulator, queue, web_server, mailbox
):
    emulator.stop()

    outcomes = [sign_up(web_server.url, f"down{n}") for n in range(SIGN_UPS)]

    assert [url.endswith("/accounts/signup/done/") for url, _ in outcomes] == [True] * SIGN_UPS
    assert max(seconds for _, seconds in outcomes) < REQUEST_BOUND
    assert User.objects.count() == TaskRecord.objects.filter(sent_at=None).count() == SIGN_UPS

    emulator.start_again(queue)
    report = flush()

    assert report.sent == SIGN_UPS
    mailbox.wait_for(SIGN_UPS)
    wait_for(lambda: settled(emulator, queue), "the pushes")
    assert mailed(mailbox) == {f"down{n}@example.com": 1 for n in range(SIGN_UPS)}


def test_cloud_tasks_hung_concurrent_sign_ups_return_within_the_budget_and_every_task_runs(
    emulator, queue, web_server, mailbox
):
    emulator.current.freeze()

    with ThreadPoolExecutor(CONCURRENT_SIGN_UPS) as pool:
        outcomes = list(pool.map(lambda n: sign_up(web_server.url, f"hung{n}"), range(CONCURRENT_SIGN_UPS)))

    assert [url.endswith("/accounts/signup/done/") for url, _ in outcomes] == [True] * CONCURRENT_SIGN_UPS
    assert max(seconds for _, seconds in outcomes) < REQUEST_BOUND
    emulator.current.thaw()
    flush()

    users = {f"hung{n}@example.com" for n in range(CONCURRENT_SIGN_UPS)}
    wait_for(lambda: set(mailed(mailbox)) == users, "a welcome mail for every user")
    wait_for(lambda: settled(emulator, queue), "the pushes")
    # The frozen emulator created the tasks whose calls had timed out once it thawed, and
    # the flush sent them again: the emulator takes the same name twice (Cloud Tasks would
    # not), and the runner ran each task once.
    assert mailed(mailbox) == {user: 1 for user in users}


def test_a_rolled_back_enqueue_is_never_sent_nor_run(emulator, queue):
    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), transaction.atomic():
        tasks.record.enqueue("rolled back")
        raise RolledBack

    assert flush(now=later()).sent == 0
    assert emulator.current.list_tasks(queue) == []
    assert tasks.calls == []


def test_signing_keys_unreachable_longer_than_cloud_tasks_retries_no_task_is_lost(
    settings, emulator, queue, local_signing_key, monkeypatch, caplog
):
    # Tasks are signed as a local run signs them; the handler verifies their tokens as in
    # production, with keys fetched from a URL (here the local key's), which nothing
    # serves yet.
    keys_port = free_port()
    production = accepted.PushAuth(
        audiences=accepted.push_auth().audiences, invoker_emails=frozenset({INVOKER}), issuers=(LOCAL_ISSUER,),
        jwks_url=f"http://127.0.0.1:{keys_port}/oauth2/v3/certs",
    )
    monkeypatch.setattr(verify, "configured_verifier", functools.cache(lambda: verify.verifier_for(production)))
    # Minutes of outage pass at once here: the handler may fetch again right after a failure.
    monkeypatch.setattr(signing_keys, "MIN_FETCH_INTERVAL", 0.0)
    labels = [f"keys {n}" for n in range(5)]

    def refused(pushes: int) -> bool:
        # The emulator pushes each task 1 + MAX_RETRIES times, then drops it; a push in
        # flight is not in its list of tasks, so count the handler's refusals instead.
        return len([r for r in caplog.records if r.getMessage().startswith("Cannot verify task push")]) >= pushes

    with caplog.at_level(logging.ERROR, logger="cloudtasks.views"):
        for label in labels:
            tasks.record.enqueue(label)
        enqueued_at = timezone.now()
        wait_for(lambda: refused(len(labels) * (1 + MAX_RETRIES)), "the emulator to give up on every push (503)")
        flush(now=enqueued_at + SEND_CLAIM + timedelta(seconds=1))  # a flush during the outage
        wait_for(lambda: refused(2 * len(labels) * (1 + MAX_RETRIES)), "the emulator to give up again")
    assert tasks.calls == []

    keys = JwksServer(LocalSigner.from_key_file(local_signing_key), port=keys_port)  # the keys are back
    try:
        report = flush(now=enqueued_at + SEND_CLAIM + QUIET + timedelta(seconds=2))
        wait_for(lambda: {label for _, label in tasks.calls} == set(labels), "every task to run")
        wait_for(lambda: not emulator.current.list_tasks(queue), "every push")
    finally:
        keys.close()

    assert report.resent == len(labels)
    assert sorted(label for _, label in tasks.calls) == labels  # each once
    assert set(TaskRecord.objects.values_list("status", "generation")) == {(TaskResultStatus.SUCCESSFUL, 1)}
