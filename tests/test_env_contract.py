"""The stack and Django meet only in environment variable names: they must agree.

Neither side imports the other; this test imports both.
"""

from cloudtasks import env as django_env  # plain constants: no Django set-up needed
from constructs_lib import producer_env

from tests.infra.synth import only, resources


def names_set(container):
    return {e["name"] for e in container["env"]}


def test_every_variable_the_web_service_gets_is_one_django_reads(app_stack):
    (web,) = only(app_stack, "google_cloud_run_v2_service")["template"]["containers"]
    assert names_set(web) == django_env.STACK_SET


def test_every_job_gets_the_same_names_except_allowed_hosts(app_stack):
    jobs = resources(app_stack, "google_cloud_run_v2_job").values()
    assert len(jobs) == 2  # the worker and the migrate job
    for job in jobs:
        (container,) = job["template"]["template"]["containers"]
        assert names_set(container) == django_env.STACK_SET - {django_env.ALLOWED_HOSTS}, job["name"]


def test_queue_worker_exposes_exactly_the_names_django_reads_for_enqueueing():
    assert set(producer_env.ALL) == {django_env.QUEUE_PATH, django_env.INVOKER_EMAIL, django_env.JOB_PATH}
