"""Deprecated: now cloudtasks.run.shutdown (cloudtasks.deprecated). Kept for server hooks
that import it, and for the records of tasks interrupted before 0.3.0."""

from cloudtasks.deprecated import moved
from cloudtasks.run import shutdown

moved(__name__, shutdown)
