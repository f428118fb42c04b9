"""What a local host takes from its instance's user data, and where it reaches the emulator
(pipekit.local.instance_aws): read from the template's own rendered user data."""

from __future__ import annotations

from pathlib import Path

from pipekit.cfn.render import render
from pipekit.cfn.template import load_template
from pipekit.local import instance_aws
from pipekit.local.autoscaling import app_env

ROOT = Path(__file__).resolve().parents[2]


def user_data(path: str, region: str = "eu-west-3") -> str:
    doc = render(
        load_template(ROOT / "templates" / "ec2.yaml"),
        {
            "NamePrefix": "pipekit-x",
            "AmiId": "ami-0123456789abcdef0",
            "AppPort": "8081",
            "VpcId": "vpc-1",
            "PublicSubnet1Id": "subnet-1",
            "PublicSubnet2Id": "subnet-2",
            "InstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/p",
            "InstanceRoleName": "r",
            "CodeDeployRoleName": "c",
            "AppConfigPath": path,
        },
        {
            "AWS::Region": region,
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "pipekit-x-Ec2Stack-1",
            "AWS::StackId": "arn:aws:cloudformation:eu-west-3:123456789012:stack/x/1",
        },
    )
    sub = doc["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]
    text, _ = sub["Fn::Base64"]["Fn::Sub"]
    return text.replace("${AllocationId}", "eipalloc-0123456789abcdef0")


def test_the_host_env_file_has_the_config_path_and_region_the_user_data_writes():
    env = app_env(user_data("/team/x/app/"))
    assert env["APP_CONFIG_PATH"] == "/team/x/app/"
    assert env["AWS_REGION"] == "eu-west-3"
    assert env["PORT"] == "8081"


def test_the_host_reaches_the_emulator_on_its_link_at_the_emulator_port():
    assert instance_aws.endpoint_for("10.247.0.1", "http://127.0.0.1:45123") == (
        "10.247.0.1",
        45123,
        "http://10.247.0.1:45123",
    )
    assert instance_aws.emulator_target("http://127.0.0.1:45123") == ("127.0.0.1", 45123)
