"""Synth counts the most connections the app can hold at once, and refuses a stack whose
count exceeds the database's max_connections (stacks/connection_budget.py)."""

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stacks import app_stack
from stacks.app_options import AppOptions, InvalidOption
from stacks.app_stack import QUEUES, WEB_CONCURRENCY, WEB_MAX_INSTANCES, connection_budget
from stacks.connection_budget import (
    CONNECTIONS_PER_PROCESS,
    MIGRATE_CONNECTIONS,
    POLL_HEADROOM,
    SUPERUSER_RESERVED_CONNECTIONS,
    ConnectionBudgetExceeded,
    InvalidConnectionLimit,
)
from stacks.database import DEFAULT_MAX_CONNECTIONS, CloudSqlDatabase, ExistingDatabase

from .synth import only, synth_app_stack

SERVICE = "google_cloud_run_v2_service"
INSTANCE = "google_sql_database_instance"


def test_the_app_stack_as_shipped_fits_a_50_connection_database():
    assert DEFAULT_MAX_CONNECTIONS == 50
    assert connection_budget().total <= DEFAULT_MAX_CONNECTIONS


def test_the_budget_adds_up_every_process_that_can_hold_connections():
    web = WEB_MAX_INSTANCES * WEB_CONCURRENCY * CONNECTIONS_PER_PROCESS
    jobs = sum(queue.max_running for queue in QUEUES) * CONNECTIONS_PER_PROCESS

    assert connection_budget().total == (
        web + jobs + MIGRATE_CONNECTIONS + POLL_HEADROOM + SUPERUSER_RESERVED_CONNECTIONS
    )


def test_the_budget_counts_the_web_service_the_stack_deploys(app_stack):
    template = only(app_stack, SERVICE)["template"]

    assert (template["scaling"]["max_instance_count"], template["max_instance_request_concurrency"]) == (
        connection_budget().web_instances, connection_budget().web_workers
    )


def test_a_database_that_allows_fewer_is_refused_at_synth_naming_every_number_and_what_to_change():
    with pytest.raises(ConnectionBudgetExceeded) as refused:
        synth_app_stack(database=ExistingDatabase(max_connections=40))

    message = str(refused.value)
    assert f"may hold {connection_budget().total} connections to PostgreSQL at once" in message
    assert "the database allows 40 (the max_connections of your database)" in message
    assert f"web service {WEB_MAX_INSTANCES} instances x {WEB_CONCURRENCY} gunicorn workers x 2: 32" in message
    assert "queue 'default' 4 running job executions x 2: 8" in message
    assert "superuser_reserved_connections: 3" in message
    assert "Lower max_running of a queue (QUEUES) or WEB_MAX_INSTANCES in stacks/app_stack.py" in message
    assert "DJAPP_DATABASE_MAX_CONNECTIONS" in message


def test_more_web_instances_than_the_database_allows_are_refused(monkeypatch):
    monkeypatch.setattr(app_stack, "WEB_MAX_INSTANCES", WEB_MAX_INSTANCES + 1)

    with pytest.raises(ConnectionBudgetExceeded, match=r"web service 5 instances x 4 gunicorn workers x 2: 40"):
        synth_app_stack()


def test_more_running_executions_than_the_database_allows_are_refused(monkeypatch):
    more = tuple(dataclasses.replace(queue, max_running=queue.max_running + 1) for queue in QUEUES)
    monkeypatch.setattr(app_stack, "QUEUES", more)

    with pytest.raises(ConnectionBudgetExceeded, match=r"queue 'long' 3 running job executions x 2: 6"):
        synth_app_stack()


def test_a_database_that_allows_more_takes_more(monkeypatch):
    monkeypatch.setattr(app_stack, "WEB_MAX_INSTANCES", 10)

    synth_app_stack(database=ExistingDatabase(max_connections=100))


@pytest.mark.parametrize(
    ("max_running", "slot_wait", "timeout"),
    [(0, 60, "180s"), (4, 180, "180s"), (4, -1, "180s")],
    ids=["no execution may run", "waits its whole timeout", "negative wait"],
)
def test_a_queue_whose_slots_make_no_sense_is_refused_naming_it(monkeypatch, max_running, slot_wait, timeout):
    default = dataclasses.replace(QUEUES[0], max_running=max_running, slot_wait=slot_wait, timeout=timeout)
    monkeypatch.setattr(app_stack, "QUEUES", (default, *QUEUES[1:]))

    with pytest.raises(ValueError, match=re.escape(
        f"queue 'default': max_running is {max_running} and slot_wait {slot_wait}; max_running must be 1 or more, "
        "and slot_wait from 0 to less than the job's timeout (180 s)"
    )):
        connection_budget()


# --- Cloud SQL: the limit is the instance's flag, set explicitly ---------------------------


def test_cloud_sql_gets_its_max_connections_flag_explicitly(cloud_sql_app_stack):
    flags = only(cloud_sql_app_stack, INSTANCE)["settings"]["database_flags"]

    assert flags == [{"name": "max_connections", "value": "50"}]


def test_cloud_sqls_smallest_tier_is_refused_with_its_default_limit():
    with pytest.raises(ConnectionBudgetExceeded, match=r"the database allows 25 \(the Cloud SQL instance's max_connections flag\)"):
        synth_app_stack(database=CloudSqlDatabase(tier="db-f1-micro"))


def test_a_cloud_sql_tier_without_a_documented_default_needs_max_connections_given():
    with pytest.raises(InvalidConnectionLimit, match=r"tier 'db-custom-2-7680': give max_connections.*quotas"):
        synth_app_stack(database=CloudSqlDatabase(tier="db-custom-2-7680"))


def test_a_given_max_connections_is_the_flag_and_the_limit():
    stack = synth_app_stack(database=CloudSqlDatabase(tier="db-custom-2-7680", max_connections=200))

    assert only(stack, INSTANCE)["settings"]["database_flags"] == [{"name": "max_connections", "value": "200"}]


@pytest.mark.parametrize("value", [0, 262144, 50.5, "50"])
def test_a_max_connections_postgresql_cannot_have_is_refused(value):
    with pytest.raises(InvalidConnectionLimit, match=rf"max_connections is {re.escape(repr(value))} .*from 1 to 262143"):
        synth_app_stack(database=ExistingDatabase(max_connections=value))


# --- DJAPP_DATABASE_MAX_CONNECTIONS -------------------------------------------------------


def test_the_variable_gives_an_existing_databases_limit():
    options = AppOptions.from_environment({"DJAPP_DATABASE_MAX_CONNECTIONS": "100"})

    assert options.database == ExistingDatabase(max_connections=100)


def test_the_variable_sets_cloud_sqls_flag():
    options = AppOptions.from_environment({"DJAPP_DATABASE": "cloud-sql", "DJAPP_DATABASE_MAX_CONNECTIONS": "80"})

    assert options.database.connection_limit == 80


@pytest.mark.parametrize("value", ["fifty", "0", "-5", "262144"])
def test_a_variable_that_is_not_a_limit_is_refused_naming_it(value):
    with pytest.raises(InvalidOption, match=rf"DJAPP_DATABASE_MAX_CONNECTIONS is '{value}'; set it to a whole number from 1 to 262143"):
        AppOptions.from_environment({"DJAPP_DATABASE_MAX_CONNECTIONS": value})


def test_main_py_refuses_a_stack_that_does_not_fit_with_the_numbers_and_no_traceback(tmp_path):
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "main.py")], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DJAPP_DATABASE_MAX_CONNECTIONS": "40", "PYTHONPATH": str(root)},
    )

    assert done.returncode != 0
    assert "main.py: The app may hold 50 connections to PostgreSQL at once, but the database allows 40" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "cdktf.out" / "stacks" / "app" / "cdk.tf.json").exists()
