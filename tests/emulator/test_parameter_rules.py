"""Preflight and the emulator judge parameters by one implementation (pipekit.cfn.parameters):
whatever one refuses, the other refuses, including the cases where two copies once disagreed
(list items, numeric AllowedValues, Rules)."""

from __future__ import annotations

import pytest
from moto.cloudformation.exceptions import ValidationError

from pipekit.emulator.parameters import validate
from pipekit.harness.preflight import parameter_problems

RULES = {
    "FleetNeedsTwo": {
        "RuleCondition": {"Fn::Equals": [{"Ref": "Mode"}, "fleet"]},
        "Assertions": [
            {
                "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Size"}, "1"]}]},
                "AssertDescription": "fleet mode needs at least two instances",
            }
        ],
    }
}
SPECS = {
    "Mode": {"Type": "String", "Default": "single", "AllowedValues": ["single", "fleet"]},
    "Size": {"Type": "Number", "Default": 2, "MinValue": 1, "MaxValue": 4},
    "Port": {"Type": "Number", "Default": 80, "AllowedValues": [80, 8080]},
    "Zones": {"Type": "CommaDelimitedList", "Default": "a", "AllowedPattern": "[a-c]"},
    "Name": {"Type": "String", "Default": "app", "MinLength": 1, "MaxLength": 5},
}


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"Mode": "fleet", "Size": "3"},
        {"Mode": "fleet", "Size": "1"},  # the Rules assertion
        {"Mode": "multi"},
        {"Size": "0"},
        {"Size": "two"},
        {"Port": "8080"},
        {"Port": "8080.0"},  # numeric AllowedValues compared as text, by both
        {"Zones": "a,b"},
        {"Zones": "a,d"},  # one bad item of a list
        {"Name": ""},
        {"Name": "toolong"},
        {"Unknown": "x"},
    ],
    ids=str,
)
def test_preflight_refuses_exactly_what_the_emulator_refuses(values: dict[str, str]):
    problems = parameter_problems(SPECS, values, rules=RULES)
    try:
        validate({"Parameters": SPECS, "Rules": RULES}, dict(values))
        refused = None
    except ValidationError as exc:
        refused = str(exc)
    assert bool(problems) == (refused is not None), (problems, refused)


def test_a_rules_assertion_reads_the_same_in_both():
    problems = parameter_problems(SPECS, {"Mode": "fleet", "Size": "1"}, rules=RULES)
    assert problems == [
        "the template's Rules refuse these values: fleet mode needs at least two instances"
    ]
    with pytest.raises(ValidationError, match="fleet mode needs at least two instances"):
        validate({"Parameters": SPECS, "Rules": RULES}, {"Mode": "fleet", "Size": "1"})
