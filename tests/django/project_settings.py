"""config.settings as a process started with a given environment would read them."""

from __future__ import annotations

import importlib.util
import os
import runpy
from typing import Any
from unittest import mock

SETTINGS_FILE = importlib.util.find_spec("config.settings").origin


def load_settings(**variables: str) -> dict[str, Any]:
    """The settings, with `variables` added to this process's environment ("" unsets one).

    Run as a file: a fresh copy, leaving the settings of the running tests alone.
    """
    with mock.patch.dict(os.environ, variables):
        return runpy.run_path(SETTINGS_FILE)
