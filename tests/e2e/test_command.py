"""`pipekit e2e` as a sub-command against the emulated endpoint: it refuses before touching git
when the target is not ready."""

from __future__ import annotations

import argparse

import pytest

from pipekit.commands import bench, e2e
from pipekit.errors import UserError


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pipekit")
    e2e.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["e2e", *argv])


def test_missing_stack_is_a_user_error_naming_the_fix(aws):
    args = parse(["--env", "dev", "--endpoint-url", aws.endpoint_url])
    with pytest.raises(UserError, match=r"stack pipekit-dev is not readable .*make deploy ENV=dev"):
        args.func(args)


def test_options_and_defaults():
    args = parse(["--env", "dev", "--allow-branch", "main", "--git-remote", "/tmp/r.git"])
    assert (args.allow_branch, args.git_remote, args.report_dir, args.timeout) == (
        "main",
        "/tmp/r.git",
        "reports",
        1800,
    )


def parse_bench(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pipekit")
    bench.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["bench", *argv])


def test_bench_reads_the_last_runs_of_a_stack_that_must_exist(aws):
    args = parse_bench(["--env", "dev", "--endpoint-url", aws.endpoint_url, "--last", "2"])
    assert (args.last, args.report_dir) == (2, "reports")
    with pytest.raises(UserError, match=r"stack pipekit-dev is not readable"):
        args.func(args)


@pytest.mark.parametrize("last", ["0", "101"])
def test_bench_last_takes_1_to_100_runs(last):
    args = parse_bench(["--env", "dev", "--last", last])
    with pytest.raises(UserError, match="--last takes a number of runs from 1 to 100"):
        args.func(args)


def test_scenario_option():
    assert parse(["--env", "dev"]).scenario == "broken"
    assert parse(["--env", "local-fleet", "--scenario", "alarm"]).scenario == "alarm"
    with pytest.raises(SystemExit):
        parse(["--env", "dev", "--scenario", "other"])
