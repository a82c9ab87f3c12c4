"""What a container process is given: its command, args and environment.

The same rules hold for a job's own container and for the overrides a `jobs:run` call
sends (a ScheduledTrigger's args and env): Cloud Run's limits on names, sizes and
counts, and what the kernel can pass to a process at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from . import limits
from .validation import ConstructValidationError, is_unresolved

# Variables that change how a container's interpreter or loader starts, whatever the
# image: an env override that sets one of them makes the job run something other than
# what its image says. Per-run overrides (a ScheduledTrigger's env) may not set them;
# a job's own env, which is part of its image's configuration, may.
INTERPRETER_START_ENV = frozenset({
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PATH",
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONEXECUTABLE", "PYTHONUSERBASE",
    "PYTHONPLATLIBDIR", "PYTHONWARNINGS", "PYTHONBREAKPOINT",
    "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS",
    "BASH_ENV", "ENV", "PERL5OPT", "PERL5LIB", "RUBYOPT", "RUBYLIB",
})


def check_image(construct: str, option: str, image: str) -> str:
    """A container image reference Cloud Run can pull (a reference passes unchecked)."""
    if not is_unresolved(image) and not (isinstance(image, str) and limits.IMAGE.fullmatch(image)):
        raise ConstructValidationError(construct, option, image, limits.IMAGE_RULE)
    return image


def check_strings(construct: str, option: str, values: Sequence[str] | None, *, non_empty: bool = False) -> None:
    """Command or args: a list of at most 1000 strings the kernel can pass to a process."""
    if values is None or is_unresolved(values):
        return
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ConstructValidationError(construct, option, values, "a list of strings")
    if non_empty and not values:
        raise ConstructValidationError(construct, option, values, "None to keep the job's args, or a non-empty list")
    if len(values) > limits.MAX_ARGS:
        raise ConstructValidationError(
            construct, option, f"{len(values)} strings", f"at most {limits.MAX_ARGS} (Cloud Run's limit per container)"
        )
    for index, value in enumerate(values):
        _check_process_string(construct, f"{option}[{index}]", value, limits.MAX_ARG_BYTES, "an argument")


def _check_process_string(construct: str, option: str, value: object, max_bytes: int, what: str) -> None:
    if is_unresolved(value):
        return
    if not isinstance(value, str):
        raise ConstructValidationError(construct, option, value, "a string")
    if "\0" in value:
        raise ConstructValidationError(construct, option, value, f"{what} without NUL characters (no process can receive one)")
    if len(value.encode()) > max_bytes:
        raise ConstructValidationError(construct, option, value, f"{what} of at most {max_bytes:,} bytes (UTF-8)")


def check_env(
    construct: str, option: str, env: Mapping[str, str] | None, *, also_refused: Collection[str] = (),
    why_refused: str = "",
) -> None:
    """Names and values of plain environment variables."""
    if not env or is_unresolved(env):
        return
    if not isinstance(env, Mapping):
        raise ConstructValidationError(construct, option, env, "a mapping of variable names to strings")
    for name, value in env.items():
        check_env_name(construct, option, name, also_refused=also_refused, why_refused=why_refused)
        _check_process_string(construct, f"{option}[{name!r}]", value, limits.MAX_ENV_VALUE_BYTES, "a value")


def check_env_name(
    construct: str, option: str, name: str, *, also_refused: Collection[str] = (), why_refused: str = "",
) -> None:
    if is_unresolved(name):
        return
    if not isinstance(name, str) or not name or "=" in name or "\0" in name:
        raise ConstructValidationError(construct, option, name, "a non-empty variable name without '=' or NUL")
    if len(name) > limits.MAX_ENV_NAME_LENGTH:
        raise ConstructValidationError(construct, option, name, f"a name of at most {limits.MAX_ENV_NAME_LENGTH:,} characters")
    if name in limits.RESERVED_ENV:
        raise ConstructValidationError(
            construct, option, name, "not a name Cloud Run sets itself: " + ", ".join(sorted(limits.RESERVED_ENV))
        )
    if name in also_refused:
        raise ConstructValidationError(construct, option, name, why_refused)


def check_env_count(construct: str, option: str, count: int) -> None:
    if count > limits.MAX_ENV_VARS:
        raise ConstructValidationError(
            construct, option, f"{count} variables", f"at most {limits.MAX_ENV_VARS} per container (Cloud Run's limit)"
        )
