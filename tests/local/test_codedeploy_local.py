"""Deployments created through CodeDeploy's API on local mode (the shared `local_stack`: the real
templates, the real hooks on a systemd host), as a user redeploys by hand with
`aws deploy create-deployment`: they run like the pipeline's, one at a time per group, and the
agent's last-successful-install rule decides what ApplicationStop runs, rollbacks included."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pytest

from pipekit import appclient
from pipekit.e2e.waiting import wait_deployment
from pipekit.samplechanges import break_application_stop, break_at_runtime

pytestmark = pytest.mark.host


def outputs(stack) -> dict[str, str]:
    described = stack.client("cloudformation").describe_stacks(StackName=stack.stack_name)
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}


def wait_terminal(cd, deployment_id: str) -> dict:
    return wait_deployment(cd, deployment_id, timeout=300, interval=0.5)["deploymentInfo"]


def idle_group(cd, names: dict[str, str], timeout: float = 300) -> dict:
    """The deployment group once it has a successful deployment and none is active."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group = cd.get_deployment_group(**names)["deploymentGroupInfo"]
        last = group.get("lastAttemptedDeployment", {})
        if "lastSuccessfulDeployment" in group and last.get("status") in ("Succeeded", "Failed"):
            return group
        time.sleep(0.5)
    raise AssertionError("the deployment group never became idle")


def events(cd, deployment_id: str) -> dict[str, dict]:
    (instance,) = cd.list_deployment_instances(deploymentId=deployment_id)["instancesList"]
    summary = cd.get_deployment_instance(deploymentId=deployment_id, instanceId=instance)
    return {e["lifecycleEventName"]: e for e in summary["instanceSummary"]["lifecycleEvents"]}


def edited(bundle: bytes, work: Path, *changes) -> bytes:
    """The bundle with the sample changes applied to its files (modes kept)."""
    root = work / "bundle"
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        zf.extractall(root)
        infos = zf.infolist()
    for change in changes:
        change(root)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in infos:
            if not info.is_dir():
                zf.writestr(info, (root / info.filename).read_bytes())
    return out.getvalue()


def test_deployments_created_through_the_api(local_stack, tmp_path):
    stack = local_stack
    out = outputs(stack)
    cd, s3 = stack.client("codedeploy"), stack.client("s3")
    names = {
        "applicationName": out["CodeDeployApplicationName"],
        "deploymentGroupName": out["DeploymentGroupName"],
    }
    # What the app serves now: the group's last successful deployment (the first run's, or the
    # last of earlier tests' pushes), once nothing deploys any more.
    group = idle_group(cd, names)
    live = cd.get_deployment(deploymentId=group["lastSuccessfulDeployment"]["deploymentId"])
    good = live["deploymentInfo"]["revision"]
    location = good["s3Location"]
    good_zip = s3.get_object(Bucket=location["bucket"], Key=location["key"])["Body"].read()
    commit = appclient.version_data(stack.app_url, 5.0)["commit"]

    # 1. A redeploy by hand runs, with an AWS id, one at a time, and is listed.
    first = cd.create_deployment(**names, revision=good, description="redeploy by hand")
    deployment_id = first["deploymentId"]
    assert re.fullmatch(r"d-[A-Z0-9]{9}", deployment_id)
    with pytest.raises(cd.exceptions.DeploymentLimitExceededException) as err:
        cd.create_deployment(**names, revision=good)
    assert err.value.response["Error"]["Message"] == (
        f"The Deployment Group '{names['deploymentGroupName']}' already has an active "
        f"Deployment '{deployment_id}'"
    )
    info = wait_terminal(cd, deployment_id)
    assert (info["status"], info["creator"]) == ("Succeeded", "user")
    assert cd.list_deployments(**names)["deployments"][0] == deployment_id
    assert appclient.version_data(stack.app_url, 5.0)["commit"] == commit

    # 2. A revision with a broken ApplicationStop that also fails ValidateService: it fails,
    # and CodeDeploy's rollback fails in ApplicationStop, running the failed revision's script
    # (its Install succeeded, so it is the agent's last successful install).
    broken = edited(good_zip, tmp_path, break_application_stop, break_at_runtime)
    s3.put_object(Bucket=location["bucket"], Key="by-hand/broken.zip", Body=broken)
    broken_revision = {
        "revisionType": "S3",
        "s3Location": {
            "bucket": location["bucket"],
            "key": "by-hand/broken.zip",
            "bundleType": "zip",
        },
    }
    failed_id = cd.create_deployment(**names, revision=broken_revision)["deploymentId"]
    failed = wait_terminal(cd, failed_id)
    assert failed["status"] == "Failed"
    assert events(cd, failed_id)["ValidateService"]["status"] == "Failed"
    rollback_id = failed["rollbackInfo"]["rollbackDeploymentId"]
    rollback = wait_terminal(cd, rollback_id)
    assert (rollback["creator"], rollback["revision"]) == ("codeDeployRollback", good)
    assert rollback["status"] == "Failed"
    stop = events(cd, rollback_id)["ApplicationStop"]
    assert stop["status"] == "Failed"
    assert stop["diagnostics"]["errorCode"] == "ScriptFailed"
    assert stop["diagnostics"]["message"] == (
        "Script at specified location: scripts/application_stop.sh run as user root failed "
        "with exit code 1"
    )
    assert events(cd, rollback_id)["DownloadBundle"]["status"] == "Skipped"

    # 3. The way out: redeploy the good revision ignoring ApplicationStop failures.
    fix_id = cd.create_deployment(**names, revision=good, ignoreApplicationStopFailures=True)[
        "deploymentId"
    ]
    fixed = wait_terminal(cd, fix_id)
    assert fixed["status"] == "Succeeded"
    assert events(cd, fix_id)["ApplicationStop"]["status"] == "Failed"  # failed, and ignored
    assert appclient.version_data(stack.app_url, 5.0)["commit"] == commit

    # 4. Later deployments work again without the flag.
    again_id = cd.create_deployment(**names, revision=good)["deploymentId"]
    assert wait_terminal(cd, again_id)["status"] == "Succeeded"
    assert events(cd, again_id)["ApplicationStop"]["status"] == "Succeeded"
    assert appclient.version_data(stack.app_url, 5.0)["commit"] == commit
