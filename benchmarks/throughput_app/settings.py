"""This project's settings for benchmarks/throughput.py, with the benchmark's task app,
every queue CLOUD_TASKS_QUEUES names (the emulator pushes each queue's tasks one at a
time, so several queues make concurrent pushes), and the handler trusting the tokens of
a Google-like signer whose keys are published at THROUGHPUT_JWKS_URL (tests.django.pushes)."""

import os

from cloudtasks import queue_env
from cloudtasks.auth.local_signing import LOCAL_ISSUER
from config.settings import *  # noqa: F403
from config.settings import _QUEUES

INSTALLED_APPS = [*INSTALLED_APPS, "benchmarks.throughput_app"]  # noqa: F405
TASK_QUEUES = tuple(_QUEUES)
for _backend in TASKS.values():  # noqa: F405
    _target = _backend["OPTIONS"]["TARGET"]
    _backend["OPTIONS"]["QUEUES"] = queue_env.backend_queues(_QUEUES, TASK_QUEUES, target=_target)
    # Enqueue is timed until every CreateTask answered: no send is left to the flush.
    _backend["OPTIONS"]["SEND_BUDGET"] = 60
CLOUD_TASKS_AUTH = {"ISSUERS": [LOCAL_ISSUER], "JWKS_URL": os.environ.get("THROUGHPUT_JWKS_URL", "")}
