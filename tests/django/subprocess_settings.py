"""Settings for the Django processes tests start: the project's, plus the tests' task app.

(The test process itself adds the app in conftest.py.)
"""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.django.taskapp"]  # noqa: F405
