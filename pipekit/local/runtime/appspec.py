"""The appspec of an EC2/on-premises revision, read and checked as the agent does, with its
wording (aws-codedeploy-agent `lib/instance_agent/plugins/codedeploy/application_specification/
application_specification.rb` and `script_info.rb`, `hook_executor.rb` parse_app_spec). The
agent raises these when a lifecycle event first reads the revision's appspec (BeforeInstall);
they reach CodeDeploy as that event's UnknownError diagnostics (command_poller.rb)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

EVENTS = (
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
)
# With a load balancer in the deployment group, the in-place events are wrapped in these
# (user guide, reference-appspec-file-structure-hooks: "Run order of hooks", in-place).
BLOCK_EVENTS = ("BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic")
ALLOW_EVENTS = ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
TRAFFIC_EVENTS = BLOCK_EVENTS + ALLOW_EVENTS
# Reserved for CodeDeploy operations: no scripts (the same page's availability table).
AGENT_EVENTS = ("DownloadBundle", "Install", "BlockTraffic", "AllowTraffic")
# Run from the LAST SUCCESSFUL revision's appspec, not the current one (botocore
# CreateDeploymentInput.ignoreApplicationStopFailures).
PREVIOUS_REVISION_EVENTS = ("ApplicationStop", "BeforeBlockTraffic", "AfterBlockTraffic")


def lifecycle_events(traffic_control: bool) -> tuple[str, ...]:
    """The events of an in-place deployment to one instance, in order."""
    return BLOCK_EVENTS + EVENTS + ALLOW_EVENTS if traffic_control else EVENTS


DEFAULT_TIMEOUT_S = 3600
FILE_EXISTS_BEHAVIORS = ("DISALLOW", "OVERWRITE", "RETAIN")
APPSPEC_DOC = "http://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file.html"


def find_appspec(archive: Path) -> Path:
    """appspec.yaml or appspec.yml at the archive root (command_executor.rb,
    app_spec_real_path); raise ValueError with the agent's message when there is none."""
    for name in ("appspec.yaml", "appspec.yml"):
        if (archive / name).is_file():
            return archive / name
    path = "appspec.yml"
    raise ValueError(
        "The CodeDeploy agent did not find an AppSpec file within the unpacked revision "
        f'directory at revision-relative path "{path}". The revision was unpacked to directory '
        f'"{archive}", and the AppSpec file was expected but not found at path '
        f'"{archive / path}". Consult the AWS CodeDeploy Appspec documentation for more '
        f"information at {APPSPEC_DOC}"
    )


def parse_appspec(text: str) -> dict[str, Any]:
    """The parts of an appspec the agent acts on, validated; ValueError with its message."""
    spec = yaml.safe_load(text)
    if not spec:
        raise ValueError(
            "The deployment failed because the application specification file was empty. Make "
            "sure your AppSpec file defines at minimum the 'version' and 'os' properties."
        )
    if not isinstance(spec, dict):
        raise ValueError("appspec.yml is not a mapping")
    if spec.get("version") != 0.0:
        raise ValueError(
            "The deployment failed because an invalid version value "
            f"({spec.get('version')}) was entered in the application specification file. Make "
            'sure your AppSpec file specifies "0.0" as the version, and then try again.'
        )
    if spec.get("os") != "linux":
        raise ValueError(
            "The deployment failed because the application specification file specifies an "
            f'unsupported operating system ({spec.get("os")}). Specify either "linux" or '
            '"windows" in the os section of the AppSpec file, and then try again.'
        )
    behavior = spec.get("file_exists_behavior")
    if behavior is not None and behavior not in FILE_EXISTS_BEHAVIORS:
        raise ValueError(
            "The deployment failed because an invalid file_exists_behavior value "
            f"({behavior}) was entered in the application specification file. Make sure your "
            f"AppSpec file specifies one of {','.join(FILE_EXISTS_BEHAVIORS)} as the "
            "file_exists_behavior, and then try again."
        )
    for event, entries in (spec.get("hooks") or {}).items():
        if event in AGENT_EVENTS or event not in EVENTS + TRAFFIC_EVENTS:
            # local: the agent checks against the events CodeDeploy sends it
            raise ValueError(f"appspec.yml file contains unknown lifecycle events: [{event!r}]")
        for entry in entries or []:
            if entry.get("location") is None:
                raise ValueError(
                    "The deployment failed because the application specification file "
                    "specifies a script with no location value. Specify the location in the "
                    "hooks section of the AppSpec file, and then try again."
                )
            timeout = int(entry.get("timeout") or DEFAULT_TIMEOUT_S)
            if timeout <= 0:
                raise ValueError(
                    "The deployment failed because an invalid timeout value was provided for a "
                    "script in the application specification file. Make corrections in the "
                    "hooks section of the AppSpec file, and then try again."
                )
            if timeout > DEFAULT_TIMEOUT_S:
                # local: the documented per-event maximum (appspec hooks reference)
                raise ValueError(f"hooks: {event} timeout above {DEFAULT_TIMEOUT_S} s")
    return spec
