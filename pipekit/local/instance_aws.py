"""How a local host calls AWS as an EC2 instance does: the AWS CLI, the endpoint, the instance
role's credentials, and what the user data tells it.

- The CLI: the hooks call `aws` by name, as the user data's steps already do without installing
  it (templates/ec2.yaml: wait-in-service, claim-elastic-ip): AL2023 images carry the AWS CLI v2
  (package awscli-2; the AL2023 release notes list it among the packages replacing AL2's
  awscli1, "AL2023 upgrades from AL2"; that it is preinstalled on the AMI was not found stated
  in a page read here). A host's Debian root has none, so local mode mounts the pinned AWS CLI of
  `.venv-awscli` read-only at `/opt/pipekit-awscli` and puts a two-line `aws` in
  /usr/local/bin that runs it with the host's python3 (the same 3.11 the venv was made with).
  The hooks use only what both CLIs share (`ssm get-parameters-by-path --path --with-decryption
  --no-recursive --output json`; the same "An error occurred (<Code>) when calling the <Op>
  operation: <message>" line on a service error).
- The endpoint: a host's network namespace has no route anywhere but this machine's side of its
  link (`runtime.netns`). A bounded forwarder (`local.forwarder`) listens on that address, on
  the emulator's port, and reaches the emulator's loopback endpoint and nothing else;
  `AWS_ENDPOINT_URL` (botocore >= 1.31) points the CLI at it.
- The credentials: on AWS the CLI's credential chain finds the instance role's session in the
  instance metadata; locally the agent's hook processes get a session of the instance's role
  (`emulator.sessions`, via `local.rolecreds.role_session`) as environment variables, the same
  chain's first link, which the emulator authorizes with the role's policies (`emulator.authn`).
- The user data: `write-app-config` in templates/ec2.yaml writes PORT, APP_CONFIG_PATH and
  AWS_REGION to /etc/sample-app/env; the host is booted with the same lines, read from the
  user data of the launch template version the instance came from.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from pipekit.harness.config import PROJECT_ROOT

AWSCLI_VENV = PROJECT_ROOT / ".venv-awscli"
MOUNT_POINT = "/opt/pipekit-awscli"
WRAPPER_PATH = "/usr/local/bin/aws"
WRAPPER = (
    "#!/bin/sh\n"
    "# local mode's stand-in for AL2023's AWS CLI: the pinned CLI of .venv-awscli, mounted\n"
    f'PYTHONPATH={MOUNT_POINT} exec python3 -m awscli "$@"\n'
)


def site_packages(venv: Path = AWSCLI_VENV) -> Path | None:
    """The pinned CLI's packages, when its venv was made with this Python's minor version (the
    hosts' python3 is Debian bookworm's 3.11; a compiled module must match it)."""
    wanted = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    packages = wanted / "site-packages"
    return packages if (packages / "awscli").is_dir() else None


def endpoint_for(peer: str, emulator_url: str) -> tuple[str, int, str]:
    """(listen address, port, AWS_ENDPOINT_URL) of the emulator as a host on the link with this
    machine's address `peer` reaches it."""
    port = urlsplit(emulator_url).port or 80
    return peer, port, f"http://{peer}:{port}"


def emulator_target(emulator_url: str) -> tuple[str, int]:
    parts = urlsplit(emulator_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


@contextmanager
def hook_environment(
    account_id: str, region: str, instance_id: str, endpoint_url: str
) -> Iterator[dict[str, str]]:
    """The variables the agent's hook processes get: a session of the instance's role (none for
    an instance without a profile, as on AWS its CLI then finds no credentials) and the
    endpoint; the session is revoked when the block ends."""
    from pipekit.local import authz, rolecreds

    role_arn = authz.instance_role_arn(account_id, region, instance_id)
    if role_arn is None or not endpoint_url:
        yield {}
        return
    with rolecreds.role_session(
        account_id, role_arn, instance_id, endpoint_url=endpoint_url
    ) as env:
        yield {**env, "AWS_DEFAULT_REGION": region}
