"""The Google names of one deployment of the app stack, from its environment.

Names of queues, jobs, services, scheduler jobs, service accounts, secrets and the Cloud
SQL instance are unique per project. One deployment (environment "") keeps the names it
always had (djapp-web, django-secret-key, ...); another environment of the app in the
same project, `DJAPP_ENVIRONMENT=staging`, gets its own: djapp-staging-web,
django-secret-key-staging, ... (tests/infra/test_environments.py synthesizes both in one
app, without a collision). scripts/deploy.sh reads the names it needs from here:

    python -m stacks.names     # shell assignments, for DJAPP_ENVIRONMENT
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass

from constructs_lib.naming import service_account_id

APP = "djapp"
ENVIRONMENT_VARIABLE = "DJAPP_ENVIRONMENT"
# 1-20 lowercase letters, digits and hyphens: "djapp-ENV-default" and the rest stay
# within Cloud Run's and Cloud SQL's name limits, and the web service's deterministic
# host (djapp-ENV-web-PROJECT_NUMBER) within a DNS label's 63 characters.
ENVIRONMENT = re.compile(r"[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?")
ENVIRONMENT_RULE = "1-20 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen"


class InvalidEnvironment(ValueError):
    pass


@dataclass(frozen=True)
class AppNames:
    """The names of the deployment `environment` ("" for the first, unprefixed one)."""

    environment: str = ""

    def __post_init__(self) -> None:
        if self.environment and not (isinstance(self.environment, str) and ENVIRONMENT.fullmatch(self.environment)):
            raise InvalidEnvironment(
                f"{ENVIRONMENT_VARIABLE} is {self.environment!r}: {ENVIRONMENT_RULE}, or unset for the first deployment"
            )

    @property
    def prefix(self) -> str:
        """djapp, or djapp-ENV: of every Cloud Run, Cloud Tasks and Cloud Scheduler name."""
        return f"{APP}-{self.environment}" if self.environment else APP

    def of(self, part: str) -> str:
        """PREFIX-part, e.g. "djapp-staging-default" for a queue."""
        return f"{self.prefix}-{part}"

    def secret(self, base: str) -> str:
        """A secret id: `base`, or base-ENV."""
        return f"{base}-{self.environment}" if self.environment else base

    def account_id(self, part: str) -> str:
        """The service account id of PREFIX-part's identity (cut with a hash to 30 characters)."""
        return service_account_id(self.of(part), "run")

    @property
    def web_service(self) -> str:
        return self.of("web")

    @property
    def migrate_job(self) -> str:
        return self.of("migrate")

    @property
    def secret_key_secret(self) -> str:
        return self.secret("django-secret-key")

    @property
    def email_url_secret(self) -> str:
        return self.secret("django-email-url")

    @property
    def database_url_secret(self) -> str:
        return self.secret("django-database-url")

    @property
    def sql_instance(self) -> str:
        return self.of("db")

    @property
    def state_prefix(self) -> str:
        """Where in the state bucket this deployment's state is kept (one folder per stack)."""
        return self.prefix


def main() -> None:
    names = AppNames(os.environ.get(ENVIRONMENT_VARIABLE, ""))
    for variable, value in {
        "MIGRATE_JOB": names.migrate_job, "SECRET_KEY_SECRET": names.secret_key_secret,
        "EMAIL_URL_SECRET": names.email_url_secret, "DATABASE_URL_SECRET": names.database_url_secret,
    }.items():
        print(f"{variable}={shlex.quote(value)}")


if __name__ == "__main__":
    try:
        main()
    except InvalidEnvironment as error:
        raise SystemExit(f"stacks.names: {error}") from None
