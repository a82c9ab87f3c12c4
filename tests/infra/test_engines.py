"""The constructs and the app stack on both engines, cdktf (hashicorp/google 6.50) and
cdktn (8.x): each construct makes its resources with the engine of its stack, importing
no other; the app stack has the same Terraform addresses on both, so switching engines
plans no replacement; and every attribute that differs between the two documents is
listed here with the reason (docs/engines.md says the same for people).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from constructs_lib import ConstructValidationError, QueueWorker, ScheduledTrigger
from constructs_lib.engine import CDKTF, CDKTN, NotInAnApp, engine_named, engine_of

from .synth import app_stack_on, new_stack, only, synth

ROOT = Path(__file__).resolve().parents[2]

# Every leaf that differs between the app stack on cdktf and on cdktn (resource names as
# "*"), and why. A switch plans no replacement: none of these forces one.
EXPLAINED_DIFFERENCES = {
    "terraform.required_providers.google.source": (
        'cdktf writes the short "google", cdktn "hashicorp/google": the same provider '
        "(registry.terraform.io/hashicorp/google), so state keeps its provider"
    ),
    "terraform.required_providers.google.version": "6.50.0 (cdktf's last bindings) against 8.7.0 (cdktn-provider-google 21.1)",
    "terraform.required_providers.random.version": "3.7.2 (cdktf-cdktf-provider-random 12.0.1) against 3.9.1 (cdktn-provider-random 15.0.1)",
    "terraform.required_providers.time.version": "0.13.1 (cdktf-cdktf-provider-time 11.0.1) against 0.14.2 (cdktn-provider-time 14.0.2)",
    "resource.google_cloud_tasks_queue.*.deletion_policy": (
        '"PREVENT" under deletion_protection on 8.x, which 6.50 lacks: a queue\'s name is kept from reuse '
        "for 7 days after a delete; client-side only (no API call, no replacement)"
    ),
}


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf of a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def addresses(stack: dict) -> set[str]:
    """Terraform addresses of everything a plan compares: resources, data sources,
    variables, outputs, providers."""
    found = {f"{kind}.{name}" for kind, by_name in stack.get("resource", {}).items() for name in by_name}
    found |= {f"data.{kind}.{name}" for kind, by_name in stack.get("data", {}).items() for name in by_name}
    found |= {f"var.{name}" for name in stack.get("variable", {})}
    found |= {f"output.{name}" for name in stack.get("output", {})}
    found |= {f"provider.{name}" for name in stack.get("provider", {})}
    return found


def differences(cdktf: dict, cdktn: dict) -> set[str]:
    """Where the two documents differ, resource names written as "*"."""
    left, right = dict(leaves(cdktf)), dict(leaves(cdktn))
    return {
        re.sub(r"^(resource|data)\.([a-z0-9_]+)\.[^.]+\.", r"\1.\2.*.", path)
        for path in left.keys() | right.keys() if left.get(path) != right.get(path)
    }


@pytest.mark.parametrize("cloud_sql", [False, True], ids=["existing database", "cloud sql"])
def test_the_app_stack_has_the_same_terraform_addresses_on_both_engines(cloud_sql):
    cdktf, cdktn = app_stack_on(CDKTF, cloud_sql), app_stack_on(CDKTN, cloud_sql)

    assert addresses(cdktf) == addresses(cdktn)
    assert len(addresses(cdktf)) > 50


def test_every_attribute_that_differs_between_the_engines_is_explained():
    found = set()
    for cloud_sql in (False, True):
        found |= differences(app_stack_on(CDKTF, cloud_sql), app_stack_on(CDKTN, cloud_sql))

    assert found - EXPLAINED_DIFFERENCES.keys() == set(), "explain each new difference here and in docs/engines.md"
    assert EXPLAINED_DIFFERENCES.keys() - found == set(), "an explained difference no longer occurs: remove it"


def test_the_engines_require_the_provider_lines_the_constructs_were_checked_against():
    versions = {engine.name: app_stack_on(engine)["terraform"]["required_providers"]["google"] for engine in (CDKTF, CDKTN)}

    assert versions == {
        "cdktf": {"source": "google", "version": "6.50.0"},
        "cdktn": {"source": "hashicorp/google", "version": "8.7.0"},
    }


def worker(stack, **options) -> QueueWorker:
    return QueueWorker(stack, "worker", name="jobs", image="example/image:1", region="europe-west1", **options)


@pytest.mark.parametrize(("protected", "policy"), [(True, "PREVENT"), (False, None)])
def test_deletion_protection_covers_the_queue_where_the_provider_can(protected, policy):
    on_cdktn = only(synth(lambda s: worker(s, deletion_protection=protected), engine=CDKTN), "google_cloud_tasks_queue")
    on_cdktf = only(synth(lambda s: worker(s, deletion_protection=protected), engine=CDKTF), "google_cloud_tasks_queue")

    assert on_cdktn.get("deletion_policy") == policy
    assert "deletion_policy" not in on_cdktf  # 6.50 has no such argument: the typed bindings would refuse it


def test_deletion_protection_is_a_flag():
    with pytest.raises(ConstructValidationError, match="deletion_protection='no' is not valid: True or False"):
        worker(new_stack(), deletion_protection="no")


def test_a_construct_makes_its_resources_with_its_stacks_engine():
    stack = new_stack(engine=CDKTN)
    made = worker(stack)
    trigger = ScheduledTrigger(stack, "nightly", job=made, schedule="0 3 * * *")

    for resource in (made.queue, made.job, made.service_account, trigger.scheduler_job):
        assert type(resource).__module__.startswith("cdktn_provider_google."), resource


def test_a_cdktn_app_with_the_constructs_synthesizes(tmp_path):
    # Made with cdktf's classes, the resources failed cdktn's App.synth() with
    # "e._resetResolveDiscoveredProviderFeatureUsage is not a function".
    app = CDKTN.core.App(outdir=str(tmp_path))
    stack = CDKTN.core.TerraformStack(app, "work")
    CDKTN.google("provider").GoogleProvider(stack, "google", project="example-project")
    ScheduledTrigger(stack, "nightly", job=worker(stack), schedule="0 3 * * *")
    app.synth()

    document = json.loads((tmp_path / "stacks" / "work" / "cdk.tf.json").read_text())
    assert {"google_cloud_tasks_queue", "google_cloud_run_v2_job", "google_cloud_scheduler_job"} <= set(document["resource"])


def test_a_trigger_refuses_a_job_of_the_other_engine():
    job = CDKTF.google("cloud_run_v2_job").CloudRunV2Job(
        new_stack("other"), "job", name="jobs", location="europe-west1",
        template={"template": {"containers": [{"image": "example/image:1"}]}},
    )

    with pytest.raises(ConstructValidationError, match=r"a QueueWorker, or a CloudRunV2Job made with cdktn \(this stack's engine\)"):
        ScheduledTrigger(new_stack(engine=CDKTN), "nightly", job=job, schedule="0 3 * * *")


class ForeignApp:
    """The root of another CDK library's tree (cdk8s's App, say), as engine_of sees it."""

    def __init__(self) -> None:
        self.node = SimpleNamespace(path="", root=self)


def test_a_construct_outside_a_cdktf_or_cdktn_app_is_refused_naming_both_engines():
    with pytest.raises(NotInAnApp, match=r"is not in a cdktf or cdktn App: its root is a .*ForeignApp\. Make the stack"):
        engine_of(ForeignApp())


def test_an_unknown_engine_name_is_refused_naming_both():
    with pytest.raises(ValueError, match="unknown CDK engine 'cdk': one of cdktf, cdktn"):
        engine_named("cdk")


@pytest.mark.parametrize(("engine", "other"), [("cdktf", "cdktn"), ("cdktn", "cdktf")])
def test_a_stack_on_one_engine_never_imports_the_other(engine, other):
    code = textwrap.dedent(f"""
        import json, sys
        import {engine} as engine
        import constructs_lib
        from constructs_lib import QueueWorker, ScheduledTrigger
        from stacks.app_options import AppOptions
        from stacks.app_stack import app_stack
        from stacks.database import CloudSqlDatabase

        app = engine.Testing.app()
        stack = app_stack(app, "app", AppOptions(engine=constructs_lib.engine.ENGINES[{engine!r}],
                                                 database=CloudSqlDatabase()))
        engine.Testing.synth(stack)
        # Modules that ran: fast_provider may register a lazy stand-in for the other
        # engine's bindings package (a ModuleType subclass), which runs none of its code.
        ran = {{name.split(".")[0] for name, module in sys.modules.items() if type(module) is type(sys)}}
        print(json.dumps(sorted(name for name in ran if name.startswith({other!r}))))
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})

    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []
