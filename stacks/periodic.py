"""The app's periodic tasks, as its Django project declares them (django_project/config/periodic.py).

The declaration module imports nothing but cloudtasks.periodic, so the stack reads it
without Django's settings or a database (and synth stays fast: importing it costs a few
milliseconds, docs/performance.md). Each declaration becomes a schedule of the stack
(stacks/app_stack.py AppSchedule): a ScheduledTrigger that starts its queue's worker job
with `run_task --periodic NAME`, and the same one fired by scripts/dev.sh.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from cloudtasks.periodic import InvalidPeriodic, Periodic, declarations

DECLARATIONS = Path(__file__).resolve().parents[1] / "django_project" / "config" / "periodic.py"


def declared(path: Path | None = None) -> tuple[Periodic, ...]:
    """The PERIODIC the module at `path` (default DECLARATIONS) declares; InvalidPeriodic,
    naming the file, if it declares none or something else."""
    path = path or DECLARATIONS
    spec = importlib.util.spec_from_file_location("_declared_periodic", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise InvalidPeriodic(f"{path} does not exist: it declares the app's periodic tasks (PERIODIC)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)  # a Periodic checks itself as it is made
        if not hasattr(module, "PERIODIC"):
            raise InvalidPeriodic("it has no PERIODIC: declare the app's periodic tasks there, or PERIODIC = ()")
        return declarations(module.PERIODIC)
    except InvalidPeriodic as error:
        raise InvalidPeriodic(f"{path}: {error}") from None
