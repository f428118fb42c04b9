"""What AWS does on its own when an Auto Scaling group launches or terminates an instance, done
in local mode (the emulator keeps the group's state: pipekit/emulator/patches/autoscaling/):

- the instance boots and runs its user data: a host is booted for it (HostPool); when the user
  data claims the stack's Elastic IP (templates/ec2.yaml, step claim-elastic-ip), the address
  is associated with it, where the user data does it: after the wait-in-service step, once the
  group has put the instance InService (older templates: at boot); its cfn-signal (what a
  rolling update waits for) follows the user data: with the wait-in-service step it is sent
  once the group has put the instance InService (after CodeDeploy's CONTINUE) and the claim
  that follows succeeded, never for an instance abandoned and terminated before; without that
  step (older templates) it is the host having booted, sent while CodeDeploy's launch deployment
  may still run; a host that cannot boot signals FAILURE;
- CodeDeploy, told through the launch hook it installed (NotificationMetadata: the deployment
  group's id), deploys the group's last successful revision to that instance alone, a
  deployment with creator `autoscaling`, and answers CONTINUE, or ABANDON when it failed, so
  the group terminates the instance and launches another (CodeDeploy user guide,
  integrations-aws-auto-scaling; troubleshooting-auto-scaling: "instances ... are continuously
  provisioned and terminated"; the emulator suspends Launch after a few, see state.py);
- a terminated instance's host is stopped.

With no successful revision yet there is nothing to deploy and CodeDeploy is taken to answer
CONTINUE at once (not found documented; see the README's differences). Everything runs on one
worker thread, in the order the group did it (a claim once InService waits on a thread of
its own). Each host has a network of its own, so every
instance listens on AppPort; the app URL follows the Elastic IP (pipekit.local.elasticip).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from typing import Any

from moto.codedeploy.models import codedeploy_backends

from pipekit.emulator.patches.autoscaling import capacity, lifecycle
from pipekit.emulator.patches.autoscaling import state as asg_state

log = logging.getLogger("pipekit.local.autoscaling")

# the user data's claim-elastic-ip step: ALLOCATION_ID='eipalloc-...' (empty in fleet mode)
_ALLOCATION = re.compile(r"^ALLOCATION_ID='(eipalloc-[0-9a-f]+)'", re.MULTILINE)
# the user data's wait-in-service step and its bound in seconds
_WAIT_IN_SERVICE = re.compile(r"^STEP=wait-in-service\s*$", re.MULTILINE)
_IN_SERVICE_TIMEOUT = re.compile(r"^IN_SERVICE_TIMEOUT=(\d+)\s*$", re.MULTILINE)
_CLAIM = re.compile(r"^STEP=claim-elastic-ip\s*$", re.MULTILINE)
# the user data's write-app-config step: the environment file's lines between the heredoc's
# markers (templates/ec2.yaml: cat > /etc/sample-app/env <<'APP_ENV' ... APP_ENV)
_APP_ENV = re.compile(
    r"^cat > /etc/sample-app/env <<'APP_ENV'\n(.*?)^APP_ENV$", re.MULTILINE | re.DOTALL
)
_ENV_LINE = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$")
# how often local mode looks at the instance's lifecycle state for that step
POLL_S = 0.25
# each instance is a booted host (systemd, the app, its agent's hooks) on this 2-core machine:
# issue 12 sets 4 as what it holds
MAX_INSTANCES = 4


def allocation_id(user_data: str) -> str | None:
    """The Elastic IP the instance's user data associates with itself, if it does."""
    match = _ALLOCATION.search(user_data or "")
    return match.group(1) if match else None


def app_env(user_data: str) -> dict[str, str]:
    """NAME -> value of the environment file (/etc/sample-app/env) the user data writes; empty
    when it writes none this way (older templates wrote PORT alone with printf)."""
    match = _APP_ENV.search(user_data or "")
    if not match:
        return {}
    lines = (_ENV_LINE.match(line) for line in match.group(1).splitlines())
    return {m.group(1): m.group(2) for m in lines if m}


def instance_app_env(instance_id: str) -> dict[str, str]:
    """The environment file of a group's instance launched here, from its user data."""
    where = asg_state.where(instance_id)
    return app_env(user_data(*where, instance_id)) if where is not None else {}


def claims_when_in_service(user_data: str) -> bool:
    """Whether the user data claims the Elastic IP after its wait-in-service step (the address
    moves to an instance once it serves) rather than at boot (older templates)."""
    text = user_data or ""
    claim, wait = _CLAIM.search(text), _WAIT_IN_SERVICE.search(text)
    return bool(claim and wait and claim.start() > wait.start())


def in_service_wait(user_data: str) -> float | None:
    """Seconds the user data waits for the instance to be InService before it signals, or None
    when it signals without waiting (no wait-in-service step)."""
    text = user_data or ""
    if not _WAIT_IN_SERVICE.search(text):
        return None
    bound = _IN_SERVICE_TIMEOUT.search(text)
    return float(bound.group(1)) if bound else None


def signal_after_wait(state: str | None, waited: float, bound: float) -> str | None:
    """The wait-in-service step's outcome so far: SUCCESS once InService; FAILURE (the step's
    error trap) when its bound passed with the instance still there; None while it waits, and
    for an instance gone from the group (terminated: its user data no longer runs)."""
    if state == "InService":
        return "SUCCESS"
    if state is not None and waited >= bound:
        return "FAILURE"
    return None


def answer(previous: dict[str, Any] | None, deployment: dict[str, Any] | None) -> str:
    """CodeDeploy's answer to the launch hook: CONTINUE when the launch deployment succeeded or
    there was no successful revision to deploy, ABANDON when it failed."""
    if previous is None:
        return "CONTINUE"
    succeeded = deployment is not None and deployment["status"] == "Succeeded"
    return "CONTINUE" if succeeded else "ABANDON"


def too_many(desired: int) -> str | None:
    """Local mode's refusal of a group bigger than its hosts can be."""
    if desired <= MAX_INSTANCES:
        return None
    return (
        f"local mode runs at most {MAX_INSTANCES} instances per Auto Scaling group: each is a "
        f"host booted on this machine, which holds no more (asked for {desired})"
    )


def user_data(account: str, region: str, instance_id: str) -> str:
    """The user data of the launch template version the group launched the instance from."""
    from moto.ec2.models import ec2_backends

    launched = asg_state.state(account, region).launched_from.get(instance_id)
    if not launched or not launched[0]:
        return ""
    version = (
        ec2_backends[account][region].get_launch_template(launched[0]).get_version(launched[1])
    )
    return version.user_data.decode() if version.user_data is not None else ""


def lifecycle_state(account: str, region: str, instance_id: str) -> str | None:
    """The instance's LifecycleState in its group (DescribeAutoScalingInstances), None when no
    group has it any more."""
    from moto.autoscaling.models import autoscaling_backends

    for group in list(autoscaling_backends[account][region].autoscaling_groups.values()):
        for instance_state in list(group.instance_states):
            if instance_state.instance.id == instance_id:
                return str(instance_state.lifecycle_state)
    return None


class Launches:
    """Local mode's side of the group's launches and terminations (one worker thread)."""

    def __init__(self, hosts: Any, deployer: Any, elastic_ip: Any = None) -> None:
        self.hosts = hosts  # pipekit.local.service.HostPool
        self.deployer = deployer  # pipekit.local.deployer.Deployer
        self.elastic_ip = elastic_ip  # pipekit.local.elasticip.ElasticIp: where the URL goes
        self._queue: queue.Queue[tuple[str, tuple[Any, ...]] | None] = queue.Queue()
        # instance id -> (boot status, the user data's in-service wait or None, when it booted)
        self._signals: dict[str, tuple[str, float | None, float]] = {}
        # instance id -> outcome of an Elastic IP claim the user data makes once InService
        self._claims: dict[str, str] = {}
        self._late_claims: set[str] = set()
        self._booted = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="pipekit-asg", daemon=True)

    def start(self) -> None:
        asg_state.LAUNCH_LISTENERS.append(self.on_launch)
        asg_state.TERMINATE_LISTENERS.append(self.on_terminate)
        asg_state.SIGNAL_SOURCES.append(self.signal)
        capacity.CAPACITY_GUARDS.append(self.guard)
        self._thread.start()

    def close(self) -> None:
        for registry, item in (
            (asg_state.LAUNCH_LISTENERS, self.on_launch),
            (asg_state.TERMINATE_LISTENERS, self.on_terminate),
            (asg_state.SIGNAL_SOURCES, self.signal),
            (capacity.CAPACITY_GUARDS, self.guard),
        ):
            if item in registry:
                registry.remove(item)
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    # -- what the emulator tells (called on its request threads: queue and return) ------------

    def on_launch(
        self, account: str, region: str, group: str, instance_id: str, actions: list[dict]
    ) -> None:
        self._queue.put(("launch", (account, region, group, instance_id, actions)))

    def on_terminate(self, account: str, region: str, group: str, instance_id: str) -> None:
        self._queue.put(("terminate", (instance_id,)))

    def guard(self, account: str, region: str, group: str, desired: int) -> str | None:
        return too_many(desired)

    def signal(self, account: str, region: str, instance_id: str, timeout: float) -> str | None:
        """The instance's cfn-signal within `timeout` seconds, as its user data sends it: FAILURE
        if the host could not boot; SUCCESS once booted, or, with the wait-in-service step, once
        the group has put it InService (FAILURE past the step's bound); None for no signal."""
        deadline = time.monotonic() + timeout
        with self._booted:
            self._booted.wait_for(lambda: instance_id in self._signals, timeout=timeout)
            booted = self._signals.get(instance_id)
        if booted is None:
            return None
        status, bound, at = booted
        if status != "SUCCESS" or bound is None:
            return status
        while True:
            state = lifecycle_state(account, region, instance_id)
            outcome = signal_after_wait(state, time.monotonic() - at, bound)
            if outcome == "SUCCESS" and instance_id in self._late_claims:
                # the claim-elastic-ip step comes first; its failure is the trap's FAILURE
                with self._booted:
                    self._booted.wait_for(
                        lambda: instance_id in self._claims, deadline - time.monotonic()
                    )
                    return self._claims.get(instance_id)
            if outcome is not None:
                return outcome
            if state is None or time.monotonic() >= deadline:
                # gone (abandoned, terminated): no signal can come any more, so local mode does
                # not sit out the rest of the PauseTime that AWS waits for it
                return None
            time.sleep(POLL_S)

    def boot(self, instance_id: str) -> None:
        """Boot the host of an instance the group launched before local mode was told (the
        stack's first ones), running its user data's Elastic IP claim too."""
        self.hosts.get(instance_id)
        where = asg_state.where(instance_id)
        if where is not None:
            self._claim_elastic_ip(*where, instance_id)

    # -- the worker ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            kind, args = item
            try:
                if kind == "terminate":
                    self.hosts.stop(args[0])
                else:
                    self._launched(*args)
            except Exception:
                log.exception("%s of %s failed", kind, args[-2] if kind == "launch" else args[0])

    def _launched(
        self, account: str, region: str, group_name: str, instance_id: str, actions: list[dict]
    ) -> None:
        status = "SUCCESS"
        data = user_data(account, region, instance_id)
        late = claims_when_in_service(data)
        try:
            self.hosts.get(instance_id)
            if not late:
                self._claim_elastic_ip(account, region, instance_id)
        except Exception:
            log.exception("instance %s did not boot", instance_id)
            status = "FAILURE"
        wait = in_service_wait(data)
        with self._booted:
            if late:
                self._late_claims.add(instance_id)
            self._signals[instance_id] = (status, wait, time.monotonic())
            self._booted.notify_all()
        for action in actions:
            self._codedeploy(account, region, group_name, action)
        if late and status == "SUCCESS":
            # on a thread of its own: a hook someone else answers may hold the instance long
            threading.Thread(
                target=self._claim_in_service,
                args=(account, region, instance_id, wait or 0.0),
                name=f"pipekit-claim-{instance_id}",
                daemon=True,
            ).start()

    def _claim_in_service(self, account: str, region: str, instance_id: str, bound: float) -> None:
        """The user data's claim after its wait-in-service step: once the group has put the
        instance InService (by now CodeDeploy has answered its launch hook), never for an
        instance abandoned or terminated first."""
        deadline = time.monotonic() + bound
        state = lifecycle_state(account, region, instance_id)
        while state not in ("InService", None) and time.monotonic() < deadline:
            time.sleep(POLL_S)
            state = lifecycle_state(account, region, instance_id)
        if state != "InService":
            return
        outcome = "SUCCESS"
        try:
            self._claim_elastic_ip(account, region, instance_id)
        except Exception:
            log.exception("instance %s could not claim the Elastic IP", instance_id)
            outcome = "FAILURE"
        with self._booted:
            self._claims[instance_id] = outcome
            self._booted.notify_all()

    def _claim_elastic_ip(self, account: str, region: str, instance_id: str) -> None:
        from moto.ec2.models import ec2_backends

        allocation = allocation_id(user_data(account, region, instance_id))
        if allocation:
            ec2 = ec2_backends[account][region]
            ec2.associate_address(
                instance=ec2.get_instance(instance_id), allocation_id=allocation, reassociate=True
            )
            log.info("instance %s claimed the Elastic IP %s", instance_id, allocation)
            if self.elastic_ip is not None:
                self.elastic_ip.claimed(account, region, allocation)

    def _codedeploy(self, account: str, region: str, group_name: str, action: dict) -> None:
        backend = codedeploy_backends[account][region]
        group = next(
            (
                g
                for groups in backend.deployment_groups.values()
                for g in groups.values()
                if g.deployment_group_id == action.get("NotificationMetadata")
            ),
            None,
        )
        if group is None:
            return  # not a hook CodeDeploy installed: whoever installed it answers it
        instance_id = action["EC2InstanceId"]
        previous = self.deployer.last_good(account, region, group)
        deployment = None
        if previous is not None:
            deployment = self.deployer.launch_deployment(
                account, region, group, previous["revision"], instance_id
            )
        result = answer(previous, deployment)
        log.info(
            "launch of %s: deployment %s, %s",
            instance_id,
            deployment["deploymentId"] if deployment else "none (no successful revision)",
            result,
        )
        from moto.autoscaling.models import autoscaling_backends

        asg = autoscaling_backends[account][region].autoscaling_groups.get(group_name)
        if asg is None:
            return
        try:
            waiting = lifecycle.active_action(
                asg, action["LifecycleHookName"], instance_id, action["LifecycleActionToken"]
            )
        except Exception:
            log.info("instance %s no longer waits on its launch hook", instance_id)
            return
        lifecycle.complete(asg, waiting, action["LifecycleHookName"], result)
