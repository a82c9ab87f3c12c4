"""Where the app's PostgreSQL is: a DATABASE_URL secret you create, or Cloud SQL the stack makes.

Either way the web service and every job read DATABASE_URL from Secret Manager.

- `ExistingDatabase()` (the default): any PostgreSQL the service can reach (a managed
  provider, Cloud SQL made elsewhere, ...). You create the secret, as for the secret key,
  and say how many connections it allows (`max_connections`).
- `CloudSqlDatabase()`: a Cloud SQL for PostgreSQL instance, a database and a user, whose
  password is a `random_password`; the URL is written to a secret the stack creates,
  which the containers read by version number. The
  service and jobs reach the instance through Cloud Run's Cloud SQL volume (a unix socket
  under /cloudsql, through the Cloud SQL Auth Proxy: no network is opened), and their
  identities get `roles/cloudsql.client` on that instance only. The password is never in
  the synthesized JSON, only a reference to the random_password's result; Terraform state
  holds it (as it holds the secret version and the user's password): keep state where
  only deployers can read it (docs/deploy.md). The instance's `max_connections` flag is
  set explicitly, so that the stack's connection budget is checked against the limit
  the instance has, whatever Cloud SQL's default for its tier.

Either way the stack checks that the app's connections fit `max_connections`
(stacks/connection_budget.py); with Cloud SQL it also alerts when the app's database
nears that budget (`CloudSqlPostgres.alert_on_connections`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from constructs import Construct

from constructs_lib import metrics
from constructs_lib.alerts import threshold_policy
from constructs_lib.engine import engine_of
from constructs_lib.iam import check_member

from .connection_budget import InvalidConnectionLimit
from .names import AppNames

if TYPE_CHECKING:  # the engine's classes at run time (constructs_lib/engine.py)
    from cdktf import ITerraformDependable
    from cdktf_cdktf_provider_google.monitoring_alert_policy import MonitoringAlertPolicy
    from cdktf_cdktf_provider_google.project_iam_member import ProjectIamMember

# Cloud SQL's default max_connections of the shared-core tiers
# (https://cloud.google.com/sql/docs/postgres/quotas#maximum_concurrent_connections);
# for other tiers it depends on the memory: give max_connections.
TIER_MAX_CONNECTIONS = {"db-f1-micro": 25, "db-g1-small": 50}
# What the app stack as shipped needs (stacks/connection_budget.py): db-g1-small's.
DEFAULT_MAX_CONNECTIONS = 50
CLOUD_SQL_MOUNT = "/cloudsql"  # where Cloud Run's Cloud SQL volume puts the instances' sockets
CLOUD_SQL_VOLUME = "cloudsql"
ROLE_CLOUD_SQL_CLIENT = "roles/cloudsql.client"


@dataclass(frozen=True)
class ExistingDatabase:
    """DATABASE_URL from a Secret Manager secret you create (docs/deploy.md):
    `postgres://USER:PASSWORD@HOST:5432/NAME`. `max_connections`: the server's setting,
    which the app's connections must fit (less what it reserves beyond PostgreSQL's
    default 3 for superusers)."""

    secret: str | None = None  # default the environment's: django-database-url[-ENV] (stacks/names.py)
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @property
    def connection_limit(self) -> int:
        return self.max_connections


@dataclass(frozen=True)
class CloudSqlDatabase:
    """A Cloud SQL for PostgreSQL instance made by the stack.

    `max_connections` is set as the instance's database flag; by default it is Cloud
    SQL's default for the tier (db-g1-small 50, db-f1-micro 25), which other tiers must
    give. The app's connections must fit it (docs/deploy.md). Changing the flag restarts
    the instance (https://cloud.google.com/sql/docs/postgres/flags).
    `deletion_protection` guards the instance both in Terraform and in Google Cloud;
    `destroy` needs it off first.
    """

    instance: str | None = None  # default the environment's: djapp[-ENV]-db (stacks/names.py)
    database: str = "djapp"
    user: str = "djapp"
    secret: str | None = None  # default the environment's: django-database-url[-ENV]
    database_version: str = "POSTGRES_16"
    tier: str = "db-g1-small"
    deletion_protection: bool = True
    max_connections: int | None = None

    @property
    def connection_limit(self) -> int:
        """The instance's max_connections flag: as given, or the tier's default."""
        if self.max_connections is not None:
            return self.max_connections
        if self.tier not in TIER_MAX_CONNECTIONS:
            raise InvalidConnectionLimit(
                f"CloudSqlDatabase tier {self.tier!r}: give max_connections, which the stack sets as the "
                f"instance's flag; Cloud SQL's default for a tier depends on its memory "
                f"(https://cloud.google.com/sql/docs/postgres/quotas#maximum_concurrent_connections)"
            )
        return TIER_MAX_CONNECTIONS[self.tier]


class CloudSqlPostgres(Construct):
    """The instance, database, user and DATABASE_URL secret of a `CloudSqlDatabase`.

    Exposes `connection_name` (for the Cloud SQL volume), `secret_id`, `secret_version`
    (whose `version` number its readers name: Secret Manager reads a version just added
    consistently by its number, not as "latest",
    https://cloud.google.com/secret-manager/docs/reference/consistency; and a new value
    is a new number, so a changed URL rolls the service and jobs),
    `grant_client(member, id)` and `alert_on_connections(threshold, channels=...)`.
    """

    def __init__(
        self, scope: Construct, id: str, *, options: CloudSqlDatabase, names: AppNames, project: str, region: str,
        depends_on: list[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id)
        engine = self._engine = engine_of(scope)
        google = engine.google
        self._project = project
        self._depends_on = depends_on
        # Only stacks with Cloud SQL pay for loading the random provider.
        engine.provider("random", "provider").RandomProvider(self, "random")
        # Letters and digits only: the password goes into a URL unescaped.
        password = engine.provider("random", "password").Password(self, "password", length=32, special=False)
        instance = google("sql_database_instance").SqlDatabaseInstance(
            self, "instance", name=options.instance or names.sql_instance, region=region, database_version=options.database_version,
            deletion_protection=options.deletion_protection, depends_on=depends_on,
            settings={
                "tier": options.tier,
                # Shared-core tiers exist in the Enterprise edition only.
                "edition": "ENTERPRISE",
                "deletion_protection_enabled": options.deletion_protection,
                "backup_configuration": {"enabled": True, "point_in_time_recovery_enabled": True},
                # Explicit, so that the limit the stack's connection budget was checked
                # against is the instance's, whatever the tier's default.
                "database_flags": [{"name": "max_connections", "value": str(options.connection_limit)}],
            },
        )
        self.instance = instance
        self.connection_name = instance.connection_name
        # Neither is deleted on destroy, the instance's deletion takes both: Cloud SQL
        # refuses to delete a PostgreSQL user that was granted roles, or a database other
        # users can reach, and the two deleted in parallel fail each other (the provider's
        # deletion_policy docs recommend "ABANDON" for PostgreSQL).
        self.database = database = google("sql_database").SqlDatabase(
            self, "database", name=options.database, instance=instance.name, deletion_policy="ABANDON",
            depends_on=depends_on,
        )
        user = google("sql_user").SqlUser(
            self, "user", name=options.user, instance=instance.name, password=password.result,
            deletion_policy="ABANDON", depends_on=depends_on,
        )
        secret = google("secret_manager_secret").SecretManagerSecret(
            self, "url", secret_id=options.secret or names.database_url_secret, replication={"auto": {}},
            depends_on=depends_on,
        )
        self.secret_id = secret.secret_id
        socket_host = engine.core.Fn.urlencode(f"{CLOUD_SQL_MOUNT}/{instance.connection_name}")
        self.secret_version = google("secret_manager_secret_version").SecretManagerSecretVersion(
            self, "url-version", secret=secret.id,
            secret_data=f"postgres://{user.name}:{password.result}@{socket_host}/{database.name}",
            depends_on=depends_on,
        )

    def alert_on_connections(self, threshold: int, *, channels: Sequence[str]) -> MonitoringAlertPolicy:
        """An alert policy that opens when the app's database has held more than
        `threshold` connections for 5 minutes on end."""
        instance = f"{self.instance.name} ({self.instance.region})"
        return threshold_policy(
            self, "alert-connections", display_name=f"{instance}: connections near the app's budget",
            condition=f"More than {threshold} connections to {self.database.name} for 300s",
            filter=metrics.metric_filter(
                metrics.POSTGRESQL_BACKENDS, equal={"database": self.database.name},
                resource={"project_id": self._project, "database_id": f"{self._project}:{self.instance.name}"},
            ),
            aligner="ALIGN_MAX", window="60s", threshold=threshold, duration="300s", channels=channels,
            severity="WARNING",
            documentation=(
                f"The app holds more than {threshold} connections to its database on the Cloud SQL instance "
                f"{instance}, close to the most its processes may hold (stacks/connection_budget.py). "
                "At the budget, job executions wait for a slot; past it (something else connecting), PostgreSQL "
                "refuses connections. docs/deploy.md, Alerts, says what to do."
            ),
            resource_options={"depends_on": self._depends_on},
        )

    def grant_client(self, member: str, *, id: str) -> ProjectIamMember:
        """`roles/cloudsql.client` for `member`, on this instance only: Cloud SQL grants
        are project-wide, so an IAM condition limits it to the instance."""
        check_member(self.node.path, "grant_client member", member)
        return self._engine.google("project_iam_member").ProjectIamMember(
            self, f"client-{id}", project=self._project, role=ROLE_CLOUD_SQL_CLIENT, member=member,
            condition={
                "title": f"Only {self.node.id}",
                "expression": (
                    f"resource.name == 'projects/{self._project}/instances/{self.instance.name}' "
                    "&& resource.type == 'sqladmin.googleapis.com/Instance'"
                ),
            },
            depends_on=self._depends_on,
        )
