"""The emulated EC2's images: the Amazon Linux 2023 image the templates resolve (the SSM public
parameter) exists, and the ECS-optimized images moto loads are left out (pipekit/emulator/
patches/amis.py): asked for by id, one is refused as AWS refuses an unknown image."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import pytest
from botocore.exceptions import ClientError

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def ecs_optimized_image(region: str) -> str:
    path = resources.files("moto") / f"ec2/resources/ecs/optimized_amis/{region}.json.gz"
    return json.loads(gzip.decompress(path.read_bytes()))[0]["ami_id"]


def test_the_image_the_templates_resolve_exists(aws) -> None:
    image = aws.client("ssm").get_parameter(Name=AL2023)["Parameter"]["Value"]
    [found] = aws.client("ec2").describe_images(ImageIds=[image])["Images"]
    assert found["OwnerId"] and "al2023-ami" in found["Name"]


def test_the_ecs_optimized_images_are_left_out(aws) -> None:
    ec2 = aws.client("ec2")
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    assert images and not [i for i in images if "-ecs-" in i["Name"]]
    with pytest.raises(ClientError) as refused:
        ec2.describe_images(ImageIds=[ecs_optimized_image("us-east-1")])
    assert refused.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"
