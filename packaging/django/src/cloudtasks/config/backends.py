"""The Cloud Tasks backends of TASKS, found without importing their class.

CloudTasksBackend (cloudtasks.backend) is built from the enqueue side, the run side's
results and the system checks, so none of them may import it back. What the run side,
authentication and operations need of a backend is what its options say (its queues'
routes, its lease, its retention) and the client it sends with: `RoutingBackend` names
that, and a backend in TASKS that offers it is a Cloud Tasks backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from django.conf import settings
from django.tasks import task_backends
from django.tasks.exceptions import InvalidTaskBackend

from cloudtasks.config.options import BackendOptions, QueueRoute

if TYPE_CHECKING:
    from google.cloud import tasks_v2


@runtime_checkable
class RoutingBackend(Protocol):
    """A CloudTasksBackend as the layers below it see it. isinstance() looks the members
    up without calling them (Python 3.12), so a backend whose options are invalid matches
    too, and says so when its options are read (InvalidTaskBackend)."""

    alias: str

    @property
    def backend_options(self) -> BackendOptions: ...

    def route(self, queue_name: str) -> QueueRoute: ...

    def client(self) -> tasks_v2.CloudTasksClient: ...


def cloud_tasks_backend(alias: str) -> RoutingBackend:
    """The backend `alias` of TASKS; InvalidTaskBackend if TASKS has none, or it is not a
    Cloud Tasks backend."""
    backend = task_backends[alias]
    if not isinstance(backend, RoutingBackend):
        raise InvalidTaskBackend(f"backend {alias!r} is not a CloudTasksBackend")
    return backend


def cloud_tasks_options() -> dict[str, BackendOptions]:
    """The options of each Cloud Tasks backend in TASKS whose options are valid, by alias
    (`manage.py check` reports the others)."""
    valid = {}
    for alias in settings.TASKS:
        try:
            valid[alias] = cloud_tasks_backend(alias).backend_options
        except InvalidTaskBackend:
            continue  # another kind of backend, or one `manage.py check` reports
    return valid
