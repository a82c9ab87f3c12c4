"""Derived names always fit Google's limits, are stable, and stay distinct."""

import random
import string

import pytest

from constructs_lib import limits
from constructs_lib.naming import fit, service_account_id

from .synth import resources, synth


def random_names(count, seed):
    rng = random.Random(seed)
    alphabet = string.ascii_lowercase + string.digits + "-"
    for _ in range(count):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 62)))
        yield (rng.choice(string.ascii_lowercase) + body).rstrip("-") or "a"


@pytest.mark.parametrize("suffix", ["worker", "invoker", "sched"])
def test_service_account_ids_always_fit_the_documented_pattern(suffix):
    for name in random_names(500, seed=suffix):
        account_id = service_account_id(name, suffix)
        assert limits.SERVICE_ACCOUNT_ID.fullmatch(account_id), (name, account_id)


def test_a_name_that_fits_is_kept_as_is():
    assert service_account_id("billing", "worker") == "billing-worker"


def test_long_names_sharing_a_prefix_get_different_ids():
    a = service_account_id("customer-notifications-primary", "invoker")
    b = service_account_id("customer-notifications-secondary", "invoker")
    assert a != b and len(a) <= 30 and len(b) <= 30
    assert a.startswith("customer-") and a.endswith("-invoker")


def test_derived_names_are_the_same_from_one_synth_to_the_next():
    assert fit("a" * 40, "worker", 30) == fit("a" * 40, "worker", 30)


def test_names_not_starting_with_a_letter_still_make_valid_ids():
    assert limits.SERVICE_ACCOUNT_ID.fullmatch(service_account_id("2024_Reports", "sched"))


def test_a_63_character_worker_name_synthesizes_with_fitting_account_ids():
    from constructs_lib import QueueWorker

    name = "n" * 63
    stack = synth(lambda s: QueueWorker(s, "w", name=name, image="example/image:1", region="europe-west1"))
    ids = [body["account_id"] for body in resources(stack, "google_service_account").values()]
    assert len(ids) == 2 and all(limits.SERVICE_ACCOUNT_ID.fullmatch(i) for i in ids)


def test_a_name_known_only_at_apply_time_derives_account_ids_from_the_construct_path():
    from cdktf import TerraformVariable

    from constructs_lib import QueueWorker, ScheduledTrigger

    def build(stack):
        name = TerraformVariable(stack, "name", type="string").string_value
        worker = QueueWorker(stack, "emails", name=name, image="example/image:1", region="europe-west1")
        ScheduledTrigger(stack, "nightly", job=worker, name=name, schedule="0 1 * * *")

    ids = {body["account_id"] for body in resources(synth(build), "google_service_account").values()}
    assert ids == {"test-emails-worker", "test-emails-invoker", "test-nightly-sched"}
