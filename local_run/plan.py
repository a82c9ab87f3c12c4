"""Where everything of a local run lives: names and addresses made from the stack's declarations."""

from __future__ import annotations

import json
import shlex
import socket
from dataclasses import dataclass
from typing import Any

from cloudtasks.config import env

# Resource names shaped like Google's, in a project that cannot exist (ids have 6+ characters).
LOCATION = "projects/local/locations/local"


@dataclass(frozen=True)
class LocalPlan:
    declared: dict[str, Any]  # what local_run.declared prints
    web_port: int
    emulator_port: int
    jobs_port: int
    mail_port: int

    @property
    def app(self) -> str:
        return self.declared["app"]

    @property
    def queue_names(self) -> list[str]:
        return list(self.declared["queues"])

    def queue_path(self, queue: str) -> str:
        return f"{LOCATION}/queues/{self.app}-{queue}"

    def job_path(self, queue: str) -> str:
        return f"{LOCATION}/jobs/{self.app}-{queue}"

    def invoker_email(self, queue: str) -> str:
        return f"{self.app}-{queue}-invoker@local-run.invalid"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def emulator_address(self) -> str:
        return f"127.0.0.1:{self.emulator_port}"

    def queues_variable(self) -> str:
        """CLOUD_TASKS_QUEUES, as the stack sets it in the cloud (cloudtasks.queue_env)."""
        return json.dumps({
            queue: {
                "queue_path": self.queue_path(queue),
                "invoker_email": self.invoker_email(queue),
                "job_path": self.job_path(queue),
                **{key: declared[key] for key in ("retry", "job_max_retries", "job_timeout", "max_running", "slot_wait")},
            }
            for queue, declared in self.declared["queues"].items()
        })

    def django_environment(self, *, key_file: str, mail_url: str) -> dict[str, str]:
        """What a local run sets for the Django processes (web server, executions)."""
        return {
            env.DEBUG: "true",
            env.EMULATOR_HOST: self.emulator_address,
            env.LOCAL_KEY_FILE: key_file,
            env.QUEUES: self.queues_variable(),
            env.HANDLER_URL: f"{self.web_url}/tasks/run/",
            env.EMAIL_URL: mail_url,
            "PYTHONUNBUFFERED": "1",  # output as it happens, for the prefixed log
        }

    def second_shell(self, *, key_file: str, mail_url: str) -> str:
        """A shell script that sets what a second shell's Django needs to enqueue into
        this run (`source` it): the variables the run's own Django processes get."""
        variables = self.django_environment(key_file=key_file, mail_url=mail_url)
        del variables["PYTHONUNBUFFERED"]
        return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (as of this call)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
