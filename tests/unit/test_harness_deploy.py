"""Deploy paths an emulator cannot produce, driven through botocore's Stubber (which checks
every request and response against the CloudFormation model): a failure inside a nested stack,
an update with no changes, no terminal to confirm on, Ctrl-C while waiting, throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import ANY

from pipekit.errors import UserError
from pipekit.harness.deploy import DeployFailed, changes_table, deploy, describe_all, summary
from pipekit.harness.events import first_cause, latest_operation
from pipekit.harness.preflight import Plan
from pipekit.harness.session import RETRY_CONFIG, aws_errors
from pipekit.progress import console
from tests.support.harness import STACK_ID, StubbedClients, env_for, make_project

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
CS_ID = "arn:aws:cloudformation:eu-west-1:111122223333:changeSet/pipekit-1/aaaa"
NESTED_CS = "arn:aws:cloudformation:eu-west-1:111122223333:changeSet/pipekit-1-Pipeline/bbbb"
NESTED_ID = "arn:aws:cloudformation:eu-west-1:111122223333:stack/pipekit-dev-Pipeline-X/cccc"
URL = "https://b.s3.eu-west-1.amazonaws.com/pipekit/v1/templates/root.yaml"


@pytest.fixture
def env(tmp_path):
    return env_for(make_project(tmp_path))


def plan(status: str | None = None) -> Plan:
    return Plan("111122223333", "eu-west-1", {"GitHubRepository": "acme/shop"}, status, None)


def event(n: int, stack_id: str, logical: str, rtype: str, status: str, reason: str = "", **kw):
    stack_name = stack_id.split("/")[1]
    e = {
        "StackId": stack_id,
        "EventId": f"{stack_name}-{n}",
        "StackName": stack_name,
        "LogicalResourceId": logical,
        "PhysicalResourceId": kw.get("physical", f"{logical}-phys"),
        "ResourceType": rtype,
        "Timestamp": T0 + timedelta(seconds=n),
        "ResourceStatus": status,
    }
    if reason:
        e["ResourceStatusReason"] = reason
    return e


ROOT_EVENTS = [  # newest first, as describe_stack_events returns them
    event(
        40,
        STACK_ID,
        "pipekit-dev",
        "AWS::CloudFormation::Stack",
        "ROLLBACK_COMPLETE",
        physical=STACK_ID,
    ),
    event(
        30,
        STACK_ID,
        "Pipeline",
        "AWS::CloudFormation::Stack",
        "CREATE_FAILED",
        "Embedded stack arn:aws:cloudformation:...:stack/pipekit-dev-Pipeline-X/cccc was not "
        "successfully created: The following resource(s) failed to create: [BuildProject].",
        physical=NESTED_ID,
    ),
    event(
        29,
        STACK_ID,
        "Network",
        "AWS::CloudFormation::Stack",
        "CREATE_FAILED",
        "Resource creation cancelled",
        physical="",
    ),
    event(
        2,
        STACK_ID,
        "Pipeline",
        "AWS::CloudFormation::Stack",
        "CREATE_IN_PROGRESS",
        physical=NESTED_ID,
    ),
    event(
        1,
        STACK_ID,
        "pipekit-dev",
        "AWS::CloudFormation::Stack",
        "CREATE_IN_PROGRESS",
        "User Initiated",
        physical=STACK_ID,
    ),
]
NESTED_EVENTS = [
    event(
        25,
        NESTED_ID,
        "pipekit-dev-Pipeline-X",
        "AWS::CloudFormation::Stack",
        "CREATE_FAILED",
        "The following resource(s) failed to create: [BuildProject].",
        physical=NESTED_ID,
    ),
    event(
        21,
        NESTED_ID,
        "BuildProject",
        "AWS::CodeBuild::Project",
        "CREATE_FAILED",
        "Invalid compute type BUILD_GENERAL1_TINY (Service: CodeBuild, Status Code: 400)",
    ),
    # A sibling cancelled *before* the real failure was recorded: not the cause.
    event(
        20, NESTED_ID, "Topic", "AWS::SNS::Topic", "CREATE_FAILED", "Resource creation cancelled"
    ),
    event(3, NESTED_ID, "BuildProject", "AWS::CodeBuild::Project", "CREATE_IN_PROGRESS"),
]


def test_first_cause_digs_into_the_failed_nested_stack():
    cause = first_cause({STACK_ID: ROOT_EVENTS, NESTED_ID: NESTED_EVENTS}, STACK_ID)
    assert cause is not None
    assert cause["LogicalResourceId"] == "BuildProject"
    assert "Invalid compute type" in cause["ResourceStatusReason"]


def test_first_cause_without_nested_events_keeps_the_root_reason():
    events = [event(5, STACK_ID, "Bucket", "AWS::S3::Bucket", "CREATE_FAILED", "Access Denied")]
    assert first_cause({STACK_ID: events}, STACK_ID)["ResourceStatusReason"] == "Access Denied"


def queue_change_set(stub, *, changes, status="CREATE_COMPLETE", reason=None, cs_type="CREATE"):
    stub.add_response(
        "create_change_set",
        {"Id": CS_ID, "StackId": STACK_ID},
        {
            "StackName": "pipekit-dev",
            "ChangeSetName": ANY,
            "ChangeSetType": cs_type,
            "TemplateURL": URL,
            "Parameters": [{"ParameterKey": "GitHubRepository", "ParameterValue": "acme/shop"}],
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            "IncludeNestedStacks": True,
            "Tags": ANY,
            "Description": ANY,
        },
    )
    described = {
        "ChangeSetId": CS_ID,
        "ChangeSetName": "pipekit-1",
        "StackId": STACK_ID,
        "StackName": "pipekit-dev",
        "CreationTime": T0,
        "ExecutionStatus": "AVAILABLE" if status != "FAILED" else "UNAVAILABLE",
        "Status": status,
        "Changes": changes,
    }
    if reason:
        described["StatusReason"] = reason
    stub.add_response("describe_change_set", described, {"ChangeSetName": CS_ID})  # waiter
    stub.add_response("describe_change_set", described, {"ChangeSetName": CS_ID})


def resource_change(action, logical, rtype, replacement=None, change_set=None):
    rc = {"Action": action, "LogicalResourceId": logical, "ResourceType": rtype}
    if replacement:
        rc["Replacement"] = replacement
    if change_set:
        rc["ChangeSetId"] = change_set
    return {"Type": "Resource", "ResourceChange": rc}


ROOT_CHANGES = [resource_change("Add", "Pipeline", "AWS::CloudFormation::Stack", None, NESTED_CS)]
NESTED_CHANGES = [
    resource_change("Add", "BuildProject", "AWS::CodeBuild::Project"),
    resource_change("Modify", "Role", "AWS::IAM::Role", "True"),
    resource_change("Modify", "Bucket", "AWS::S3::Bucket", "Conditional"),
    resource_change("Modify", "Topic", "AWS::SNS::Topic", "False"),
    resource_change("Remove", "Old", "AWS::SNS::Topic"),
]


def queue_describe_all(stub):
    stub.add_response(
        "describe_change_set",
        {"ChangeSetId": CS_ID, "StackId": STACK_ID, "Changes": ROOT_CHANGES},
        {"ChangeSetName": CS_ID},
    )
    stub.add_response(
        "describe_change_set",
        {"ChangeSetId": NESTED_CS, "StackId": NESTED_ID, "Changes": NESTED_CHANGES},
        {"ChangeSetName": NESTED_CS},
    )


def stack_response(status):
    return {
        "Stacks": [
            {
                "StackName": "pipekit-dev",
                "StackId": STACK_ID,
                "CreationTime": T0,
                "StackStatus": status,
            }
        ]
    }


def test_nested_failure_reports_the_first_real_cause(env, capsys):
    clients = StubbedClients()
    stub = clients.stub("cloudformation")
    queue_change_set(stub, changes=ROOT_CHANGES)
    queue_describe_all(stub)
    stub.add_response("execute_change_set", {}, {"ChangeSetName": CS_ID})
    # Poll 1: the root so far; the nested stack is discovered from its events.
    stub.add_response(
        "describe_stack_events", {"StackEvents": ROOT_EVENTS[3:]}, {"StackName": STACK_ID}
    )
    stub.add_response(
        "describe_stacks", stack_response("CREATE_IN_PROGRESS"), {"StackName": STACK_ID}
    )
    # Poll 2: everything; events already seen are not printed twice.
    stub.add_response(
        "describe_stack_events", {"StackEvents": ROOT_EVENTS}, {"StackName": STACK_ID}
    )
    stub.add_response(
        "describe_stack_events", {"StackEvents": NESTED_EVENTS}, {"StackName": NESTED_ID}
    )
    stub.add_response(
        "describe_stacks", stack_response("ROLLBACK_COMPLETE"), {"StackName": STACK_ID}
    )
    stub.add_response(
        "describe_stack_events", {"StackEvents": ROOT_EVENTS}, {"StackName": STACK_ID}
    )
    stub.add_response(
        "describe_stack_events", {"StackEvents": NESTED_EVENTS}, {"StackName": NESTED_ID}
    )
    sleeps: list[float] = []
    with pytest.raises(DeployFailed) as caught:
        deploy(
            clients("cloudformation"),
            env,
            plan(),
            URL,
            {"GitHubRepository": "acme/shop"},
            assume_yes=True,
            interactive=False,
            ask=lambda q: False,
            interval=0.5,
            sleep=sleeps.append,
        )
    message = str(caught.value)
    assert "ended ROLLBACK_COMPLETE" in message
    assert "BuildProject (AWS::CodeBuild::Project) CREATE_FAILED: Invalid compute type" in message
    assert "Embedded stack" not in message
    assert "make destroy ENV=dev" in message
    assert sleeps == [0.5]
    out = capsys.readouterr().out
    assert out.count("User Initiated") == 1  # deduplicated by EventId
    assert "Pipeline" in out and "00:0" in out  # nested events streamed with elapsed time
    stub.assert_no_pending_responses()


def test_change_set_display_marks_replacements(env):
    clients = StubbedClients()
    queue_describe_all(clients.stub("cloudformation"))
    changes = describe_all(clients("cloudformation"), CS_ID)
    assert summary(changes) == "2 added, 3 modified, 1 removed, 2 replaced"
    with console.capture() as captured:
        console.print(changes_table(changes))
    text = captured.get()
    assert "Modify (REPLACE)" in text and "Pipeline" in text
    replaced = [line for line in text.splitlines() if "(REPLACE)" in line]
    assert len(replaced) == 2 and all("Topic" not in line for line in replaced)


def test_update_with_no_changes_is_a_success(env):
    clients = StubbedClients()
    stub = clients.stub("cloudformation")
    queue_change_set(
        stub,
        changes=[],
        status="FAILED",
        cs_type="UPDATE",
        reason="The submitted information didn't contain changes. Submit different information "
        "to create a change set.",
    )
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ID})
    status = deploy(
        clients("cloudformation"),
        env,
        plan("UPDATE_COMPLETE"),
        URL,
        {"GitHubRepository": "acme/shop"},
        assume_yes=True,
        interactive=False,
        ask=lambda q: True,
    )
    assert status == "NO_CHANGES"
    stub.assert_no_pending_responses()


def test_rejected_change_set_is_a_clear_failure(env):
    clients = StubbedClients()
    stub = clients.stub("cloudformation")
    queue_change_set(
        stub,
        changes=[],
        status="FAILED",
        reason="Template error: instance of Fn::GetAtt references undefined resource X",
    )
    with pytest.raises(DeployFailed, match="rejected the change set: Template error"):
        deploy(
            clients("cloudformation"),
            env,
            plan(),
            URL,
            {"GitHubRepository": "acme/shop"},
            assume_yes=True,
            interactive=False,
            ask=lambda q: True,
        )


def test_no_terminal_and_no_yes_deletes_the_change_set_and_says_pass_yes(env):
    clients = StubbedClients()
    stub = clients.stub("cloudformation")
    queue_change_set(stub, changes=ROOT_CHANGES)
    queue_describe_all(stub)
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ID})
    with pytest.raises(UserError, match=r"pass --yes \(`make deploy ENV=dev ARGS='--yes'`\)"):
        deploy(
            clients("cloudformation"),
            env,
            plan(),
            URL,
            {"GitHubRepository": "acme/shop"},
            assume_yes=False,
            interactive=False,
            ask=lambda q: pytest.fail("asked"),
        )
    stub.assert_no_pending_responses()  # and no execute_change_set was queued


def test_declined_confirmation_changes_nothing(env, capsys):
    clients = StubbedClients()
    stub = clients.stub("cloudformation")
    queue_change_set(stub, changes=ROOT_CHANGES)
    queue_describe_all(stub)
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ID})
    asked = []
    # what the change set does not spell out (an AMI change) is named before the question
    note = "replaces the instances: AMI ami-0aaaaaaaaaaaaaaaa → ami-0bbbbbbbbbbbbbbbb"
    status = deploy(
        clients("cloudformation"),
        env,
        plan(),
        URL,
        {"GitHubRepository": "acme/shop"},
        assume_yes=False,
        interactive=True,
        ask=lambda q: asked.append(q) or False,
        notes=[note],
    )
    assert status == "CANCELLED" and "pipekit-dev" in asked[0]
    out = capsys.readouterr().out
    assert out.index("2 added, 3 modified") < out.index(note)
    stub.assert_no_pending_responses()


def test_interrupt_leaves_the_stack_running_and_says_how_to_watch(env, capsys):
    clients = StubbedClients()
    stub = clients.stub("cloudformation")
    queue_change_set(stub, changes=ROOT_CHANGES)
    queue_describe_all(stub)
    stub.add_response("execute_change_set", {}, {"ChangeSetName": CS_ID})
    stub.add_response(
        "describe_stack_events", {"StackEvents": ROOT_EVENTS[4:]}, {"StackName": STACK_ID}
    )
    stub.add_response(
        "describe_stacks", stack_response("CREATE_IN_PROGRESS"), {"StackName": STACK_ID}
    )

    def interrupted(_seconds):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        deploy(
            clients("cloudformation"),
            env,
            plan(),
            URL,
            {"GitHubRepository": "acme/shop"},
            assume_yes=True,
            interactive=False,
            ask=lambda q: True,
            sleep=interrupted,
        )
    out = capsys.readouterr().out
    assert "continues in CloudFormation" in out
    assert "make status ENV=dev" in out and "#/stacks/events?stackId=" in out
    stub.assert_no_pending_responses()  # in particular: no delete, no cancel


# ---- throttling: real clients, fake HTTP, botocore's standard retry mode ------------------------

THROTTLED = (
    b'<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error>'
    b"<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>r</RequestId></ErrorResponse>"
)
DESCRIBED = (
    b'<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
    b"<DescribeStacksResult><Stacks><member><StackName>pipekit-dev</StackName>"
    b"<StackId>" + STACK_ID.encode() + b"</StackId>"
    b"<CreationTime>2026-11-27T01:00:00Z</CreationTime>"
    b"<StackStatus>UPDATE_COMPLETE</StackStatus></member></Stacks></DescribeStacksResult>"
    b"<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>"
)


class Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_kw):
        yield self.body


def fake_http(bodies: list[tuple[int, bytes]], calls: list[int]):
    def send(request, **_kw):
        status, body = bodies[min(len(calls), len(bodies) - 1)]
        calls.append(status)
        return AWSResponse(request.url, status, {}, Raw(body))

    return send


def throttled_client(bodies, calls, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _s: None)  # the backoff itself is botocore's
    client = boto3.client(
        "cloudformation",
        region_name="eu-west-1",
        config=RETRY_CONFIG,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    client.meta.events.register("before-send", fake_http(bodies, calls))
    return client


def test_throttling_is_retried_by_the_standard_retry_mode(monkeypatch):
    from pipekit.harness.preflight import stack_status

    calls: list[int] = []
    client = throttled_client(
        [(400, THROTTLED), (400, THROTTLED), (200, DESCRIBED)], calls, monkeypatch
    )
    assert stack_status(client, "pipekit-dev") == "UPDATE_COMPLETE"
    assert calls == [400, 400, 200]


def test_throttling_that_never_ends_is_one_clear_sentence(monkeypatch):
    from pipekit.harness.preflight import stack_status

    calls: list[int] = []
    client = throttled_client([(400, THROTTLED)], calls, monkeypatch)
    with pytest.raises(
        UserError, match=r"AWS refused DescribeStacks \(Throttling\).*after retries"
    ):
        aws_errors(stack_status)(client, "pipekit-dev")
    assert len(calls) == RETRY_CONFIG.retries["total_max_attempts"] > 3


def test_ctrl_c_at_the_prompt_deletes_the_change_set(env):
    clients = StubbedClients()
    stub = clients.stub("cloudformation")
    queue_change_set(stub, changes=ROOT_CHANGES)
    queue_describe_all(stub)
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ID})

    def interrupted(_question):
        raise KeyboardInterrupt

    status = deploy(
        clients("cloudformation"),
        env,
        plan(),
        URL,
        {"GitHubRepository": "acme/shop"},
        assume_yes=False,
        interactive=True,
        ask=interrupted,
    )
    assert status == "CANCELLED"
    stub.assert_no_pending_responses()


def test_latest_operation_ignores_failures_of_earlier_operations():
    older = [
        event(
            2,
            STACK_ID,
            "pipekit-dev",
            "AWS::CloudFormation::Stack",
            "UPDATE_IN_PROGRESS",
            "User Initiated",
            physical=STACK_ID,
        ),
        event(1, STACK_ID, "Old", "AWS::SNS::Topic", "UPDATE_FAILED", "an old failure"),
    ]
    newer = [
        event(9, STACK_ID, "Bucket", "AWS::S3::Bucket", "UPDATE_FAILED", "the new failure"),
        event(
            8,
            STACK_ID,
            "pipekit-dev",
            "AWS::CloudFormation::Stack",
            "UPDATE_IN_PROGRESS",
            "User Initiated",
            physical=STACK_ID,
        ),
    ]
    latest = latest_operation(newer + older)
    assert latest == newer
    assert first_cause({STACK_ID: latest}, STACK_ID)["ResourceStatusReason"] == "the new failure"


def test_clients_for_the_emulator_outwait_its_synchronous_stack_operations():
    """AWS returns from ExecuteChangeSet at once; the emulator returns when the operation is
    done (a rolling update waits for each new instance's launch deployment). Its clients keep
    AWS's retries but wait long enough not to retry a call that is still being carried out."""
    import boto3

    from pipekit.harness.session import EMULATOR_READ_TIMEOUT_S, Clients

    session = boto3.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1"
    )
    aws = Clients(session=session)("cloudformation").meta.config
    emulator = Clients(session=session, endpoint_url="http://127.0.0.1:1")("cloudformation")
    assert aws.read_timeout == RETRY_CONFIG.read_timeout == 60
    assert emulator.meta.config.read_timeout == EMULATOR_READ_TIMEOUT_S > 60
    assert emulator.meta.config.retries == aws.retries == RETRY_CONFIG.retries
