"""Old module names that still import, each with a DeprecationWarning, until 0.4.

The package was grouped by its flow in 0.3.0 (see cloudtasks/__init__.py). A name a user
could have written, or that task records hold (an attempt's `exception_class_path`),
stays importable as the module it now is.
"""

from __future__ import annotations

import sys
import warnings
from types import ModuleType


def moved(old_name: str, module: ModuleType) -> None:
    """Make the module being imported as `old_name` the one it moved to: the same objects,
    so that an old record's class path names the class the runner raises today."""
    # stacklevel 3: the line that imported the old name (importlib's frames are skipped).
    warnings.warn(f"{old_name} is deprecated: it is now {module.__name__}", DeprecationWarning, stacklevel=3)
    sys.modules[old_name] = module
