"""The app stack's synth-time options, read from the environment by main.py."""

import pytest

from constructs_lib.engine import CDKTF, CDKTN
from stacks.app_options import AppOptions, InvalidOption
from stacks.database import CloudSqlDatabase, ExistingDatabase


def test_defaults_are_an_existing_database_local_state_deletion_protection_and_cdktf():
    assert AppOptions.from_environment({}) == AppOptions(ExistingDatabase(), None, True, CDKTF)


def test_the_engine_is_chosen_by_name():
    assert AppOptions.from_environment({"DJAPP_ENGINE": "cdktn"}).engine == CDKTN


def test_cloud_sql_state_bucket_and_no_deletion_protection():
    options = AppOptions.from_environment({
        "DJAPP_DATABASE": "cloud-sql", "DJAPP_STATE_BUCKET": "example-state", "DJAPP_DELETION_PROTECTION": "false",
    })

    assert options == AppOptions(CloudSqlDatabase(deletion_protection=False), "example-state", False)


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [("DJAPP_DATABASE", "mysql", "existing, cloud-sql"), ("DJAPP_DELETION_PROTECTION", "no", "true, false"),
     ("DJAPP_ENGINE", "cdk", "cdktf, cdktn")],
)
def test_a_value_not_allowed_is_refused_naming_the_variable_and_the_choices(variable, value, allowed):
    with pytest.raises(InvalidOption, match=f"{variable} is '{value}'; set it to one of {allowed}"):
        AppOptions.from_environment({variable: value})
