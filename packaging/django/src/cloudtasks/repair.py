"""Deprecated: now cloudtasks.operations.repair (cloudtasks.deprecated). Kept for the
`repair_times` call the docs gave before 0.3.0."""

from cloudtasks.deprecated import moved
from cloudtasks.operations import repair

moved(__name__, repair)
