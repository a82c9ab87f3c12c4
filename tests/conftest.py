"""The app stack, synthesized once per session for every test that reads it (tests/infra
and the contract tests between the stack and Django)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def app_stack() -> dict:
    from tests.infra.synth import synth_app_stack

    return synth_app_stack()


@pytest.fixture(scope="session")
def cloud_sql_app_stack() -> dict:
    from stacks.database import CloudSqlDatabase
    from tests.infra.synth import synth_app_stack

    return synth_app_stack(database=CloudSqlDatabase())
