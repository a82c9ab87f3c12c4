"""Paths and attributes the constructs remember instead of asking the jsii kernel again
are the kernel's own answers."""

from constructs import Construct

from constructs_lib import QueueWorker, ScheduledTrigger
from constructs_lib.kernel_cache import attribute, path_of

from .synth import new_stack


def test_remembered_paths_are_the_construct_paths_even_for_odd_ids():
    stack = new_stack()
    team = Construct(Construct(stack, "teams"), "data/science")
    worker = QueueWorker(team, "worker/1", name="jobs", image="example/image:1", region="europe-west1")
    trigger = ScheduledTrigger(worker, "nightly", job=worker, schedule="0 3 * * *")
    for construct in (worker, trigger):
        assert path_of(construct) == construct.node.path
    assert path_of(trigger) == "test/teams/data--science/worker--1/nightly"


def test_a_remembered_attribute_is_the_same_reference():
    stack = new_stack()
    worker = QueueWorker(stack, "worker", name="jobs", image="example/image:1", region="europe-west1")
    email = attribute(worker.invoker, "email")
    assert attribute(worker.invoker, "email") is email
    assert email == worker.invoker_email
