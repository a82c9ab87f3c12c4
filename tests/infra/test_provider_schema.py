"""Every argument the synthesized JSON writes exists in the schema of the provider line
the engine's bindings wrap: hashicorp/google 6.50 (cdktf) and 8.7 (cdktn).

Terraform cannot download providers here, so the typed bindings are the schema: each
struct class lists its arguments (`__jsii_name_mapping__`), and a nested block's struct
is named after its parent and the block (CloudRunV2JobTemplate -> ...TemplateTemplate ->
...TemplateTemplateContainers). The constructors already refuse unknown arguments; this
also covers what no constructor sees, such as the app stack's `add_override` of the
worker's Cloud SQL volume.
"""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib import QueueWorker
from constructs_lib.engine import Engine

from .conftest import full_worker, trigger_with_overrides
from .synth import app_stack_on, synth

# Terraform's own meta-arguments, and cdktf's comment key: not the provider's.
META_ARGUMENTS = {"//", "depends_on", "provider", "lifecycle", "count", "for_each", "connection", "provisioner"}


def camel(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def unknown_arguments(engine: Engine, document: dict[str, Any]) -> list[str]:
    """Paths of the arguments in `document` that the engine's bindings do not know."""
    unknown: list[str] = []
    blocks = [(kind, kind.partition("_")[2], by_name) for kind, by_name in document.get("resource", {}).items()]
    # A data source's module and class carry its provider: google_project -> DataGoogleProject.
    blocks += [(kind, f"data_{kind}", by_name) for kind, by_name in document.get("data", {}).items()]
    for kind, name, by_name in blocks:
        module = engine.provider(kind.partition("_")[0], name)
        for logical_id, body in by_name.items():
            unknown += _walk(module, getattr(module, f"{camel(name)}Config"), camel(name), body, f"{kind}.{logical_id}")
    return unknown


def _walk(module: Any, struct: type, prefix: str, body: dict[str, Any], path: str) -> list[str]:
    unknown = []
    for key, value in body.items():
        if key in META_ARGUMENTS:
            continue
        if key not in struct.__jsii_name_mapping__:
            unknown.append(f"{path}.{key}")
            continue
        nested = getattr(module, prefix + camel(key), None)
        items = value if isinstance(value, list) else [value]
        if nested is not None and hasattr(nested, "__jsii_name_mapping__"):
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    unknown += _walk(module, nested, prefix + camel(key), item, f"{path}.{key}[{index}]")
    return unknown


@pytest.mark.parametrize("cloud_sql", [False, True], ids=["existing database", "cloud sql"])
def test_the_app_stack_writes_only_arguments_of_its_engines_provider(engine, cloud_sql):
    assert unknown_arguments(engine, app_stack_on(engine, cloud_sql)) == []


@pytest.mark.parametrize("build", [full_worker, trigger_with_overrides], ids=["full worker", "trigger with overrides"])
def test_the_constructs_write_only_arguments_of_their_engines_provider(engine, build):
    assert unknown_arguments(engine, synth(build, engine=engine)) == []


def test_an_argument_written_past_the_bindings_is_found(engine):
    def misspelled_override(stack):
        worker = QueueWorker(stack, "worker", name="jobs", image="example/image:1", region="europe-west1")
        worker.job.add_override("template.template.volumez", [{"name": "cloudsql"}])
        worker.job.add_override("template.template.containers.0.volume_mounts", [{"name": "cloudsql", "mount": "/x"}])

    found = unknown_arguments(engine, synth(misspelled_override, engine=engine))

    assert sorted(found) == [
        "google_cloud_run_v2_job.worker_job_0FA2D09D.template[0].template[0].containers[0].volume_mounts[0].mount",
        "google_cloud_run_v2_job.worker_job_0FA2D09D.template[0].template[0].volumez",
    ]
