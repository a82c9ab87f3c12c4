"""Synthesize the app stack to cdktf.out/: `python main.py` (or `scripts/cdk.sh synth`).

Options that change what the stack is made of come from the environment
(stacks/app_options.py): DJAPP_ENGINE (cdktf or cdktn), DJAPP_ENVIRONMENT, DJAPP_DATABASE,
DJAPP_DATABASE_MAX_CONNECTIONS, DJAPP_STATE_BUCKET, DJAPP_DELETION_PROTECTION. A stack
whose connections would not fit the database is refused, with the numbers
(stacks/connection_budget.py); so is an invalid periodic task (django_project/config/periodic.py).
Only the chosen engine is imported.
"""

# Before any provider bindings are imported: constructs_lib makes them load only the
# resources the stack uses (see constructs_lib/fast_provider.py).
import constructs_lib  # noqa: F401, I001

import os
import sys

from cloudtasks.periodic import InvalidPeriodic
from stacks.app_options import AppOptions, InvalidOption
from stacks.app_stack import app_stack
from stacks.connection_budget import ConnectionBudgetExceeded, InvalidConnectionLimit
from stacks.names import InvalidEnvironment

STACK_NAME = "app"


def main() -> None:
    try:
        options = AppOptions.from_environment(os.environ)
        app = options.engine.core.App()
        app_stack(app, STACK_NAME, options)
    except (InvalidOption, InvalidEnvironment, InvalidPeriodic, ConnectionBudgetExceeded, InvalidConnectionLimit) as error:
        sys.exit(f"main.py: {error}")
    app.synth()
    print(f"Terraform JSON written to {app.outdir}/stacks/{STACK_NAME}/cdk.tf.json")


if __name__ == "__main__":
    main()
