"""`manage.py cloudtasks_emulator`: the Cloud Tasks emulator for a local run of this project.

It serves the Cloud Tasks API at the address the backends' EMULATOR_HOST option names
(127.0.0.1 only), with every queue TASKS routes, each retried by its RETRY and then
given up; it pushes to loopback only. It writes the key file LOCAL_SIGNING_KEY names,
if there is none yet: the project's processes sign each task they create with it, and
the push handler trusts that key, and only for the very task it was minted for. Runs
until Ctrl-C. With settings like

    TASKS = {"default": {"BACKEND": "cloudtasks.backend.CloudTasksBackend", "OPTIONS": {
        "QUEUE_PATH": "projects/local/locations/here/queues/default",
        "URL": "http://127.0.0.1:8000/tasks/run/",
        "SERVICE_ACCOUNT_EMAIL": "tasks@local.iam.gserviceaccount.com",
        "EMULATOR_HOST": "127.0.0.1:8123",
        "LOCAL_SIGNING_KEY": BASE_DIR / "cloudtasks-local-key.pem",
    }}}

and DEBUG on, run it, and `manage.py runserver 8000` in another shell: what the project
enqueues is pushed back to its /tasks/run/. Tasks of a queue with the job target start
Cloud Run job executions, which this command does not run: it says so, and drops them.
It needs uv (`uvx`): the emulator runs in an environment of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cloudtasks.auth.accepted import push_auth
from cloudtasks.auth.local_signing import LocalSigner, LocalSigningRefused
from cloudtasks.config.backends import cloud_tasks_options
from cloudtasks.config.options import BackendOptions, HttpTarget
from cloudtasks.local import emulator

EMULATOR_ADDRESS = "127.0.0.1"  # where the launcher listens


class Command(BaseCommand):
    help = "Run the Cloud Tasks emulator, on loopback, with the queues TASKS routes and local signing."

    def handle(self, *args: Any, **options: Any) -> None:
        backends = cloud_tasks_options()
        if not backends:
            raise CommandError(
                "TASKS has no backend cloudtasks.backend.CloudTasksBackend whose OPTIONS are valid: "
                "there are no queues to emulate"
            )
        address, port = _emulator_address(backends)
        key_file = _signing_key(backends)
        queues = {route.queue_path: route.retry.declared()
                  for options in backends.values() for route in options.queues.values()}
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            process = emulator.start(
                address, emulator.launcher_config(port, queues), launch=_launch, stop=_end,
            )
        except emulator.EmulatorUnavailable as error:
            raise CommandError(str(error)) from error
        try:
            self._describe(address, key_file, backends)
            while process.poll() is None and not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            stopped_by_itself = process.poll()
            _end(process)
        if stopped_by_itself is not None:
            raise CommandError(f"the emulator stopped by itself (exit status {stopped_by_itself})")

    def _describe(self, address: str, key_file: str, backends: dict[str, BackendOptions]) -> None:
        say = self.stdout.write
        say(f"Cloud Tasks emulator at {address}; tasks are signed with the key in {key_file}.")
        for alias, options in backends.items():
            for name, route in options.queues.items():
                if isinstance(route.target, HttpTarget):
                    say(f"  queue {name!r} of TASKS[{alias!r}]: {route.queue_path}, pushed to {route.target.url}")
                else:
                    say(f"  queue {name!r} of TASKS[{alias!r}]: {route.queue_path}, job target: its tasks start "
                        f"Cloud Run job executions, which are not run here (dropped)")
        urls = sorted({route.target.url for options in backends.values() for route in options.queues.values()
                       if isinstance(route.target, HttpTarget)})
        for url in urls:
            where = urlsplit(url)
            say(f"Serve the project there: manage.py runserver {where.hostname}:{where.port or 80}")
        say("Ctrl-C stops the emulator.")


def _emulator_address(backends: dict[str, BackendOptions]) -> tuple[str, int]:
    """The one emulator address every Cloud Tasks backend names, and its port."""
    missing = [alias for alias, options in backends.items() if options.emulator_host is None]
    if missing:
        raise CommandError(
            f"TASKS[{missing[0]!r}]['OPTIONS']['EMULATOR_HOST'] is not set: give every Cloud Tasks backend "
            f"the emulator's address, like '{EMULATOR_ADDRESS}:8123'"
        )
    hosts = sorted({str(options.emulator_host) for options in backends.values()})
    if len(hosts) > 1:
        raise CommandError(
            f"the backends of TASKS name several EMULATOR_HOST ({', '.join(hosts)}): give them all the same"
        )
    where = urlsplit(f"//{hosts[0]}")
    if where.hostname != EMULATOR_ADDRESS or where.port is None:
        raise CommandError(
            f"EMULATOR_HOST is {hosts[0]!r}: the emulator listens on {EMULATOR_ADDRESS} only; "
            f"give an address like '{EMULATOR_ADDRESS}:8123'"
        )
    return hosts[0], where.port


def _signing_key(backends: dict[str, BackendOptions]) -> str:
    """The local signing key's file, written if there is none yet."""
    key_file = push_auth().local_signer
    if not key_file:
        alias = next(iter(backends))
        raise CommandError(
            f"TASKS[{alias!r}]['OPTIONS']['LOCAL_SIGNING_KEY'] is not set: the emulator pushes without a token, "
            f"and the push handler refuses a push without one. Name a file for the key, like "
            f"BASE_DIR / 'cloudtasks-local-key.pem', in every Cloud Tasks backend; this command writes it"
        )
    if not settings.DEBUG:
        raise CommandError("DEBUG is off: local signing is for local runs only. Turn DEBUG on in the local settings")
    try:
        if Path(key_file).exists():
            LocalSigner.from_key_file(key_file)  # refused if others may read it
        else:
            LocalSigner().write_key_file(key_file)
    except (LocalSigningRefused, OSError) as error:
        raise CommandError(f"the local signing key {key_file}: {error}") from error
    return key_file


def _launch(command: Sequence[str]) -> subprocess.Popen[bytes]:
    # A session of its own: Ctrl-C reaches this command, which stops the emulator itself.
    return subprocess.Popen(command, start_new_session=True)


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
