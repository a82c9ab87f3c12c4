"""The README a new user follows: every command in it is run by a test or by CI, and its
configuration reference names every variable the code reads.

(The README's construct example is run by tests/infra/test_readme.py.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from cloudtasks.config import env
from stacks import app_options
from stacks.app_stack import ALERT_CHANNELS_VARIABLE

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

# Each command the README gives, and the file that runs it (which must name it).
RUN_BY = {
    "scripts/dev.sh": "tests/local_run/dev_system.py",
    "scripts/test.sh": ".ci/run",
    "scripts/synth.sh": "tests/test_readme.py",
    "scripts/deploy.sh": "tests/infra/test_deploy_script.py",
}


def readme_commands() -> list[str]:
    """The commands in the README's sh blocks, without comments and variable assignments."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.splitlines():
            words = [w for w in line.split("#")[0].split() if not re.fullmatch(r"[A-Z_]+=\S*", w)]
            if words:
                commands.append(words[0])
    return commands


def test_every_command_in_the_readme_is_run_by_a_test_or_by_ci():
    commands = readme_commands()

    assert set(commands) == set(RUN_BY), "add the new command to RUN_BY with the test that runs it"
    for command, runner in RUN_BY.items():
        assert Path(command).name in (ROOT / runner).read_text(), f"{runner} does not run {command}"


def test_ci_runs_exactly_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text()

    assert re.search(r"^exec scripts/test\.sh$", ci, re.M)


def test_the_synth_command_writes_the_app_stack(tmp_path):
    done = subprocess.run(["scripts/synth.sh"], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("Terraform JSON written to cdktf.out/stacks/app/cdk.tf.json")
    assert (ROOT / "cdktf.out" / "stacks" / "app" / "cdk.tf.json").exists()


def test_the_configuration_reference_names_every_variable_the_code_reads():
    reference = README[README.index("## Configuration reference"):]
    read = {value for name, value in vars(env).items() if name.isupper() and isinstance(value, str)}
    read |= {
        app_options.DATABASE, app_options.DATABASE_MAX_CONNECTIONS, app_options.STATE_BUCKET,
        app_options.DELETION_PROTECTION, app_options.ENGINE, app_options.ENVIRONMENT,
        # Terraform variables a deployer sets, as Terraform reads them from the environment.
        f"TF_VAR_{ALERT_CHANNELS_VARIABLE}",
    }

    assert {variable for variable in read if f"`{variable}`" not in reference} == set()
