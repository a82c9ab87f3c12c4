"""The whole system on one machine, for a developer: `scripts/dev.sh` runs `python -m local_run`.

It starts, all on 127.0.0.1: the Cloud Tasks emulator (cloudtasks.local.emulator), the Django
development server (migrated first), a mail sink (mail_sink.py), a local stand-in for
Cloud Run's jobs:run (jobs.py) and a scheduler for the stack's schedules (scheduler.py),
with an admin user for the task records (admin_user.py).
What runs comes from the app stack's own declarations (declared.py), and every part is
supervised by processes.py: prefixed output, and all of it stopped together.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DJANGO_DIR = ROOT / "django_project"
# The Django project (config.settings, accounts) imports as manage.py imports it; the app
# cloudtasks (local signing, env names) comes from its installed distribution.
if str(DJANGO_DIR) not in sys.path:
    sys.path.insert(0, str(DJANGO_DIR))
