"""The load balancer's side of CloudWatch in local mode: each HAProxy statistics reading (a stats
listener of local/loadbalancer.py) becomes the ALB's metrics in the emulated CloudWatch
(local/albmetrics.py, the one conversion), and the account's alarms are evaluated right after
(pipekit.emulator.alarms.tick), as CloudWatch evaluates alarms on its own while metrics arrive.
CodeDeploy's alarm check (pipekit.emulator.records.alarms) then reads the alarms' states.

Periods are AWS's unless PIPEKIT_ALARM_PERIOD_SCALE shortens them
(pipekit.emulator.alarms.evaluate)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pipekit.emulator import clock
from pipekit.emulator.alarms import store, tick
from pipekit.local import albmetrics
from pipekit.local.haproxy import Settings

log = logging.getLogger("pipekit.local.lbcloudwatch")

# (target group ARN, target id) -> (state, reason, description) | None: the load balancer's
# DescribeTargetHealth view (LoadBalancer.health)
TargetHealth = Callable[[str, str], tuple[str, str | None, str | None] | None]


def stats_listener(
    target_health: TargetHealth,
) -> Callable[[list[dict[str, str]], list[dict[str, str]] | None, Settings], None]:
    """A stats listener publishing the metrics and ticking the alarms of the target group's
    account and region (read from its ARN)."""

    def listen(
        rows: list[dict[str, str]], previous: list[dict[str, str]] | None, settings: Settings
    ) -> None:
        _, _, _, region, account_id, _ = settings.target_group_arn.split(":", 5)

        def health(backend: str, server: str) -> str | None:
            found = target_health(settings.target_group_arn, server)
            return found[0] if found else None

        data = albmetrics.metric_data(
            rows,
            previous,
            {settings.backend: (settings.load_balancer_name, settings.target_group_name)},
            clock.now(),
            health=health,
        )
        if data:
            store.put_metric_data(account_id, region, albmetrics.NAMESPACE, data)
        for name, why in tick.tick(account_id, region).refused.items():
            log.warning("alarm %s cannot be evaluated: %s", name, why)

    return listen
