"""docs/using-constructs.md: its examples are the files in docs/examples/, and each synthesizes
into what the guide says it makes."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "using-constructs.md"
EXAMPLES = ROOT / "docs" / "examples"
SHOWN = re.compile(r"<!-- example: docs/examples/(\S+) -->\n```python\n(.*?)```\n", re.S)


def synthesize(name: str, outdir: Path) -> dict:
    """Run an example as a script would run, writing to `outdir`; its one stack's JSON."""
    source = (EXAMPLES / name).read_text()
    # App() writes to cdktf.out in the jsii node process's directory: point it here.
    assert source.count("App()") == 1
    exec(compile(source.replace("App()", f"App(outdir={str(outdir)!r})"), str(EXAMPLES / name), "exec"), {})
    [stack] = (outdir / "stacks").iterdir()
    return json.loads((stack / "cdk.tf.json").read_text())


def resources(stack: dict, kind: str) -> list[dict]:
    return list(stack["resource"].get(kind, {}).values())


def test_the_guide_shows_every_example_file_as_it_is():
    shown = dict(SHOWN.findall(GUIDE.read_text()))

    assert set(shown) == {path.name for path in EXAMPLES.glob("*.py")}
    for name, code in shown.items():
        assert code == (EXAMPLES / name).read_text(), f"docs/using-constructs.md shows an old copy of {name}"


def test_second_queue_has_its_own_queue_job_retry_and_rate_limits(tmp_path):
    stack = synthesize("second_queue.py", tmp_path)

    queues = {q["name"]: q for q in resources(stack, "google_cloud_tasks_queue")}
    assert set(queues) == {"emails", "reports"}
    assert queues["reports"]["retry_config"]["max_attempts"] == 3
    assert queues["reports"]["rate_limits"] == {"max_concurrent_dispatches": 3, "max_dispatches_per_second": 1}
    jobs = {j["name"]: j for j in resources(stack, "google_cloud_run_v2_job")}
    assert jobs["reports"]["template"]["template"]["containers"][0]["resources"]["limits"]["memory"] == "2Gi"


def test_trigger_overrides_args_and_env_with_the_role_overrides_need(tmp_path):
    stack = synthesize("trigger_with_overrides.py", tmp_path)

    [trigger] = resources(stack, "google_cloud_scheduler_job")
    assert (trigger["schedule"], trigger["time_zone"]) == ("0 3 * * *", "Europe/Paris")
    [container] = json.loads(base64.b64decode(trigger["http_target"]["body"]))["overrides"]["containerOverrides"]
    assert container == {"args": ["--task", "reports.tasks.nightly"], "env": [{"name": "REPORT_KIND", "value": "daily"}]}
    callers = [m for m in resources(stack, "google_cloud_run_v2_job_iam_member") if "caller" in m["member"]]
    assert [m["role"] for m in callers] == ["roles/run.jobsExecutorWithOverrides"]


def test_the_monitored_worker_has_its_three_alerts_notifying_the_variables_channels(tmp_path):
    stack = synthesize("alerts.py", tmp_path)

    policies = resources(stack, "google_monitoring_alert_policy")
    assert sorted(p["display_name"] for p in policies) == [
        "emails (europe-west1): failed job executions", "emails (europe-west1): failing task attempts",
        "emails (europe-west1): tasks waiting",
    ]
    assert {p["notification_channels"] for p in policies} == {"${var.alert_channels}"}
    [backlog] = [p["conditions"][0]["condition_threshold"] for p in policies if "waiting" in p["display_name"]]
    assert (backlog["threshold_value"], backlog["duration"]) == (20, "300s")
    assert len(resources(stack, "google_monitoring_dashboard")) == 1


def test_grants_are_each_on_one_resource(tmp_path):
    stack = synthesize("grants.py", tmp_path)

    web = "serviceAccount:${google_service_account.web-identity.email}"
    assert {(m["role"], m["member"]) for m in resources(stack, "google_cloud_tasks_queue_iam_member")} >= {
        ("roles/cloudtasks.enqueuer", web)
    }
    assert ("roles/iam.serviceAccountUser", web) in {
        (m["role"], m["member"]) for m in resources(stack, "google_service_account_iam_member")
    }
    [push] = resources(stack, "google_cloud_run_v2_service_iam_member")
    assert push["role"] == "roles/run.invoker"
    [service] = resources(stack, "google_cloud_run_v2_service")
    names = {env["name"] for env in service["template"]["containers"][0]["env"]}
    assert names == {"CLOUD_TASKS_QUEUE_PATH", "CLOUD_TASKS_INVOKER_EMAIL", "CLOUD_RUN_JOB_PATH"}


@pytest.mark.parametrize("name", sorted(path.name for path in EXAMPLES.glob("*.py")))
def test_every_example_imports_constructs_lib_first(name):
    first_import = next(line for line in (EXAMPLES / name).read_text().splitlines() if line.startswith(("from ", "import ")))

    assert first_import.startswith("from constructs_lib import")


def test_a_worker_on_an_aliased_provider_puts_every_resource_there(tmp_path):
    stack = synthesize("provider_alias.py", tmp_path)

    made = [
        (kind, resource) for kind, by_name in stack["resource"].items() for resource in by_name.values()
    ]
    assert len(made) > 5
    # Every Google resource; the waits for IAM (time_sleep) use the stack's time provider.
    assert {kind for kind, resource in made
            if kind.startswith("google_") and resource.get("provider") != "google.analytics"} == set()
    [queue] = resources(stack, "google_cloud_tasks_queue")
    assert queue["location"] == "us-central1"
