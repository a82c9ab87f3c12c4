"""The README's construct example runs and makes what it says."""

import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_examples():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_example_synthesizes(tmp_path):
    (example,) = python_examples()
    # App() writes to cdktf.out in the jsii node process's directory: point it here.
    assert "App()" in example
    example = example.replace("App()", f"App(outdir={str(tmp_path)!r})")
    exec(compile(example, str(README), "exec"), {})
    stack = json.loads((tmp_path / "stacks/my-stack/cdk.tf.json").read_text())
    assert set(stack["resource"]["google_cloud_tasks_queue"]) and set(stack["resource"]["google_cloud_scheduler_job"])
    (scheduler,) = stack["resource"]["google_cloud_scheduler_job"].values()
    assert scheduler["time_zone"] == "Europe/Paris"
