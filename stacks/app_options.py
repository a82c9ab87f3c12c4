"""The app stack's options, which change what the stack is made of (so they are synth-time
settings, not Terraform variables), read by main.py from the environment.

    DJAPP_DATABASE             existing (default): DATABASE_URL from a secret you create;
                               cloud-sql: the stack makes a Cloud SQL instance (stacks/database.py)
    DJAPP_STATE_BUCKET         a GCS bucket for Terraform state; default: local state file
    DJAPP_DELETION_PROTECTION  true (default); false before a `destroy` (docs/deploy.md)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .database import CloudSqlDatabase, ExistingDatabase

DATABASE = "DJAPP_DATABASE"
STATE_BUCKET = "DJAPP_STATE_BUCKET"
DELETION_PROTECTION = "DJAPP_DELETION_PROTECTION"


class InvalidOption(ValueError):
    pass


@dataclass(frozen=True)
class AppOptions:
    database: ExistingDatabase | CloudSqlDatabase = field(default_factory=ExistingDatabase)
    state_bucket: str | None = None
    deletion_protection: bool = True

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> AppOptions:
        protected = _choice(environ, DELETION_PROTECTION, ("true", "false")) == "true"
        cloud_sql = _choice(environ, DATABASE, ("existing", "cloud-sql")) == "cloud-sql"
        return cls(
            database=CloudSqlDatabase(deletion_protection=protected) if cloud_sql else ExistingDatabase(),
            state_bucket=environ.get(STATE_BUCKET) or None,
            deletion_protection=protected,
        )


def _choice(environ: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """The variable's value, one of `allowed`; unset means the first."""
    value = environ.get(name) or allowed[0]
    if value not in allowed:
        raise InvalidOption(f"{name} is {value!r}; set it to one of {', '.join(allowed)} (default {allowed[0]})")
    return value
