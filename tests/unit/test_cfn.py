"""pipekit.cfn: template loading, parameter constraint checks, parameter files, rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipekit.cfn.parameters import check_parameter, read_parameter_file
from pipekit.cfn.render import render
from pipekit.cfn.template import load_template
from pipekit.errors import UserError

SHORT_FORM = """\
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Mode:
    Type: String
    Default: a
Conditions:
  IsA: !Equals [!Ref Mode, a]
  IsB: !Not [!Condition IsA]
Resources:
  Thing:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !Sub '${AWS::StackName}-${Mode}'
      Tags:
        - Key: k
          Value: !GetAtt Other.Outputs.Value
        - Key: data
          Value: !Base64 {Fn::Sub: 'x-${Mode}'}
        - !If [IsB, {Key: b, Value: bee}, !Ref AWS::NoValue]
  OnlyB:
    Type: AWS::SNS::Topic
    Condition: IsB
Outputs:
  Name:
    Value: !Select [0, !Split ['-', !Join ['-', [!Ref Mode, z]]]]
"""


@pytest.fixture
def short_form(tmp_path: Path) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(SHORT_FORM)
    return path


def test_load_template_turns_short_forms_into_long_forms(short_form: Path) -> None:
    doc = load_template(short_form)
    assert doc["Conditions"]["IsA"] == {"Fn::Equals": [{"Ref": "Mode"}, "a"]}
    assert doc["Conditions"]["IsB"] == {"Fn::Not": [{"Condition": "IsA"}]}
    tags = doc["Resources"]["Thing"]["Properties"]["Tags"]
    assert tags[0]["Value"] == {"Fn::GetAtt": ["Other", "Outputs.Value"]}
    assert tags[1]["Value"] == {"Fn::Base64": {"Fn::Sub": "x-${Mode}"}}
    assert doc["Outputs"]["Name"]["Value"] == {
        "Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Join": ["-", [{"Ref": "Mode"}, "z"]]}]}]
    }
    # plain builtin types only: the result survives JSON unchanged
    assert json.loads(json.dumps(doc)) == doc


def test_load_template_reads_json_too(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"Resources": {"A": {"Type": "AWS::SNS::Topic"}}}))
    assert load_template(path)["Resources"]["A"]["Type"] == "AWS::SNS::Topic"


@pytest.mark.parametrize("text", ["- just\n- a list\n", "a: [unclosed\n"])
def test_load_template_rejects_non_templates(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=r"bad\.yaml"):
        load_template(path)


def test_render_decides_conditions_and_branches(short_form: Path) -> None:
    doc = load_template(short_form)
    a = render(doc, {}, {"AWS::StackName": "s1"})
    assert a["Conditions"] == {"IsA": True, "IsB": False}
    assert "OnlyB" not in a["Resources"]
    thing = a["Resources"]["Thing"]["Properties"]
    assert thing["DisplayName"] == "s1-a"
    assert len(thing["Tags"]) == 2  # the NoValue branch is gone
    b = render(doc, {"Mode": "b"})
    assert b["Conditions"] == {"IsA": False, "IsB": True}
    assert "OnlyB" in b["Resources"]
    tags = b["Resources"]["Thing"]["Properties"]["Tags"]
    assert tags[2] == {"Key": "b", "Value": "bee"}
    # without the pseudo parameter the Sub keeps it, with Mode filled in
    assert b["Resources"]["Thing"]["Properties"]["DisplayName"] == {
        "Fn::Sub": "${AWS::StackName}-b"
    }


# --- check_parameter --------------------------------------------------------------------

NUMBER = {"Type": "Number", "MinValue": 1, "MaxValue": 10}
PATTERN = {"Type": "String", "AllowedPattern": "[a-z]+/[a-z]+"}


@pytest.mark.parametrize(
    ("definition", "value"),
    [
        (NUMBER, "1"),
        (NUMBER, "10"),
        (NUMBER, "2.5"),
        ({"Type": "Number", "AllowedValues": [1, 3, 5]}, "3"),
        ({"Type": "String", "AllowedValues": ["single", "fleet"]}, "fleet"),
        (PATTERN, "owner/repo"),
        ({"Type": "String", "MinLength": 2, "MaxLength": 3}, "abc"),
        ({"Type": "String", "AllowedPattern": "^$|^x+$"}, ""),
        ({"Type": "CommaDelimitedList", "AllowedValues": ["a", "b"]}, "a,b"),
        ({"Type": "AWS::EC2::VPC::Id"}, "vpc-123"),
    ],
)
def test_check_parameter_accepts_valid_values(definition: dict, value: str) -> None:
    assert check_parameter("P", definition, value) is None


@pytest.mark.parametrize(
    ("definition", "value", "phrase"),
    [
        (NUMBER, "ten", "'ten' is not a number"),
        (NUMBER, "0", "at least 1"),
        (NUMBER, "11", "at most 10"),
        ({"Type": "Number", "AllowedValues": [1, 3, 5]}, "4", "one of 1, 3, 5"),
        ({"Type": "String", "AllowedValues": ["single", "fleet"]}, "Fleet", "one of single"),
        # CloudFormation matches the whole value, so a partial match is a violation
        (PATTERN, "owner/repo/extra", "must match the pattern"),
        ({"Type": "String", "MinLength": 2}, "a", "at least 2 characters"),
        ({"Type": "String", "MaxLength": 3}, "abcd", "at most 3 characters"),
        ({"Type": "CommaDelimitedList", "AllowedValues": ["a", "b"]}, "a,c", "one of a, b"),
    ],
)
def test_check_parameter_names_the_violation(definition: dict, value: str, phrase: str) -> None:
    message = check_parameter("Param", definition, value)
    assert message is not None
    assert message.startswith(f"Parameter Param has the invalid value {value!r}: ")
    assert phrase in message
    assert message.endswith(".") and message.count(". ") == 0  # one sentence


def test_check_parameter_prefers_the_constraint_description() -> None:
    definition = {**PATTERN, "ConstraintDescription": "must be owner/repo, e.g. my-org/app."}
    message = check_parameter("GitHubRepository", definition, "nope")
    assert message == (
        "Parameter GitHubRepository has the invalid value 'nope': "
        "must be owner/repo, e.g. my-org/app."
    )
    assert check_parameter("GitHubRepository", definition, "my/app") is None


def test_check_parameter_against_real_root_definitions() -> None:
    root = load_template(Path(__file__).resolve().parents[2] / "templates" / "root.yaml")
    params = root["Parameters"]
    assert check_parameter("TemplateKeyPrefix", params["TemplateKeyPrefix"], "pipekit/") is None
    assert check_parameter("TemplateKeyPrefix", params["TemplateKeyPrefix"], "pipekit")
    arn = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/" + "a" * 8 + "-" * 4
    assert check_parameter("ConnectionArn", params["ConnectionArn"], arn)  # uuid too short
    good = "arn:aws:codeconnections:eu-west-1:123456789012:connection/" + (
        "12345678-1234-1234-1234-123456789012"
    )
    assert check_parameter("ConnectionArn", params["ConnectionArn"], good) is None
    assert check_parameter("AppPort", params["AppPort"], "65536")
    assert check_parameter("VpcCidr", params["VpcCidr"], "10.0.0.0/8")


# --- read_parameter_file ----------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "env.json"
    path.write_text(text)
    return path


def test_read_parameter_file_returns_key_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        json.dumps(
            [
                {"ParameterKey": "A", "ParameterValue": "1"},
                {"ParameterKey": "B", "ParameterValue": ""},
            ]
        ),
    )
    assert read_parameter_file(path) == {"A": "1", "B": ""}


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ('[{"ParameterKey": "A",}]', "is not valid JSON"),
        ('{"A": "1"}', "must be a JSON list"),
        ('["A=1"]', "entry 1 must be an object"),
        ('[{"ParameterKey": "A"}]', "entry 1 is missing ParameterValue"),
        ('[{"ParameterValue": "1"}]', "entry 1 is missing ParameterKey"),
        (
            '[{"ParameterKey": "A", "ParameterValue": "1"},'
            ' {"ParameterKey": "A", "ParameterValue": "2"}]',
            "entry 2 repeats the parameter A",
        ),
        ('[{"ParameterKey": "A", "ParameterValue": 80}]', "(A) has a number ParameterValue"),
        ('[{"ParameterKey": "A", "ParameterValue": true}]', "has a boolean ParameterValue"),
        ('[{"ParameterKey": "A", "ParameterValue": null}]', "has a null ParameterValue"),
        ('[{"ParameterKey": 5, "ParameterValue": "1"}]', "ParameterKey that is not"),
        ('[{"ParameterKey": "A", "ParameterValues": "1"}]', "unknown field 'ParameterValues'"),
    ],
)
def test_read_parameter_file_names_each_malformation(
    tmp_path: Path, text: str, phrase: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UserError) as caught:
        read_parameter_file(path)
    message = str(caught.value)
    assert phrase in message
    assert str(path) in message


def test_read_parameter_file_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Cannot read the parameter file"):
        read_parameter_file(tmp_path / "nope.json")


def test_not_json_error_gives_the_position(tmp_path: Path) -> None:
    path = write(tmp_path, '[\n  {"ParameterKey": "A", "ParameterValue": "1"},\n]\n')
    with pytest.raises(UserError, match="line 3, column 1"):
        read_parameter_file(path)
