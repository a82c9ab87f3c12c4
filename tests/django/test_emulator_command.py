"""`manage.py cloudtasks_emulator`: what it refuses to start without, each refusal saying
what to set. Its run, end to end in a new project of a user's, is in tests/test_packaging.py."""

from __future__ import annotations

import os
import stat

import pytest
from django.core.management import CommandError, call_command

from tests.django.backend_settings import BACKEND, HANDLER_URL, INVOKER

LOCAL = {
    "QUEUE_PATH": "projects/local/locations/here/queues/default", "URL": HANDLER_URL,
    "SERVICE_ACCOUNT_EMAIL": INVOKER, "EMULATOR_HOST": "127.0.0.1:8123",
}


@pytest.fixture
def local_settings(settings, tmp_path):
    """A user's local settings: DEBUG on, one backend on the emulator; returns its OPTIONS."""
    settings.DEBUG = True
    options = {**LOCAL, "LOCAL_SIGNING_KEY": tmp_path / "key.pem"}
    settings.TASKS = {"default": {"BACKEND": BACKEND, "OPTIONS": options}}
    del settings.CLOUD_TASKS_AUTH
    return options


def test_without_a_cloud_tasks_backend_there_is_nothing_to_emulate(settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}

    with pytest.raises(CommandError, match="TASKS has no backend cloudtasks.backend.CloudTasksBackend"):
        call_command("cloudtasks_emulator")


def test_a_backend_without_the_emulators_address_is_refused_naming_the_option(settings, local_settings):
    del local_settings["EMULATOR_HOST"], local_settings["LOCAL_SIGNING_KEY"]

    with pytest.raises(CommandError, match=r"TASKS\['default'\]\['OPTIONS'\]\['EMULATOR_HOST'\] is not set"):
        call_command("cloudtasks_emulator")


def test_without_a_signing_key_every_push_would_be_refused_so_it_does_not_start(settings, local_settings):
    del local_settings["LOCAL_SIGNING_KEY"]

    with pytest.raises(CommandError, match=r"\['LOCAL_SIGNING_KEY'\] is not set: the emulator pushes without a token"):
        call_command("cloudtasks_emulator")


def test_with_debug_off_it_signs_nothing(settings, local_settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("cloudtasks_emulator")


def test_a_key_file_others_may_read_is_refused(settings, local_settings):
    key = local_settings["LOCAL_SIGNING_KEY"]
    key.write_text("not even a key")
    os.chmod(key, 0o644)

    with pytest.raises(CommandError, match="may be read by others"):
        call_command("cloudtasks_emulator")


def test_without_uv_it_says_to_install_it_after_writing_a_private_key(settings, local_settings, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(CommandError, match="uvx is not on PATH"):
        call_command("cloudtasks_emulator")
    assert stat.S_IMODE(local_settings["LOCAL_SIGNING_KEY"].stat().st_mode) == 0o600


def test_an_emulator_address_other_than_127_0_0_1_is_refused(settings, local_settings):
    local_settings["EMULATOR_HOST"] = "127.0.0.2:8123"

    with pytest.raises(CommandError, match="the emulator listens on 127.0.0.1 only"):
        call_command("cloudtasks_emulator")
