"""App configuration on local mode, the real templates and hooks: a value set with `make config`
reaches the app on `/` at the next `make redeploy` and a change at the one after; a read the
instance role is denied fails the deployment in AfterInstall with AWS's AccessDeniedException
sentence as the script's last log line. Runs on the shared local mode and leaves it serving its
branch's head (the same commit, redeployed), with no setting left behind."""

from __future__ import annotations

import contextlib
import json
import uuid

import pytest

from pipekit import appclient
from pipekit.harness import config_params, runs
from pipekit.harness import diagnosis as dx
from pipekit.harness.redeploy import redeploy
from pipekit.local import lifecycle
from tests.local.test_approval_gate import clients_of, live_commit
from tests.local.test_autoscaling import outputs, settled, until

pytestmark = pytest.mark.host


def page(stack) -> str:
    answer = appclient.get(appclient.join(stack.app_url, "/"), timeout=3.0)
    return answer.body if answer.status == 200 else ""


def instance_role(stack) -> str:
    """The instance role's name (the stack's InstanceProfile's role)."""
    iam = stack.client("iam")
    for profile in iam.list_instance_profiles()["InstanceProfiles"]:
        if profile["InstanceProfileName"].startswith(stack.stack_name) and profile["Roles"]:
            return profile["Roles"][0]["RoleName"]
    raise AssertionError("no instance profile of the stack")


def test_a_setting_reaches_the_app_at_the_next_redeploy(local_stack):
    stack, out = local_stack, outputs(local_stack)
    env = lifecycle.environment(stack)
    clients = clients_of(stack)
    path = out["AppConfigPath"]
    assert path == f"/pipekit/{stack.stack_name}/app/"
    head = until("the app to answer", lambda: live_commit(stack), timeout=120)
    settled(stack, out)
    ssm = stack.client("ssm")
    first, second = f"hello {uuid.uuid4().hex[:8]}", f"changed {uuid.uuid4().hex[:8]}"
    role = instance_role(stack)
    try:
        config_params.set_parameter(env, clients, "GREETING", first, secure=False)
        config_params.set_parameter(env, clients, "API_TOKEN", "t0ps3cret", secure=True)
        assert first not in page(stack)  # nothing changes before a deployment
        assert redeploy(env, clients, interval=0.5)["status"] == "Succeeded"
        assert first in page(stack) and live_commit(stack) == head
        assert "t0ps3cret" not in page(stack)  # only GREETING is shown

        config_params.set_parameter(env, clients, "GREETING", second, secure=False)
        assert redeploy(env, clients, interval=0.5)["status"] == "Succeeded"
        shown = page(stack)
        assert second in shown and first not in shown

        # the instance role denied its path: AfterInstall's app_config.sh fails with AWS's words
        deny = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "ssm:GetParametersByPath", "Resource": "*"}],
        }
        stack.client("iam").put_role_policy(
            RoleName=role, PolicyName="test-deny-config", PolicyDocument=json.dumps(deny)
        )
        info = redeploy(env, clients, interval=0.5)
        assert info["status"] == "Failed"
        cd = stack.client("codedeploy")
        events = dx.failed_lifecycle_events(runs.deployment_targets(cd, info["deploymentId"]))
        (event,) = events
        assert event.event == "AfterInstall" and "app_config.sh" in (event.script or ""), event
        last = dx.tail_lines(event.log_tail, 1)[-1]
        assert "AccessDeniedException" in last and "GetParametersByPath" in last
        assert "with an explicit deny in an identity-based policy" in last
    finally:
        iam = stack.client("iam")
        if "test-deny-config" in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            iam.delete_role_policy(RoleName=role, PolicyName="test-deny-config")
        for name in ("GREETING", "API_TOKEN"):
            with contextlib.suppress(ssm.exceptions.ParameterNotFound):
                ssm.delete_parameter(Name=path + name)
        settled(stack, outputs(stack))
        # the branch's head live again, without the settings, for the tests that follow
        redeploy(env, clients, commit=head, interval=0.5)
        lifecycle.wait_live(stack.app_url, head, timeout=300)
