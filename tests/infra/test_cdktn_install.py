"""The constructs installed the cdktn way, as a user would: the wheel with the `cdktn`
extra, into a new virtual environment resolved from the index (tests/packaging.py),
synthesizing the constructs README's stack written for cdktn, with no cdktf there."""

from __future__ import annotations

import json
import re
import subprocess

from tests.packaging import PACKAGES, new_environment, users_shell

README = PACKAGES["constructs"] / "README.md"

# What changes when a stack moves from cdktf to cdktn (docs/engines.md): the engine's
# package and the Google bindings' package.
CDKTN_IMPORTS = {"from cdktf import": "from cdktn import", "cdktf_cdktf_provider_google": "cdktn_provider_google"}


def written_for_cdktn(stack: str) -> str:
    for cdktf, cdktn in CDKTN_IMPORTS.items():
        assert cdktf in stack, f"the README's stack no longer has {cdktf!r}"
        stack = stack.replace(cdktf, cdktn)
    return stack


def test_the_cdktn_extra_installs_the_constructs_on_cdktn_alone_and_they_synthesize(wheels, tmp_path):
    python = str(new_environment(tmp_path / "venv", f"{wheels['constructs']}[cdktn]"))
    work = tmp_path / "my-stack"
    work.mkdir()
    [stack] = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.M | re.S)
    (work / "main.py").write_text(written_for_cdktn(stack))

    synth = subprocess.run([python, "main.py"], capture_output=True, text=True, cwd=work, timeout=300,
                           env=users_shell(JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20"))
    cdktf = subprocess.run([python, "-c", "import cdktf"], capture_output=True, text=True, cwd=work, timeout=60)
    bindings = subprocess.run([python, "-c", "import cdktf_cdktf_provider_google"], capture_output=True, text=True,
                              cwd=work, timeout=60)

    assert synth.returncode == 0, synth.stderr[-3000:]
    document = json.loads((work / "cdktf.out" / "stacks" / "work" / "cdk.tf.json").read_text())
    assert document["terraform"]["required_providers"]["google"] == {"source": "hashicorp/google", "version": "8.7.0"}
    assert {"google_cloud_tasks_queue", "google_cloud_run_v2_job", "google_cloud_scheduler_job"} <= set(document["resource"])
    assert "No module named 'cdktf'" in cdktf.stderr
    assert "No module named 'cdktf_cdktf_provider_google'" in bindings.stderr
