"""CloudFormation models of the resource types moto lacks, one module per service.

Each model creates its resource in that service's own moto backend (or, where moto has no such
API, keeps it itself), so the service API reads back what the template declared. moto finds
models through CloudFormationModel.__subclasses__(): importing a module registers its models,
and this package imports every one of them (patches.apply() then clears moto's cached registry).
"""

from __future__ import annotations

from pipekit.emulator.models import (  # noqa: F401 (importing registers the models)
    cloudwatch,
    codebuild,
    codedeploy,
    codepipeline,
    codestarnotifications,
    connections,
    ec2,
    s3,
    sns,
)
