"""The contract between the root template, its children and the parameter files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipekit.cfn.parameters import check_parameter, read_parameter_file
from pipekit.cfn.render import parameter_values
from pipekit.cfn.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
PARAMETER_FILES = sorted((ROOT / "parameters").glob("*.json"))

# DESIGN.md: the names every other part relies on.
ROOT_PARAMETERS = {
    "TemplateBucketName",
    "TemplateKeyPrefix",
    "TemplateBucketRegion",
    "DeploymentMode",
    "FleetSize",
    "InstanceType",
    "AmiId",
    "AppPort",
    "ConnectionArn",
    "GitHubRepository",
    "BranchName",
    "NotificationEmail",
    "VpcCidr",
    "PublicSubnet1Cidr",
    "PublicSubnet2Cidr",
    "LogRetentionDays",
    "ArtifactRetentionDays",
    "CodeBuildImage",
    "CodeBuildComputeType",
    "ApprovalBeforeDeploy",
    "FleetDeploymentConfig",
    "DeregistrationDelaySeconds",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
    "ValidateServiceSeconds",
    "AppConfigPath",
}
ROOT_OUTPUTS = {
    "AppUrl",
    "PipelineName",
    "PipelineConsoleUrl",
    "ConnectionArn",
    "ConnectionHelp",
    "ArtifactBucketName",
    "BuildProjectName",
    "CodeDeployApplicationName",
    "DeploymentGroupName",
    "AutoScalingGroupName",
    "NotificationTopicArn",
    "AppConfigPath",
}
# What the harness fills in at deploy time (make publish/deploy, taskcat).
TEMPLATE_LOCATION = {
    "TemplateBucketName": "pipekit-templates-123",
    "TemplateKeyPrefix": "pipekit/",
    "TemplateBucketRegion": "us-east-1",
}
HARNESS_FILLED = {**TEMPLATE_LOCATION, "AmiId": "ami-0123456789abcdef0"}


@pytest.fixture(scope="module")
def root() -> dict[str, Any]:
    return load_template(TEMPLATES / "root.yaml")


def nested_stacks(root: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Logical id -> (child file name, the Parameters the root passes)."""
    stacks = {}
    for name, res in root["Resources"].items():
        if res["Type"] != "AWS::CloudFormation::Stack":
            continue
        url = res["Properties"]["TemplateURL"]["Fn::Sub"]
        expected = (
            r"https://\$\{TemplateBucketName\}\.s3\.\$\{TemplateBucketRegion\}\."
            r"\$\{AWS::URLSuffix\}/\$\{TemplateKeyPrefix\}templates/([a-z0-9-]+\.yaml)"
        )
        match = re.fullmatch(expected, url)
        assert match, f"{name}: TemplateURL {url!r} is not built from the bucket parameters"
        stacks[name] = (match.group(1), res["Properties"].get("Parameters", {}))
    return stacks


def test_root_names_match_the_design(root: dict[str, Any]) -> None:
    assert set(root["Parameters"]) >= ROOT_PARAMETERS
    assert set(root["Outputs"]) >= ROOT_OUTPUTS
    required = {n for n, spec in root["Parameters"].items() if "Default" not in spec}
    # AmiId has no default: an AWS::EC2::Image::Id cannot default to an SSM path, and an id is
    # per Region; make deploy, make publish and taskcat fill it in.
    assert required == {"GitHubRepository", "AmiId"}


SSM_TYPED = re.compile(r"AWS::SSM::Parameter::Value<")


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.yaml")), ids=lambda p: p.name)
def test_no_value_is_looked_up_again_on_every_stack_update(path: Path) -> None:
    """CloudFormation resolves SSM-typed parameters (and ssm dynamic references) again on every
    update: a new public AMI would replace the instances on any unrelated deploy. The AMI is a
    plain id that changes only when the deploy asks for it (pipekit/harness/ami.py)."""
    doc = load_template(path)
    for name, spec in doc.get("Parameters", {}).items():
        assert not SSM_TYPED.match(spec["Type"]), f"{path.name}:{name} is SSM-typed"
    assert "{{resolve:ssm" not in path.read_text()


def test_the_ami_is_a_plain_image_id_passed_to_the_launch_template(root: dict[str, Any]) -> None:
    ami = root["Parameters"]["AmiId"]
    assert ami["Type"] == "AWS::EC2::Image::Id" and "Default" not in ami
    assert root["Resources"]["Ec2Stack"]["Properties"]["Parameters"]["AmiId"] == {"Ref": "AmiId"}
    ec2 = load_template(TEMPLATES / "ec2.yaml")
    data = ec2["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["ImageId"] == {"Ref": "AmiId"}


def test_root_parameters_are_documented_and_constrained(root: dict[str, Any]) -> None:
    interface = root["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [p for group in interface["ParameterGroups"] for p in group["Parameters"]]
    assert sorted(grouped) == sorted(root["Parameters"]), "every parameter in exactly one group"
    assert set(interface["ParameterLabels"]) == set(root["Parameters"])
    for name, spec in root["Parameters"].items():
        assert spec.get("Description"), name
        constrained = {"AllowedValues", "AllowedPattern", "MinValue"} & set(spec) or spec[
            "Type"
        ].startswith("AWS::")
        assert constrained, f"{name} has no constraint"
        if "AllowedPattern" in spec or "MinValue" in spec:
            assert spec.get("ConstraintDescription"), f"{name} needs a ConstraintDescription"
        if "Default" in spec:
            default = str(spec["Default"])
            assert check_parameter(name, spec, default) is None, f"{name} default is invalid"


def test_every_nested_stack_points_at_an_existing_child(root: dict[str, Any]) -> None:
    stacks = nested_stacks(root)
    files = sorted(child for child, _ in stacks.values())
    assert files == ["artifacts.yaml", "ec2.yaml", "iam.yaml", "network.yaml", "pipeline.yaml"]
    for child, _ in stacks.values():
        assert (TEMPLATES / child).is_file()


def test_children_get_every_parameter_they_need_and_nothing_else(root: dict[str, Any]) -> None:
    for logical_id, (child_file, passed) in nested_stacks(root).items():
        child = load_template(TEMPLATES / child_file)
        declared = child.get("Parameters", {})
        required = {n for n, spec in declared.items() if "Default" not in spec}
        missing = required - set(passed)
        assert not missing, f"{logical_id} does not pass {sorted(missing)}"
        unknown = set(passed) - set(declared)
        assert not unknown, f"{logical_id} passes parameters {child_file} lacks: {sorted(unknown)}"
        # The name prefix is the root stack's name, so environments never collide.
        assert passed["NamePrefix"] == {"Ref": "AWS::StackName"}


def test_children_constraints_accept_what_the_root_accepts(root: dict[str, Any]) -> None:
    """A value passed straight through must not be narrower in the child than in the root."""
    for _, (child_file, passed) in nested_stacks(root).items():
        child = load_template(TEMPLATES / child_file)
        for name, value in passed.items():
            if value != {"Ref": name} or name not in root["Parameters"]:
                continue
            outer, inner = root["Parameters"][name], child["Parameters"][name]
            assert inner["Type"] == outer["Type"], f"{child_file}:{name} type"
            for key in ("AllowedValues", "AllowedPattern", "MinValue", "MaxValue"):
                assert outer.get(key) == inner.get(key), f"{child_file}:{name}.{key} differs"
            if "Default" in inner:
                assert inner["Default"] == outer.get("Default"), f"{child_file}:{name} default"


def _getatts(node: Any):
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"}:
            yield node["Fn::GetAtt"]
        for value in node.values():
            yield from _getatts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _getatts(item)


def test_every_output_the_root_reads_exists_in_the_child(root: dict[str, Any]) -> None:
    stacks = nested_stacks(root)
    reads = [ref for ref in _getatts(root) if ref[0] in stacks]
    assert len(reads) >= len(ROOT_OUTPUTS)
    for logical_id, attribute in reads:
        assert attribute.startswith("Outputs."), attribute
        output = attribute.removeprefix("Outputs.")
        child = load_template(TEMPLATES / stacks[logical_id][0])
        assert output in child.get("Outputs", {}), f"{stacks[logical_id][0]} lacks {output}"
        # An output read by the root must exist in every mode: no Condition on it.
        assert "Condition" not in child["Outputs"][output], output


# --- Parameter files --------------------------------------------------------------------


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=[p.name for p in PARAMETER_FILES])
def test_parameter_file_keys_exist_and_satisfy_constraints(root: dict, path: Path) -> None:
    values = read_parameter_file(path)
    assert values, path
    for key, value in values.items():
        assert key in root["Parameters"], f"{path.name}: unknown parameter {key}"
        assert check_parameter(key, root["Parameters"][key], value) is None
    assert "GitHubRepository" in values, "the one parameter without a default"
    assert not set(values) & set(TEMPLATE_LOCATION), "the harness fills the template location"
    assert "AmiId" not in values, "the harness chooses the AMI (a file entry would pin it)"


def _rule_value(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, dict):
        ((key, arg),) = node.items()
        if key == "Ref":
            return values[arg]
        if key == "Fn::Equals":
            left, right = (_rule_value(a, values) for a in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not _rule_value(arg[0], values)
        if key == "Fn::And":
            return all(_rule_value(a, values) for a in arg)
        if key == "Fn::Or":
            return any(_rule_value(a, values) for a in arg)
        if key == "Fn::Contains":
            haystack, needle = arg
            return str(_rule_value(needle, values)) in [str(h) for h in haystack]
        raise ValueError(f"unsupported rule function {key}")
    return node


def broken_rules(root: dict[str, Any], given: dict[str, str]) -> list[str]:
    values = parameter_values(root, given)
    broken = []
    for name, rule in root.get("Rules", {}).items():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], values):
            continue
        for assertion in rule["Assertions"]:
            if not _rule_value(assertion["Assert"], values):
                broken.append(name)
    return broken


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=[p.name for p in PARAMETER_FILES])
def test_parameter_files_pass_the_rules(root: dict, path: Path) -> None:
    given = {**read_parameter_file(path), **HARNESS_FILLED}
    assert broken_rules(root, given) == []


@pytest.mark.parametrize(
    ("given", "rule"),
    [
        ({"TemplateBucketName": ""}, "TemplateLocationIsGiven"),
        ({"TemplateBucketRegion": ""}, "TemplateLocationIsGiven"),
        ({"DeploymentMode": "fleet", "FleetSize": "1"}, "FleetHasAtLeastTwoInstances"),
        ({"PublicSubnet2Cidr": "10.20.0.0/24"}, "SubnetsDiffer"),
    ],
)
def test_rules_reject_invalid_combinations(root: dict, given: dict, rule: str) -> None:
    values = {"GitHubRepository": "o/r", **HARNESS_FILLED, **given}
    assert broken_rules(root, values) == [rule]


def test_single_instance_is_fine_in_single_mode(root: dict) -> None:
    values = {"GitHubRepository": "o/r", **HARNESS_FILLED, "FleetSize": "1"}
    assert broken_rules(root, values) == []


def test_environment_files_follow_the_design() -> None:
    params = ROOT / "parameters"
    dev = read_parameter_file(params / "dev.json")
    prod = read_parameter_file(params / "prod.json")
    local = read_parameter_file(params / "local.json")
    assert dev["DeploymentMode"] == "single"
    assert prod["DeploymentMode"] == "fleet" and int(prod["FleetSize"]) >= 2
    assert local == {
        **local,
        "DeploymentMode": "single",
        "AppPort": "18080",
        "GitHubRepository": "local/sample-app",
        "BranchName": "main",
        "ConnectionArn": "",
    }


# --- Build images and the buildspec -------------------------------------------------------

# Python versions each CodeBuild image installs through `runtime-versions`, read from
# aws/aws-codebuild-docker-images at 1590e48 (2026-04-09), the runtimes.yml named in each row.
# An image missing here, or without the buildspec's version, would build with another Python
# or compile one with pyenv on every build.
PYTHON_3_9_TO_3_14 = {"3.9", "3.10", "3.11", "3.12", "3.13", "3.14"}
BUILD_IMAGE_PYTHONS = {
    # al/x86_64/standard/5.0/runtimes.yml: python 3.9 ... 3.14 (Amazon Linux 2023)
    "aws/codebuild/amazonlinux-x86_64-standard:5.0": PYTHON_3_9_TO_3_14,
    # ubuntu/standard/7.0/runtimes.yml: python 3.9 ... 3.14 (Ubuntu 22.04)
    "aws/codebuild/standard:7.0": PYTHON_3_9_TO_3_14,
    # al/x86_64/standard/4.0/runtimes.yml: python 3.9 only; any other version goes to its
    # `default:` entry, `pyenv install $VERSION`, a compile on every build (Amazon Linux 2)
    "aws/codebuild/amazonlinux-x86_64-standard:4.0": {"3.9"},
    # al-lambda/x86_64/python3.12/Dockerfile: `FROM public.ecr.aws/lambda/python:3.12-x86_64`
    # and no runtimes.yml: its one Python is 3.12
    "aws/codebuild/amazonlinux-x86_64-lambda-standard:python3.12": set(),
}


def buildspec_python() -> str:
    buildspec = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    return str(buildspec["phases"]["install"]["runtime-versions"]["python"])


def test_every_offered_build_image_has_the_buildspecs_python(root: dict[str, Any]) -> None:
    python = buildspec_python()
    assert python == "3.11", "the instances run python3.11: build and test on the same version"
    offered = root["Parameters"]["CodeBuildImage"]["AllowedValues"]
    assert root["Parameters"]["CodeBuildImage"]["Default"] in offered
    for image in offered:
        assert image in BUILD_IMAGE_PYTHONS, f"{image}: add its runtimes.yml versions above"
        assert python in BUILD_IMAGE_PYTHONS[image], f"{image} has no python {python}"


def test_compute_types_fit_the_ec2_build_images(root: dict[str, Any]) -> None:
    """BUILD_LAMBDA_* compute runs only LINUX_LAMBDA_CONTAINER (botocore codebuild model,
    ProjectEnvironment.computeType); the images offered are EC2 (LINUX_CONTAINER) images."""
    compute = root["Parameters"]["CodeBuildComputeType"]
    assert compute["AllowedValues"] == [
        "BUILD_GENERAL1_SMALL",
        "BUILD_GENERAL1_MEDIUM",
        "BUILD_GENERAL1_LARGE",
    ]
    assert compute["Default"] == "BUILD_GENERAL1_SMALL"
    pipeline = load_template(TEMPLATES / "pipeline.yaml")
    environment = pipeline["Resources"]["BuildProject"]["Properties"]["Environment"]
    assert environment["Type"] == "LINUX_CONTAINER"


@pytest.mark.parametrize("name", ["buildspec.yml", "appspec.yml", "README.md", "docs/DESIGN.md"])
def test_documents_named_in_the_project_exist(name: str) -> None:
    text = (ROOT / name).read_text()
    named = set(re.findall(r"\bdocs/[\w./-]+\.md\b", text))
    missing = sorted(path for path in named if not (ROOT / path).is_file())
    assert missing == [], f"{name} names documents that do not exist"


# --- Release speed settings -----------------------------------------------------------------


def test_health_check_timeout_must_be_below_the_interval(root: dict[str, Any]) -> None:
    """The ELB API refuses timeout >= interval ("Health check interval must be greater than the
    timeout.", aws/aws-cdk#3703): the root's rule refuses exactly those pairs, in fleet mode."""
    intervals = root["Parameters"]["HealthCheckIntervalSeconds"]["AllowedValues"]
    timeouts = root["Parameters"]["HealthCheckTimeoutSeconds"]["AllowedValues"]
    for interval in intervals:
        for timeout in timeouts:
            given = {
                "GitHubRepository": "o/r",
                **HARNESS_FILLED,
                "DeploymentMode": "fleet",
                "HealthCheckIntervalSeconds": str(interval),
                "HealthCheckTimeoutSeconds": str(timeout),
            }
            expected = [] if int(timeout) < int(interval) else ["HealthCheckTimeoutBelowInterval"]
            assert broken_rules(root, given) == expected, (interval, timeout)
    # single mode has no target group: nothing to check
    single = {"GitHubRepository": "o/r", **HARNESS_FILLED, "HealthCheckTimeoutSeconds": "120"}
    assert broken_rules(root, single) == []


def test_validate_budget_stays_below_the_hooks_timeout(root: dict[str, Any]) -> None:
    appspec = yaml.safe_load((ROOT / "appspec.yml").read_text())
    timeout = appspec["hooks"]["ValidateService"][0]["timeout"]
    spec = root["Parameters"]["ValidateServiceSeconds"]
    assert spec["MaxValue"] < timeout, "the script must give up before the agent kills it"
    assert spec["MinValue"] <= spec["Default"] <= spec["MaxValue"]


def test_the_pipeline_may_read_every_offered_deployment_config(root: dict[str, Any]) -> None:
    """CodePipeline's CodeDeploy action calls GetDeploymentConfig on the group's config
    (pipekit/iam/calls.py): the pipeline role names each config the group may use."""
    iam = (TEMPLATES / "iam.yaml").read_text()
    offered = root["Parameters"]["FleetDeploymentConfig"]["AllowedValues"]
    for config in [*offered, "CodeDeployDefault.AllAtOnce"]:
        assert f":deploymentconfig:{config}\n" in iam, config
