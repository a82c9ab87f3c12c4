"""Deprecated: now cloudtasks.run.runner (cloudtasks.deprecated). Kept for the records of
tasks refused before 0.3.0 (`cloudtasks.runner.UnrunnableTask`)."""

from cloudtasks.deprecated import moved
from cloudtasks.run import runner

moved(__name__, runner)
