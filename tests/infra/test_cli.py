"""The real CLI of each engine (cdktf-cli, cdktn-cli; pinned in package.json) synthesizes
the same stack as main.py on that engine, and so does scripts/synth.sh.

Runs `scripts/cdk.sh synth`, which installs the CLIs with `npm ci` on first use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from main import STACK_NAME

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="the CLIs need Node.js and npm on PATH",
)


def synthesized_stack(command: list[str], outdir: Path, engine: str) -> dict:
    env = {**os.environ, "CDKTF_OUTDIR": str(outdir), "DJAPP_ENGINE": engine}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads((outdir / "stacks" / STACK_NAME / "cdk.tf.json").read_text())


@pytest.mark.parametrize("engine", ["cdktf", "cdktn"])
def test_the_engines_cli_synth_writes_the_same_stack_as_python_main_py(tmp_path, engine):
    cli = synthesized_stack(["scripts/cdk.sh", "synth", "--output", str(tmp_path / "cli")], tmp_path / "cli", engine)
    python = synthesized_stack([sys.executable, "main.py"], tmp_path / "python", engine)

    assert cli == python
    assert cli["//"]["metadata"]["version"] == {"cdktf": "0.21.0", "cdktn": "0.24.0"}[engine]


def test_the_synth_script_synthesizes_on_the_engine_chosen(tmp_path):
    script = synthesized_stack(["scripts/synth.sh"], tmp_path / "script", "cdktn")
    python = synthesized_stack([sys.executable, "main.py"], tmp_path / "python", "cdktn")

    assert script == python
    assert script["terraform"]["required_providers"]["google"]["version"] == "8.7.0"


def test_an_unknown_engine_is_refused_by_the_cli_script_naming_both():
    done = subprocess.run(["scripts/cdk.sh", "synth"], cwd=ROOT, env={**os.environ, "DJAPP_ENGINE": "cdk"},
                          capture_output=True, text=True, timeout=600)

    assert done.returncode == 2
    assert "DJAPP_ENGINE is 'cdk'; set it to one of cdktf, cdktn (default cdktf)" in done.stderr
