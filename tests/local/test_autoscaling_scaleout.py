"""Scale-out on local mode, as AWS accepts it on single mode's group (`update-auto-scaling-group
--max-size 2 --desired-capacity 2`): every instance is a host in a network namespace of its own,
listening on AppPort at its own address; the new one gets CodeDeploy's launch deployment of the
last successful revision. The app URL stands for the stack's Elastic IP, which each instance's user
data claims once it is InService (templates/ec2.yaml, claim-elastic-ip): it follows the address
and keeps serving through the scale-out. Replacing the instance that holds it ends with the URL
serving that revision from the new host. Runs on the
shared local mode and leaves it as it found it: one instance, serving."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from pipekit import appclient
from pipekit.local import control, lifecycle
from pipekit.local.state import LocalStack
from tests.local.test_autoscaling import (
    group,
    in_service,
    launch_deployments,
    outputs,
    served,
    settled,
    until,
)

pytestmark = pytest.mark.host


def host_commit(stack: LocalStack, instance_id: str) -> str | None:
    """The commit the instance's host serves at its own address."""
    address = control.call(stack.control_url, "/health")["addresses"].get(instance_id)
    if address is None:
        return None
    data = appclient.version_data(f"http://{address}:{stack.app_port}/", timeout=2.0)
    return data.get("commit") if data else None


class Probe:
    """Reads the app URL every 0.2 s (bounded: at most `limit` requests) and counts failures."""

    def __init__(self, url: str, limit: int = 3000) -> None:
        self.url, self.limit = url, limit
        self.requests = self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and self.requests < self.limit:
            self.requests += 1
            if not appclient.get(appclient.join(self.url, "/version"), timeout=1.0).ok:
                self.failures += 1
            self._stop.wait(0.2)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def new_launch(stack: LocalStack, out: dict[str, str], before: set[str]) -> dict[str, Any]:
    [deployment] = [d for d in launch_deployments(stack, out) if d["deploymentId"] not in before]
    return deployment


def test_scale_out_to_two_then_replace_the_instance_holding_the_elastic_ip(
    local_stack: LocalStack,
) -> None:
    stack, out = local_stack, outputs(local_stack)
    name = out["AutoScalingGroupName"]
    asg, cd, ec2 = (stack.client(s) for s in ("autoscaling", "codedeploy", "ec2"))
    commit = until("the app to answer", lambda: served(stack), timeout=60)
    settled(stack, out)
    [first] = [i["InstanceId"] for i in group(stack, name)["Instances"]]
    assert host_commit(stack, first) == commit
    before = {d["deploymentId"] for d in launch_deployments(stack, out)}
    info = cd.get_deployment_group(
        applicationName=out["CodeDeployApplicationName"],
        deploymentGroupName=out["DeploymentGroupName"],
    )["deploymentGroupInfo"]
    last_good = cd.get_deployment(deploymentId=info["lastSuccessfulDeployment"]["deploymentId"])[
        "deploymentInfo"
    ]
    keep = first
    try:
        # -- scale-out to 2 ---------------------------------------------------------------------
        started = time.monotonic()
        with Probe(stack.app_url) as probe:
            asg.update_auto_scaling_group(AutoScalingGroupName=name, MaxSize=2, DesiredCapacity=2)
            second = until("the second instance InService", lambda: in_service(stack, name, first))
            keep = second
            lifecycle.wait_live(stack.app_url, commit, timeout=60)
        print(
            f"scale-out {first} + {second}: InService in {time.monotonic() - started:.1f} s; "
            f"URL probe {probe.failures}/{probe.requests} failed"
        )
        # the user data claims the Elastic IP once InService: the URL kept serving throughout
        assert probe.requests > 0 and probe.failures == 0
        deployment = new_launch(stack, out, before)
        assert (deployment["creator"], deployment["status"]) == ("autoscaling", "Succeeded")
        assert deployment["revision"] == last_good["revision"]
        targets = cd.list_deployment_instances(deploymentId=deployment["deploymentId"])
        assert targets["instancesList"] == [second]
        assert {i["LifecycleState"] for i in group(stack, name)["Instances"]} == {"InService"}
        # both hosts listen on AppPort, each at its own address, and serve the last good commit
        health = control.call(stack.control_url, "/health")
        assert set(health["addresses"]) == {first, second}
        assert health["addresses"][first] != health["addresses"][second]
        assert host_commit(stack, first) == commit and host_commit(stack, second) == commit
        # the second's user data claimed the Elastic IP: the URL serves from its host
        [address] = ec2.describe_addresses()["Addresses"]
        assert address["InstanceId"] == second == health["elastic_ip"]

        # -- replace the instance holding the Elastic IP -----------------------------------------
        before = {d["deploymentId"] for d in launch_deployments(stack, out)}
        asg.terminate_instance_in_auto_scaling_group(
            InstanceId=second, ShouldDecrementDesiredCapacity=False
        )
        third = until(
            "the replacement InService",
            lambda: next(
                (
                    i["InstanceId"]
                    for i in group(stack, name)["Instances"]
                    if i["InstanceId"] not in (first, second) and i["LifecycleState"] == "InService"
                ),
                None,
            ),
        )
        keep = third
        lifecycle.wait_live(stack.app_url, commit, timeout=60)
        deployment = new_launch(stack, out, before)
        assert (deployment["creator"], deployment["status"]) == ("autoscaling", "Succeeded")
        health = control.call(stack.control_url, "/health")
        assert set(health["machines"]) == {first, third}
        [address] = ec2.describe_addresses()["Addresses"]
        assert address["InstanceId"] == third == health["elastic_ip"]
        assert host_commit(stack, third) == commit
        assert host_commit(stack, first) == commit  # untouched all along
    finally:
        # back to one instance, the one holding the Elastic IP, so the URL keeps serving
        for instance in group(stack, name)["Instances"]:
            if instance["InstanceId"] != keep:
                asg.terminate_instance_in_auto_scaling_group(
                    InstanceId=instance["InstanceId"], ShouldDecrementDesiredCapacity=True
                )
        asg.update_auto_scaling_group(AutoScalingGroupName=name, MaxSize=1, DesiredCapacity=1)
    until("one instance again", lambda: len(group(stack, name)["Instances"]) == 1, timeout=60)
    until(
        "the other hosts to stop",
        lambda: control.call(stack.control_url, "/health")["machines"] == [keep],
        timeout=60,
    )
    lifecycle.wait_live(stack.app_url, commit, timeout=60)
