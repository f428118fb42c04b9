"""The images the emulated EC2 offers: moto's default images and each region's latest Amazon
Linux images (the ones the SSM public parameters `/aws/service/ami-amazon-linux-latest/*` name,
which the templates resolve), without the ECS-optimized images moto also loads.

moto builds about 1,300 image objects for every EC2 backend it creates (every region, again
after every reset), 1,227 of them ECS-optimized in us-east-1: about 0.4 s of CPU each time, and
an unfiltered DescribeImages answers all of them. Nothing here runs ECS. Leaving them out makes
the emulator refuse an image AWS has, never accept one AWS lacks (InvalidAMIID.NotFound, as
for any image moto does not know).
"""

from __future__ import annotations

from typing import Any

SKIPPED = "ec2/resources/ecs/optimized_amis/"


def patch() -> None:
    from moto.ec2.models import amis

    original = amis.load_resource
    if getattr(original, "pipekit_skips", None) == SKIPPED:
        return

    def load_resource(path: str, *args: Any, **kwargs: Any) -> Any:
        if path.startswith(SKIPPED):
            # what moto's own image loader does for a region it has no list for
            raise FileNotFoundError(path)
        return original(path, *args, **kwargs)

    load_resource.pipekit_skips = SKIPPED  # type: ignore[attr-defined]
    amis.load_resource = load_resource
