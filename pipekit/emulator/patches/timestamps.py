"""CloudFormation's stack events and Auto Scaling's activities read the emulator's clock, as S3
(s3lifecycle) and the records do: on AWS every service stamps the same "now", so once the clock
is advanced a deployment's completeTime and the stack event it led to must still be in order."""

from __future__ import annotations

from pipekit.emulator import clock


def patch() -> None:
    from moto.autoscaling import models as autoscaling_models
    from moto.cloudformation import models as cloudformation_models

    cloudformation_models.utcnow = clock.utcnow_naive  # Event, stacks' creation times
    autoscaling_models.utcnow = clock.utcnow_naive  # activities, lifecycle hooks, groups
