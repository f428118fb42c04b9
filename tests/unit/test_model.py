"""The release-time model (pipekit/harness/model.py): each setting moves the step it governs by
what it says, and nothing else; the chosen defaults meet issue 14's fleet target."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pipekit.harness import model
from pipekit.harness.model import Settings, settings_from, totals

ROOT = Path(__file__).resolve().parents[2]
ROOT_TEMPLATE = ROOT / "templates" / "root.yaml"


@pytest.mark.parametrize(
    ("config", "instances", "batch"),
    [
        ("CodeDeployDefault.OneAtATime", 10, 1),
        ("CodeDeployDefault.HalfAtATime", 10, 5),
        ("CodeDeployDefault.HalfAtATime", 3, 1),  # fractions rounded down
        ("CodeDeployDefault.HalfAtATime", 2, 1),
        ("CodeDeployDefault.AllAtOnce", 4, 4),
    ],
)
def test_batches_follow_codedeploys_predefined_configs(config, instances, batch) -> None:
    assert model.batch_size(config, instances) == batch


def test_an_unknown_config_is_refused() -> None:
    with pytest.raises(ValueError, match="no batch rule"):
        model.batch_size("Custom.Percent25", 4)


def test_single_mode_is_one_round_whatever_the_fleet_setting() -> None:
    single = Settings(fleet_deployment_config="CodeDeployDefault.OneAtATime", fleet_size=10)
    assert model.rounds(single) == 1
    names = [step.name for step in model.release(single)]
    assert not any("Traffic" in name for name in names)  # no load balancer in single mode


def _fleet(size: int = 10, **changes) -> Settings:
    return replace(Settings(mode="fleet", fleet_size=size), **changes)


def test_the_drain_costs_its_seconds_once_per_round() -> None:
    base, longer = _fleet(), _fleet(deregistration_delay_s=305)
    extra = totals(longer)["commit_to_all_live_s"] - totals(base)["commit_to_all_live_s"]
    assert extra == pytest.approx(300 * model.rounds(base))
    assert model.rounds(base) == 2
    one_at_a_time = _fleet(fleet_deployment_config="CodeDeployDefault.OneAtATime")
    slower = replace(one_at_a_time, deregistration_delay_s=305)
    extra = totals(slower)["commit_to_all_live_s"] - totals(one_at_a_time)["commit_to_all_live_s"]
    assert extra == pytest.approx(300 * 10)


def test_the_health_check_interval_governs_allow_traffic() -> None:
    base, slower = _fleet(2), _fleet(2, health_check_interval_s=30)
    assert totals(slower)["commit_to_live_s"] - totals(base)["commit_to_live_s"] == 25
    allow = [s for s in model.release(slower) if s.name.startswith("AllowTraffic")]
    assert allow and "HealthCheckIntervalSeconds = 30" in allow[0].governed_by


def test_the_validate_budget_is_spent_only_by_a_release_that_never_gets_healthy() -> None:
    for settings in (Settings(), _fleet(2)):
        longer = replace(settings, validate_service_s=settings.validate_service_s + 40)
        before, after = totals(settings), totals(longer)
        assert after["unhealthy_to_restored_s"] - before["unhealthy_to_restored_s"] == 40
        for key in ("commit_to_live_s", "commit_to_all_live_s", "broken_to_restored_s"):
            assert after[key] == before[key], key


def test_lambda_compute_starts_the_build_sooner() -> None:
    ec2 = Settings()
    lam = replace(ec2, build_compute="BUILD_LAMBDA_1GB")
    saved = totals(ec2)["commit_to_live_s"] - totals(lam)["commit_to_live_s"]
    assert saved == pytest.approx(model.EC2_START_S - model.LAMBDA_START_S)


def test_broken_commit_stops_after_the_failed_round_then_rolls_back_every_round() -> None:
    fleet = _fleet(10, fleet_deployment_config="CodeDeployDefault.OneAtATime")
    steps = model.broken(fleet)
    failed = [s for s in steps if not s.name.startswith("rollback") and s.name == "AfterInstall"]
    rolled = [s for s in steps if s.name == "rollback: AfterInstall"]
    assert failed[0].times == 1 and rolled[0].times == 10
    assert not any(s.name == "AllowTraffic (first health check)" for s in steps)


def test_the_settings_defaults_are_the_root_templates() -> None:
    """The dataclass's defaults (what the model assumes without a stack) are root.yaml's."""
    defaults = model.root_defaults(ROOT_TEMPLATE)
    assert set(defaults) == set(model.PARAMETERS)
    assert settings_from(defaults, "single", 1) == Settings()


def test_the_new_defaults_meet_the_fleet_target() -> None:
    """Issue 14: a fleet of 10 all live within 4 minutes (the model's estimate until an AWS run
    measures it); the settings before this change took over 12."""
    after = settings_from(model.root_defaults(ROOT_TEMPLATE), "fleet", 10)
    before = settings_from(model.BEFORE, "fleet", 10)
    assert totals(after)["commit_to_all_live_s"] <= 240
    assert totals(before)["commit_to_all_live_s"] > 720
