"""The real cdktf CLI (cdktf-cli, pinned in package.json) synthesizes the same stack as main.py.

Runs `scripts/cdktf.sh synth`, which installs the CLI with `npm ci` on first use.
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
    reason="the cdktf CLI needs Node.js and npm on PATH",
)


def synthesized_stack(command: list[str], outdir: Path) -> dict:
    env = {**os.environ, "CDKTF_OUTDIR": str(outdir)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads((outdir / "stacks" / STACK_NAME / "cdk.tf.json").read_text())


def test_cdktf_synth_writes_the_same_stack_as_python_main_py(tmp_path):
    cli = synthesized_stack(["scripts/cdktf.sh", "synth", "--output", str(tmp_path / "cli")], tmp_path / "cli")
    python = synthesized_stack([sys.executable, "main.py"], tmp_path / "python")
    assert cli == python
