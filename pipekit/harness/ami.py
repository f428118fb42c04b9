"""Which Amazon Linux 2023 image a deploy passes as the root's `AmiId`.

The root takes a plain image id (`AWS::EC2::Image::Id`), not an SSM-typed parameter:
CloudFormation resolves those again on every stack update, so an unrelated deploy after AWS
published a new image would replace the instances. Here the public parameter is read when the
stack is created, and on an update only when asked (`--update-ami`); otherwise the stack's own
id is passed again, and an AMI change is a step the change-set summary names.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from pipekit.errors import UserError
from pipekit.harness.config import Environment
from pipekit.harness.preflight import Plan

# The public parameter AWS keeps pointing at the latest AL2023 x86_64 image (the instance types
# are x86_64), as aws-cdk's MachineImage.latestAmazonLinux2023() reads it (aws-cdk-lib
# aws-ec2/lib/machine-image/amazon-linux-2023.ts); .taskcat.yml reads the same one.
PUBLIC_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
PARAMETER = "AmiId"
# The SSM-typed parameter root.yaml had before AmiId: DescribeStacks reports the image it
# resolved to as ResolvedValue (botocore cloudformation model, Parameter), so such a stack keeps
# its image when it moves to AmiId.
LEGACY_PARAMETER = "LatestAmiId"


@dataclass(frozen=True)
class AmiChoice:
    ami_id: str  # what the deploy passes
    current: str | None  # what the stack runs now; None when there is no stack yet
    latest: str | None  # what the public parameter names; None when it could not be read
    pinned: bool = False  # set in the parameter file

    @property
    def replaces_instances(self) -> bool:
        return self.current is not None and self.ami_id != self.current

    def change_note(self) -> str | None:
        """The line the change-set summary adds when the AMI changes."""
        if not self.replaces_instances:
            return None
        return f"replaces the instances: AMI {self.current} → {self.ami_id}"

    def describe(self, env: Environment) -> str:
        if self.pinned:
            where = f"parameters/{env.parameter_file.name}"
            return f"AMI: {self.ami_id}, as {where} sets it" + (
                f" (the stack runs {self.current})" if self.replaces_instances else ""
            )
        if self.current is None:
            return f"AMI: {self.ami_id}, the latest Amazon Linux 2023 image ({PUBLIC_PARAMETER})"
        if self.replaces_instances:
            return f"AMI: {self.current} → {self.ami_id} (--update-ami): replaces the instances"
        if self.ami_id == self.latest:
            return f"AMI: {self.ami_id} is already the latest Amazon Linux 2023 image"
        if self.latest is None:
            return (
                f"AMI: keeping {self.ami_id}, the stack's current image (could not check "
                f"{PUBLIC_PARAMETER} for a newer one)"
            )
        return (
            f"AMI: keeping {self.ami_id}, the stack's current image; the latest is "
            f"{self.latest}: `{env.make_hint('deploy', '--update-ami')}` moves to it "
            "(replaces the instances)"
        )


def latest_ami(ssm) -> str:
    try:
        return ssm.get_parameter(Name=PUBLIC_PARAMETER)["Parameter"]["Value"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise UserError(
            f"could not read the public parameter {PUBLIC_PARAMETER} ({code}): the deploy needs "
            "ssm:GetParameter on it to choose the Amazon Linux 2023 image"
        ) from None


def stack_ami(cfn, stack_name: str) -> str | None:
    """The image id the stack was last deployed with, or None if it records none."""
    (stack,) = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    parameters = {p["ParameterKey"]: p for p in stack.get("Parameters", [])}
    if PARAMETER in parameters:
        return parameters[PARAMETER].get("ParameterValue") or None
    return parameters.get(LEGACY_PARAMETER, {}).get("ResolvedValue") or None


def choose_ami(clients, env: Environment, plan: Plan, *, update: bool) -> AmiChoice:
    """The AMI for this deploy: the parameter file's if it sets one, else the stack's current
    one, else (a new stack, or `update`) the latest public image."""
    current = None
    if plan.change_set_type == "UPDATE":
        current = stack_ami(clients("cloudformation"), env.stack_name)
    pinned = plan.parameters.get(PARAMETER)
    if pinned:
        if update:
            raise UserError(
                f"parameters/{env.parameter_file.name} sets AmiId to {pinned}, so --update-ami "
                "would not change it: edit that entry, or remove it to let the deploy choose"
            )
        return AmiChoice(pinned, current, None, pinned=True)
    ssm = clients("ssm")
    if current is None or update:
        latest = latest_ami(ssm)
        return AmiChoice(latest, current, latest)
    try:
        latest = latest_ami(ssm)
    except UserError:  # only informative here: the deploy keeps the stack's image anyway
        latest = None
    return AmiChoice(current, current, latest)
