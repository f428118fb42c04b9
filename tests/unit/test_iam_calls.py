"""The call table (pipekit.iam.calls) is complete where it must be, and every step has AWS's
wording for a refusal (pipekit.iam.failures)."""

from __future__ import annotations

import re
import string
from pathlib import Path
from types import SimpleNamespace

from pipekit.iam import calls, failures
from pipekit.iam.policy import IMPLICIT_DENY, Decision, access_denied_message

STEPS = (
    "source.connection",
    "source.upload",
    "build.start",
    "build.logs",
    "build.source",
    "build.reports",
    "build.upload",
    "build.poll",
    "approval.notify",
    "deploy.start",
    "deploy",
    "instance.bundle",
    "deploy.poll",
    "instance.boot",
)
FIELDS = {
    "partition": "aws",
    "region": "us-east-1",
    "account": "123456789012",
    "bucket": "b",
    "key": "k",
    "input_key": "i",
    "output_key": "o",
    "bundle_key": "z",
    "project": "p",
    "application": "a",
    "group": "g",
    "config": "c",
    "log_group": "/aws/codebuild/p",
    "stream": "s",
    "report_group": "p-unit-tests",
    "connection_arn": "arn:aws:codeconnections:us-east-1:123456789012:connection/x",
    "connection_service": "codeconnections",
    "target_group_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1",
    "stack_id": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
    "allocation_id": "eipalloc-1",
    "topic": "pipekit-dev-NotificationTopic-1",
    "instance_id": "i-1",
    "instance_stack_tag": "pipekit-local",
}


def test_every_row_names_its_source_a_known_step_and_principal():
    assert [c.step for c in calls.CALLS] == sorted(
        (c.step for c in calls.CALLS), key=STEPS.index
    ), "rows are in the order a run makes the calls"
    for call in calls.CALLS:
        assert call.source.strip(), call
        assert call.principal in ("pipeline", "build", "deploy", "instance"), call


def test_every_placeholder_is_one_a_step_knows():
    for call in calls.CALLS:
        names = {
            name
            for text in (call.action, call.resource, *(v for _, v in call.context))
            for _, name, _, _ in string.Formatter().parse(text)
            if name
        }
        assert names <= set(FIELDS), (call, names - set(FIELDS))
        arn = call.arn(FIELDS)
        assert arn == "*" or arn.startswith("arn:aws:"), arn


def test_the_github_source_action_needs_put_object_acl():
    rows = calls.calls_for("source.upload")
    assert [c.action for c in rows] == ["s3:PutObject", "s3:PutObjectAcl"]
    assert "aws/aws-cdk#13557" in rows[1].source


def denial(step, action, kind="pipeline", trust=False):
    role = "arn:aws:iam::123456789012:role/r"
    caller = "arn:aws:sts::123456789012:assumed-role/r/1660759156951"
    resource = "arn:aws:codebuild:us-east-1:123456789012:project/p"
    return SimpleNamespace(
        step=step,
        action=action,
        resource=resource,
        trust=trust,
        principal=SimpleNamespace(kind=kind, role_arn=role),
        message=access_denied_message(caller, action, resource, Decision(IMPLICIT_DENY)),
    )


def phase(step, action, **known):
    """(phase, status code, message) of a build whose project role was refused `action`."""
    known = {"build_arn": "", "source_version": "", **known}
    return failures.build_phase(denial(step, action, "build"), **known)


def test_refusals_are_worded_as_aws_words_them():
    assert failures.source(denial("source.upload", "s3:PutObjectAcl"), "arn:c") == (
        "[GitHub] Upload to S3 failed with the following error: Access Denied"
    )
    assert failures.source(
        denial("source.connection", "codeconnections:UseConnection"), "arn:c"
    ) == (
        "Unable to use Connection: arn:c. The provided role does not have sufficient permissions."
    )
    start = failures.build_action(denial("build.start", "codebuild:StartBuild"))
    assert re.fullmatch(
        r"Error calling startBuild: User: arn:aws:sts::123456789012:assumed-role/r/\d+ is not "
        r"authorized to perform: codebuild:StartBuild on resource: "
        r"arn:aws:codebuild:us-east-1:123456789012:project/p because no identity-based policy "
        r"allows the codebuild:StartBuild action \(Service: AWSCodeBuild; Status Code: 400; "
        r"Error Code: AccessDeniedException; Request ID: [0-9a-f-]{36}; Proxy: null\)",
        start,
    )
    build = "arn:aws:codebuild:us-east-1:123456789012:build/p:1"
    where, code, message = phase("build.logs", "logs:CreateLogStream", build_arn=build)
    assert (where, code) == ("QUEUED", "ACCESS_DENIED")
    assert message.startswith(
        "Service role arn:aws:iam::123456789012:role/r does not allow AWS CodeBuild to create "
        "Amazon CloudWatch Logs log streams for build arn:aws:codebuild:us-east-1:123456789012:"
        "build/p:1. Error message: User: "
    )
    where, code, message = phase("build.source", "s3:GetObject", source_version="arn:s3")
    assert (where, code) == ("DOWNLOAD_SOURCE", "CLIENT_ERROR")
    assert re.fullmatch(
        r"AccessDenied: Access Denied\n\tstatus code: 403, request id: [0-9A-F]{16}, host id: "
        r"\S+ for primary source and source version arn:s3",
        message,
    )
    where, _, message = phase(
        "build.reports", "codebuild:CreateReportGroup", report_group="unit-tests"
    )
    assert where == "UPLOAD_ARTIFACTS"
    assert message.startswith(
        "Error in UPLOAD_ARTIFACTS phase: [unit-tests: [error creating report group: "
        "AccessDeniedException: User: "
    )
    assert failures.deployment(denial("deploy", "codedeploy:x", "deploy", trust=True)) == (
        "IAM_ROLE_PERMISSIONS",
        "AWS CodeDeploy does not have the permissions required to assume the role "
        "arn:aws:iam::123456789012:role/r.",
    )
    assert failures.boot(denial("instance.boot", "cloudformation:SignalResource", "instance")) == (
        "Failed to receive 1 resource signal(s) within the specified duration"
    )


def test_the_emulator_readme_shows_the_table_as_it_is():
    readme = (Path(__file__).resolve().parents[2] / "pipekit/emulator/README.md").read_text()
    assert calls.markdown_table() in readme, (
        "regenerate it: python -c 'from pipekit.iam.calls \
import markdown_table; print(markdown_table())'"
    )
