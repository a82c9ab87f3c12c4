"""How callers start a Cloud Run v2 job execution: the `jobs:run` call and its IAM.

`POST https://run.googleapis.com/v2/projects/P/locations/L/jobs/J:run` is a Google
API call, so it takes an OAuth access token (scope cloud-platform), not an OIDC
identity token. A body with `overrides` needs `run.jobs.runWithOverrides`, one
permission for every override there is (the container's args and env, the task count,
the timeout: https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.jobs/run,
https://cloud.google.com/run/docs/reference/iam/permissions); nothing narrower exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .iam import ROLE_RUN_INVOKER

RUN_API = "https://run.googleapis.com/v2"
OAUTH_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

# Granted on the one job, never on the project.
ROLE_RUN_WITHOUT_OVERRIDES = ROLE_RUN_INVOKER  # has run.jobs.run
ROLE_RUN_WITH_OVERRIDES = "roles/run.jobsExecutorWithOverrides"  # has run.jobs.runWithOverrides


def job_path(project: str, location: str, job: str) -> str:
    return f"projects/{project}/locations/{location}/jobs/{job}"


def run_uri(project: str, location: str, job: str) -> str:
    return f"{RUN_API}/{job_path(project, location, job)}:run"


def run_role(has_overrides: bool) -> str:
    return ROLE_RUN_WITH_OVERRIDES if has_overrides else ROLE_RUN_WITHOUT_OVERRIDES


def overrides_body(
    args: Sequence[str] | None, env: Mapping[str, str] | None, task_count: int | None = None,
) -> dict[str, object] | None:
    """The body of a `jobs:run` call overriding the first container's args and env, and
    the execution's task count (RunJobRequest.overrides.taskCount).

    None when there is nothing to override (the call then needs no body at all).
    """
    container: dict[str, object] = {}
    if args is not None:
        container["args"] = list(args)
    if env:
        container["env"] = [{"name": name, "value": value} for name, value in env.items()]
    overrides: dict[str, object] = {"containerOverrides": [container]} if container else {}
    if task_count is not None:
        overrides["taskCount"] = task_count
    return {"overrides": overrides} if overrides else None
