"""What changes moto's own behaviour, one module per service (CloudFormation's engine has its own
package). `apply()` installs every patch and registers the models; `start()` calls it.
"""

from __future__ import annotations

import threading

from pipekit.emulator.patches import (
    amis,
    autoscaling,
    cloudwatch,
    codedeploy,
    ec2,
    elbv2,
    iam,
    s3,
    s3lifecycle,
    timestamps,
)
from pipekit.emulator.patches.cloudformation import (
    capabilities,
    changes,
    changesets,
    intrinsics,
    nested,
    resourcemap,
    rollback,
    stacks,
    templateurl,
    yamlfix,
)

_lock = threading.Lock()
_applied = False

# No two patches replace the same attribute of moto, so their order does not matter.
PATCHES = (
    yamlfix,
    templateurl,
    intrinsics,
    resourcemap,
    changes,
    nested,
    rollback,
    changesets,
    s3,
    s3lifecycle,
    timestamps,
    codedeploy,
    stacks,
    ec2,
    elbv2,
    capabilities,
    iam,
    autoscaling,
    cloudwatch,
    amis,
)


def apply() -> None:
    """Register every model and patch into moto. Safe to call more than once."""
    global _applied
    with _lock:
        if _applied:
            return
        from moto.cloudformation import parsing

        from pipekit.emulator import models  # noqa: F401 (importing registers them)

        for module in PATCHES:
            module.patch()
        # moto caches its CloudFormationModel registry; our models must be seen.
        parsing.get_model_list.cache_clear()
        parsing.get_model_map.cache_clear()
        parsing.get_name_type_map.cache_clear()
        _applied = True
