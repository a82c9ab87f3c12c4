"""Reusable constructs for background work on Google Cloud, for CDK for Terraform
(cdktf) or CDK Terrain (cdktn): each construct makes its resources with the engine of
the stack it is in (constructs_lib/engine.py).

`QueueWorker`: a Cloud Tasks queue + the Cloud Run v2 job that does its work + the
identities and least IAM that make it run. `ScheduledTrigger`: a Cloud Scheduler job
that starts a Cloud Run v2 job on a schedule. `Monitoring` / `JobMonitoring`: their
alert policies (and a worker's dashboard) on the metrics Google publishes.
"""

from . import fast_provider

# Before any provider module is imported: see fast_provider for why.
fast_provider.install()

from .alerts import JobMonitoring, Monitoring  # noqa: E402
from .options import RateLimits, RetryPolicy, SchedulerRetry  # noqa: E402
from .queue_worker import QueueWorker  # noqa: E402
from .scheduled_trigger import ScheduledTrigger  # noqa: E402
from .secrets import SecretEnv  # noqa: E402
from .validation import ConstructValidationError, ConstructWarning  # noqa: E402

__all__ = [
    "ConstructValidationError",
    "ConstructWarning",
    "JobMonitoring",
    "Monitoring",
    "QueueWorker",
    "RateLimits",
    "RetryPolicy",
    "ScheduledTrigger",
    "SchedulerRetry",
    "SecretEnv",
]
