"""Alert policies on the metrics Google publishes (constructs_lib/metrics.py): the options
that ask for them, with their defaults and checks, and the policies themselves.

A policy opens an incident, visible in the console's Alerting page, whether or not it
has notification channels; channels only add notifications. Display names carry the
queue's or job's name and region, which are unique in a project, so the policies of two
workers, or of two stacks in one project, never look alike (Monitoring names policies
itself: nothing can collide).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from constructs import Construct

from . import limits, metrics
from .engine import engine_of
from .validation import (
    ConstructValidationError,
    check_duration,
    check_flag,
    check_range,
    is_unresolved,
    parse_duration,
)

if TYPE_CHECKING:  # the stack's engine's class at run time (engine.py)
    from cdktf_cdktf_provider_google.monitoring_alert_policy import MonitoringAlertPolicy

# Thresholds are counts of tasks, attempts or executions: whole numbers, no other bound
# documented (threshold_value is a double).
_MAX_COUNT = 2**31 - 1


@dataclass(frozen=True)
class Monitoring:
    """Alert policies and a dashboard for a QueueWorker (its `monitoring` option).

    notification_channels: () : names of notification channels
      ("projects/P/notificationChannels/ID") every policy notifies; none: the policies
      still open incidents, visible in the console, and notify nobody.
    backlog_tasks / backlog_for: 100 / "900s": the backlog alert opens when the queue
      holds more than backlog_tasks tasks for backlog_for (a multiple of 60s) on end:
      work arrives faster than it is done, or stopped being done.
    failed_attempts: 5: the failing-attempts alert opens when more than this many
      attempts of the queue's tasks fail (any response code but ok) within `window`.
    failed_executions: 0: the failed-executions alert opens when more than this many
      executions of the worker's job fail within `window`.
    window: "300s": the period attempts and executions are counted over (60s-90000s,
      whole minutes).
    dashboard: True: a dashboard of the queue and its job.
    """

    notification_channels: Sequence[str] = ()
    backlog_tasks: int = 100
    backlog_for: str = "900s"
    failed_attempts: int = 5
    failed_executions: int = 0
    window: str = "300s"
    dashboard: bool = True

    def check(self, construct: str) -> None:
        check_channels(construct, "monitoring.notification_channels", self.notification_channels)
        check_range(construct, "monitoring.backlog_tasks", self.backlog_tasks, minimum=0, maximum=_MAX_COUNT)
        check_whole_minutes(construct, "monitoring.backlog_for", self.backlog_for, minimum=0, maximum=None)
        check_range(construct, "monitoring.failed_attempts", self.failed_attempts, minimum=0, maximum=_MAX_COUNT)
        check_range(construct, "monitoring.failed_executions", self.failed_executions, minimum=0, maximum=_MAX_COUNT)
        check_window(construct, "monitoring.window", self.window)
        check_flag(construct, "monitoring.dashboard", self.dashboard)


@dataclass(frozen=True)
class JobMonitoring:
    """The failed-executions alert for the job a ScheduledTrigger starts (its
    `monitoring` option), when that job is not a QueueWorker's: a QueueWorker's own
    `monitoring` covers every execution of its job, scheduled ones included.
    The options mean what Monitoring's of the same name do."""

    notification_channels: Sequence[str] = ()
    failed_executions: int = 0
    window: str = "300s"

    def check(self, construct: str) -> None:
        check_channels(construct, "monitoring.notification_channels", self.notification_channels)
        check_range(construct, "monitoring.failed_executions", self.failed_executions, minimum=0, maximum=_MAX_COUNT)
        check_window(construct, "monitoring.window", self.window)


def check_channels(construct: str, option: str, channels: Sequence[str]) -> None:
    """A list of notification channel names (or a Terraform reference to one), none twice."""
    if is_unresolved(channels):
        return
    if isinstance(channels, str) or not isinstance(channels, Sequence):
        raise ConstructValidationError(
            construct, option, channels, f"a list of notification channel names, each {limits.NOTIFICATION_CHANNEL_RULE}"
        )
    seen: set[str] = set()
    for channel in channels:
        if is_unresolved(channel):
            continue
        if not isinstance(channel, str) or not limits.NOTIFICATION_CHANNEL.fullmatch(channel):
            raise ConstructValidationError(construct, f"{option} item", channel, limits.NOTIFICATION_CHANNEL_RULE)
        if channel in seen:
            raise ConstructValidationError(construct, f"{option} item", channel, "a channel not already listed")
        seen.add(channel)


def check_whole_minutes(construct: str, option: str, value: str, *, minimum: int, maximum: int | None) -> None:
    """A duration of whole minutes, as Monitoring takes them (limits.ALERT_DURATION_STEP)."""
    if is_unresolved(value):
        return
    if value is None:
        raise ConstructValidationError(construct, option, value, 'a duration such as "300s"')
    check_duration(construct, option, value, minimum=minimum, maximum=maximum)
    if parse_duration(construct, option, value) % limits.ALERT_DURATION_STEP:
        raise ConstructValidationError(
            construct, option, value, f'a whole number of minutes in seconds, such as "300s": Cloud Monitoring '
            f"takes only multiples of {limits.ALERT_DURATION_STEP}s",
        )


def check_window(construct: str, option: str, value: str) -> None:
    """An alignment period of an alert policy."""
    check_whole_minutes(construct, option, value, minimum=limits.ALERT_MIN_ALIGNMENT_PERIOD,
                        maximum=limits.ALERT_MAX_ALIGNMENT_PERIOD)


def threshold_policy(
    scope: Construct, id: str, *, display_name: str, condition: str, filter: str, aligner: str, window: str,
    threshold: float, duration: str, channels: Sequence[str], severity: str, documentation: str,
    resource_options: Mapping[str, Any],
) -> MonitoringAlertPolicy:
    """A policy whose one condition opens an incident while the sum, over the series
    `filter` selects, of each series' `aligner` over `window`, stays above `threshold`
    for `duration`."""
    policy = engine_of(scope).google("monitoring_alert_policy")
    return policy.MonitoringAlertPolicy(
        scope, id, display_name=display_name, combiner="OR", severity=severity,
        notification_channels=list(channels) if not is_unresolved(channels) else channels,
        documentation={"content": documentation, "mime_type": "text/markdown"},
        # Items of lists must be typed structs (jsii leaves plain dicts in lists alone).
        conditions=[policy.MonitoringAlertPolicyConditions(
            display_name=condition,
            condition_threshold={
                "filter": filter, "comparison": "COMPARISON_GT", "threshold_value": threshold, "duration": duration,
                "aggregations": [policy.MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                    alignment_period=window, per_series_aligner=aligner, cross_series_reducer="REDUCE_SUM",
                )],
            },
        )],
        **resource_options,
    )


def failed_executions_policy(
    scope: Construct, id: str, *, job: str, region: str, project: str, failed_executions: int, window: str,
    channels: Sequence[str], resource_options: Mapping[str, Any],
) -> MonitoringAlertPolicy:
    """More than `failed_executions` executions of the Cloud Run job `job` failed within `window`."""
    return threshold_policy(
        scope, id, display_name=f"{job} ({region}): failed job executions",
        condition=f"More than {failed_executions} executions failed in {window}",
        filter=metrics.metric_filter(
            metrics.JOB_COMPLETED_EXECUTIONS, resource={"project_id": project, "location": region, "job_name": job},
            equal={"result": "failed"},
        ),
        aligner="ALIGN_SUM", window=window, threshold=failed_executions, duration="0s", channels=channels,
        severity="ERROR",
        documentation=(
            f"Executions of the Cloud Run job **{job}** ({region}) failed: each ran a task that failed for good "
            "or could not run at all. Read the execution's logs (Cloud Run, Jobs, the job's Executions tab); "
            "a task's record says why it failed."
        ),
        resource_options=resource_options,
    )


def queue_worker_policies(
    scope: Construct, *, name: str, region: str, project: str, monitoring: Monitoring,
    resource_options: Mapping[str, Any],
) -> dict[str, MonitoringAlertPolicy]:
    """The backlog, failing-attempts and failed-executions policies of a QueueWorker
    whose queue and job are both called `name`."""
    queue = {"project_id": project, "location": region, "queue_id": name}
    channels = monitoring.notification_channels
    backlog = threshold_policy(
        scope, "alert-backlog", display_name=f"{name} ({region}): tasks waiting",
        condition=f"More than {monitoring.backlog_tasks} tasks for {monitoring.backlog_for}",
        filter=metrics.metric_filter(metrics.QUEUE_DEPTH, resource=queue),
        # Sampled once a minute: the least of a minute's samples, so that one burst
        # that drains does not count.
        aligner="ALIGN_MIN", window="60s", threshold=monitoring.backlog_tasks, duration=monitoring.backlog_for,
        channels=channels, severity="WARNING",
        documentation=(
            f"The Cloud Tasks queue **{name}** ({region}) has held more than {monitoring.backlog_tasks} tasks "
            f"for {monitoring.backlog_for}: tasks arrive faster than they run, or they stopped running. Check "
            "the failing-attempts alert of the same queue, whether the queue is paused, and its rate limits."
        ),
        resource_options=resource_options,
    )
    failing = threshold_policy(
        scope, "alert-failing-attempts", display_name=f"{name} ({region}): failing task attempts",
        condition=f"More than {monitoring.failed_attempts} failed attempts in {monitoring.window}",
        filter=metrics.metric_filter(metrics.TASK_ATTEMPT_COUNT, resource=queue, not_equal={"response_code": "ok"}),
        aligner="ALIGN_SUM", window=monitoring.window, threshold=monitoring.failed_attempts, duration="0s",
        channels=channels, severity="WARNING",
        documentation=(
            f"Attempts of tasks of the Cloud Tasks queue **{name}** ({region}) fail: the handler answered other "
            "than 2xx, or the jobs:run call was refused. The dashboard shows the response codes; the handler's "
            "(or Cloud Run's) logs say why. Failed attempts are retried as the queue's retry policy says."
        ),
        resource_options=resource_options,
    )
    failed = failed_executions_policy(
        scope, "alert-failed-executions", job=name, region=region, project=project,
        failed_executions=monitoring.failed_executions, window=monitoring.window, channels=channels,
        resource_options=resource_options,
    )
    return {"backlog": backlog, "failing_attempts": failing, "failed_executions": failed}
