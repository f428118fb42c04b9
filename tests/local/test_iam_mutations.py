"""The IAM mutation test's sample (tests/support/iam_mutations.py): the templates as they are
pass a whole run under enforcement, and each sampled permission, taken away from the statement
that grants it, fails the run at the step that needs it with AWS's error. The whole set:
`make test-iam-mutations` (python -m tests.bench.iam_mutations)."""

from __future__ import annotations

import pytest

from tests.support.iam_mutations import Harness, baseline, mutations, run_mutation

SAMPLE = (
    ("pipeline", "s3:PutObjectAcl", "ArtifactObjects"),
    ("pipeline", "codebuild:StartBuild", "RunBuild"),
    ("build", "logs:CreateLogStream", "BuildLogs"),
    ("build", "logs:CreateLogStream", "PruneLogs"),  # the Prune stage's own project and role
    # the pruner's own AWS CLI calls, authorized by the emulator's session middleware
    ("build", "s3:ListBucket", "ListArtifacts"),
    ("pipeline", "codedeploy:CreateDeployment", "RunDeployment"),
    ("instance", "s3:GetObject", "ReadBundles"),
    # the user data's wait-in-service step (boot calls are evaluated without a run: cheap)
    ("instance", "autoscaling:DescribeAutoScalingInstances", "ReadOwnLifecycleState"),
)


@pytest.fixture(scope="module")
def traced(emulator, tmp_path_factory):
    harness = Harness(emulator, tmp_path_factory.mktemp("iam-mutations"))
    trace, outcome = baseline(harness)
    found, _ = mutations(trace)
    yield harness, outcome, {(m.kind, m.action, g.sid): m for m in found for g in m.grants}
    emulator.reset()  # leave nothing for the modules that run after this one


def test_the_templates_grant_every_call_of_a_run(traced):
    _, outcome, found = traced
    assert outcome.step is None, f"the templates fail at {outcome.step}: {outcome.error}"
    assert set(SAMPLE) <= set(found)


@pytest.mark.parametrize("kind,action,sid", SAMPLE, ids=[f"{k}-{a}-{s}" for k, a, s in SAMPLE])
def test_without_the_permission_the_step_that_needs_it_fails(traced, kind, action, sid):
    harness, outcome, found = traced
    if outcome.step is not None:
        pytest.fail(f"the templates as they are already fail at {outcome.step}")
    result = run_mutation(harness, found[(kind, action, sid)])
    assert result.caught, result.row()
