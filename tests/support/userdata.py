"""The ec2 template's user data, rendered for given values (as CloudFormation would pass it to
the launch template), for tests of what a host takes from it."""

from __future__ import annotations

from pathlib import Path

from pipekit.cfn.render import render
from pipekit.cfn.template import load_template

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
