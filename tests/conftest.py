"""The app stack, synthesized once per session for every test that reads it (tests/infra
and the contract tests between the stack and Django); a browser for the page tests
(tests/django, and tests/local_run, which drives scripts/dev.sh)."""

from __future__ import annotations

from collections.abc import Iterator

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


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Headless Chromium (tests/django/browser.py), started once per session."""
    from tests.django.browser import Browser, BrowserUnavailable

    try:
        started = Browser()
    except BrowserUnavailable as error:
        pytest.fail(f"Browser: {error}", pytrace=False)
    yield started
    started.close()


@pytest.fixture(scope="session")
def wheels(tmp_path_factory) -> dict:
    """A wheel of each distribution (tests/packaging.py), built once per session."""
    from tests.packaging import build_wheels

    return build_wheels(tmp_path_factory.mktemp("wheels"))
