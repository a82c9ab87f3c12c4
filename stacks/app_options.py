"""The app stack's options, which change what the stack is made of (so they are synth-time
settings, not Terraform variables), read by main.py from the environment.

    DJAPP_DATABASE             existing (default): DATABASE_URL from a secret you create;
                               cloud-sql: the stack makes a Cloud SQL instance (stacks/database.py)
    DJAPP_DATABASE_MAX_CONNECTIONS
                               the database's max_connections, which the app's connections must
                               fit (stacks/connection_budget.py): existing, what your server
                               allows (default 50); cloud-sql, the instance's flag (default
                               the tier's, 50)
    DJAPP_STATE_BUCKET         a GCS bucket for Terraform state; default: local state file
    DJAPP_DELETION_PROTECTION  true (default); false before a `destroy` (docs/deploy.md)
    DJAPP_ENGINE               cdktf (default): CDK for Terraform with hashicorp/google 6.50;
                               cdktn: CDK Terrain with hashicorp/google 8.x (docs/engines.md)
    DJAPP_ENVIRONMENT          unset (default): the names the app always had; a name such as
                               staging: a second deployment beside the first in one project,
                               every Google name its own (stacks/names.py)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from constructs_lib.engine import CDKTF, ENGINES, Engine

from . import names
from .connection_budget import MAX_CONNECTIONS_CEILING
from .database import CloudSqlDatabase, ExistingDatabase

DATABASE = "DJAPP_DATABASE"
DATABASE_MAX_CONNECTIONS = "DJAPP_DATABASE_MAX_CONNECTIONS"
STATE_BUCKET = "DJAPP_STATE_BUCKET"
DELETION_PROTECTION = "DJAPP_DELETION_PROTECTION"
ENGINE = "DJAPP_ENGINE"
ENVIRONMENT = names.ENVIRONMENT_VARIABLE


class InvalidOption(ValueError):
    pass


@dataclass(frozen=True)
class AppOptions:
    database: ExistingDatabase | CloudSqlDatabase = field(default_factory=ExistingDatabase)
    state_bucket: str | None = None
    deletion_protection: bool = True
    engine: Engine = CDKTF
    environment: str = ""

    def __post_init__(self) -> None:
        self.names  # an environment that cannot name a deployment is refused here, first

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> AppOptions:
        protected = _choice(environ, DELETION_PROTECTION, ("true", "false")) == "true"
        cloud_sql = _choice(environ, DATABASE, ("existing", "cloud-sql")) == "cloud-sql"
        limit = _whole_number(environ, DATABASE_MAX_CONNECTIONS, 1, MAX_CONNECTIONS_CEILING)
        return cls(
            database=(
                CloudSqlDatabase(deletion_protection=protected, max_connections=limit) if cloud_sql
                else ExistingDatabase(**({"max_connections": limit} if limit else {}))
            ),
            state_bucket=environ.get(STATE_BUCKET) or None,
            deletion_protection=protected,
            engine=ENGINES[_choice(environ, ENGINE, tuple(ENGINES))],
            environment=environ.get(ENVIRONMENT, ""),
        )

    @property
    def names(self) -> names.AppNames:
        """The deployment's Google names (InvalidEnvironment for a bad environment)."""
        return names.AppNames(self.environment)


def _choice(environ: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """The variable's value, one of `allowed`; unset means the first."""
    value = environ.get(name) or allowed[0]
    if value not in allowed:
        raise InvalidOption(f"{name} is {value!r}; set it to one of {', '.join(allowed)} (default {allowed[0]})")
    return value


def _whole_number(environ: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """The variable's value, a whole number from `low` to `high`; unset means None."""
    value = environ.get(name) or ""
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise InvalidOption(f"{name} is {value!r}; set it to a whole number from {low} to {high}, or leave it unset")
    return int(value)
