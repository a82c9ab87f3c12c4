"""constructs_lib.tokens.is_unresolved answers as each engine's Token.is_unresolved does
(cdktn kept cdktf's token encodings), without a round trip to the jsii kernel."""

import pytest

from constructs_lib.engine import ENGINES
from constructs_lib.tokens import is_unresolved

from .synth import new_stack


@pytest.fixture(scope="module", params=list(ENGINES))
def engine(request):
    return ENGINES[request.param].core


@pytest.fixture(scope="module")
def values(engine):
    Fn, TerraformVariable, Token = engine.Fn, engine.TerraformVariable, engine.Token  # noqa: N806
    stack = new_stack(engine=ENGINES[engine.__name__])
    variable = TerraformVariable(stack, "v", type="string")
    numbers = TerraformVariable(stack, "n", type="number")
    lists = TerraformVariable(stack, "l", type="list(string)")
    return {
        "string token": variable.string_value,
        "string with a token inside": f"projects/{variable.string_value}/queues/q",
        "number token": numbers.number_value,
        "list token": lists.list_value,
        "number list token": Token.as_number_list(lists.value),
        "map token": Token.as_string_map(variable.value),
        "function call": Fn.upper(variable.string_value),
        "resolvable": variable.value,
        "plain string": "europe-west1",
        "terraform expression written by hand": "${var.region}",
        "almost a token": "${TfToken[]}",
        "empty string": "",
        "whole number": 3,
        "negative number": -1,
        "huge number": 10**400,
        "fraction": 0.5,
        "big float": -1.8881545897087626e+288,
        "boolean": True,
        "none": None,
        "plain list": ["a", "b"],
        "one-element list": ["a"],
        "plain map": {"team": "data"},
    }


def test_same_answer_as_the_engine_for_every_kind_of_value(values, engine):
    differences = {
        name: (is_unresolved(value), engine.Token.is_unresolved(value))
        for name, value in values.items()
        if name != "huge number" and is_unresolved(value) != engine.Token.is_unresolved(value)
    }
    assert differences == {}


def test_tokens_and_plain_values_are_told_apart(values):
    unresolved = {name for name, value in values.items() if is_unresolved(value)}
    assert unresolved == {
        "string token", "string with a token inside", "number token", "list token", "number list token",
        "map token", "function call", "resolvable",
    }
