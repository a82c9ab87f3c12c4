"""Renewing leases costs a process one connection, however many leases and renewals.

Real renewals on the tests' PostgreSQL, with leases short enough to be renewed many times
in a second; the connections the renewal thread opens are counted as Django opens them
(the connection_created signal) and as the server shows them (pg_stat_activity).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta

import pytest
from django.db import connection
from django.db.backends.signals import connection_created
from django.tasks import TaskResultStatus
from django.utils import timezone

from cloudtasks.models import TaskRecord
from cloudtasks.run import lease
from tests.django.live import wait_for

LEASE = 0.3  # renewed every 0.1 s
RENEWAL_APPLICATION = f"{lease.RENEWAL_APPLICATION} {os.getpid()}"


def running_record(record_id: str) -> TaskRecord:
    now = timezone.now()
    return TaskRecord.objects.create(
        id=record_id, task_path="tests.django.taskapp.tasks.record", backend="default", queue_name="default",
        enqueued_at=now, check_after=now, status=TaskResultStatus.RUNNING, lease_token=uuid.uuid4().hex,
        lease_expires_at=now + timedelta(seconds=LEASE),
    )


def expires_at(record: TaskRecord):
    return TaskRecord.objects.get(pk=record.pk).lease_expires_at


def renewal_backends() -> list[int]:
    """The server's backends that renew this process's leases."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [RENEWAL_APPLICATION])
        return [pid for (pid,) in cursor.fetchall()]


@pytest.fixture
def renewal_connections_opened() -> Iterator[list[object]]:
    """The connections opened from now on by threads other than the test's: renewals."""
    opened: list[object] = []
    test = threading.current_thread()

    def count(sender, connection, **kwargs) -> None:
        if threading.current_thread() is not test:
            opened.append(connection)

    connection_created.connect(count)
    yield opened
    connection_created.disconnect(count)


def test_one_connection_renews_every_lease_of_a_process_however_many_renewals(
    transactional_db, renewal_connections_opened
):
    held = [running_record(f"lease-{index}") for index in range(3)]
    first_expiry = {record.pk: record.lease_expires_at for record in held}

    with ExitStack() as leases:
        for record in held:
            leases.enter_context(lease.kept(record.pk, record.lease_token, LEASE))
        time.sleep(12 * LEASE / 3)  # about a dozen renewals of each lease
        renewed_until = {record.pk: expires_at(record) for record in held}

    assert all(renewed_until[pk] > first_expiry[pk] + timedelta(seconds=LEASE) for pk in first_expiry)
    assert len(renewal_connections_opened) == 1


def test_a_renewal_connection_the_server_ended_is_replaced_and_the_lease_kept(transactional_db):
    record = running_record("lease-terminated")

    with lease.kept(record.pk, record.lease_token, LEASE):
        wait_for(lambda: len(renewal_backends()) == 1, "the first renewal")
        [ended] = renewal_backends()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [ended])
        terminated_at = timezone.now()
        wait_for(lambda: renewal_backends() not in ([], [ended]), "a new renewal connection")
        time.sleep(LEASE)
        renewed_until = expires_at(record)

    assert renewed_until > terminated_at + timedelta(seconds=LEASE / 2)


def test_a_process_holding_no_lease_keeps_no_renewal_connection(transactional_db):
    record = running_record("lease-given-up")

    with lease.kept(record.pk, record.lease_token, LEASE):
        wait_for(lambda: len(renewal_backends()) == 1, "the first renewal")

    wait_for(lambda: renewal_backends() == [], "the renewal connection to close")


def test_a_task_shorter_than_a_third_of_its_lease_opens_no_renewal_connection(
    transactional_db, renewal_connections_opened
):
    record = running_record("lease-short")

    with lease.kept(record.pk, record.lease_token, 30):
        time.sleep(0.2)

    assert renewal_connections_opened == []
