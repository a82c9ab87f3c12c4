"""Environment variables read from Secret Manager, and the IAM that lets a job read them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import limits
from .validation import ConstructValidationError, is_unresolved


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable read from Secret Manager when the container starts.

    secret: a secret id ("django-secret-key", in the worker's project) or a full path
      ("projects/P/secrets/S", e.g. a secret kept in another project).
    version: "latest" (default), a version number ("3") or a version alias.
    """

    secret: str
    version: str = "latest"

    def check(self, construct: str, option: str) -> None:
        if not is_unresolved(self.secret):
            if not isinstance(self.secret, str) or not (
                limits.SECRET_ID.fullmatch(self.secret) or limits.SECRET_PATH.fullmatch(self.secret)
            ):
                raise ConstructValidationError(construct, f"{option}.secret", self.secret, limits.SECRET_RULE)
        if not is_unresolved(self.version):
            version = self.version
            if (
                not isinstance(version, str)
                or not limits.SECRET_VERSION.fullmatch(version)
                or (version != "latest" and version.lower() in ("latest", *limits.SECRET_RESERVED_ALIASES))
            ):
                raise ConstructValidationError(construct, f"{option}.version", version, limits.SECRET_VERSION_RULE)

    @property
    def is_full_path(self) -> bool:
        return isinstance(self.secret, str) and self.secret.startswith("projects/")

    def iam_target(self, project: str | None) -> tuple[str, str | None]:
        """(secret_id, project) for the secret's IAM member resource.

        A full path already names its project. The provider parses the project out of it
        and stores that; given `project` as well, the two would differ whenever the path
        names another project, and the member would be replaced on every apply. So a
        full path goes alone.
        """
        return (self.secret, None) if self.is_full_path else (self.secret, project)


def secret_refs(construct: str, option: str, secret_env: Mapping[str, SecretEnv | str] | None) -> dict[str, SecretEnv]:
    """`secret_env` with plain ids turned into SecretEnv, every one checked."""
    refs = {}
    for name, value in (secret_env or {}).items():
        ref = SecretEnv(value) if isinstance(value, str) else value
        if not isinstance(ref, SecretEnv):
            raise ConstructValidationError(construct, f"{option}[{name!r}]", value, "a secret id, a secret path or a SecretEnv")
        ref.check(construct, f"{option}[{name!r}]")
        refs[name] = ref
    return refs
