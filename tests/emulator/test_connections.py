"""The connections APIs the emulator adds (moto has none), checked through boto3, whose
parsers follow the botocore service models."""

from __future__ import annotations

import io
import json
import urllib.request
from typing import Any

import pytest
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer

from pipekit.emulator import set_connection_status
from pipekit.emulator.convert import service_model

SERVICES = ("codeconnections", "codestar-connections")


@pytest.mark.parametrize("service", SERVICES)
def test_lifecycle_of_a_connection(aws: Any, service: str) -> None:
    client = aws.client(service)
    created = client.create_connection(
        ConnectionName="github", ProviderType="GitHub", Tags=[{"Key": "team", "Value": "ci"}]
    )
    arn = created["ConnectionArn"]
    assert arn.startswith(f"arn:aws:{service}:us-east-1:123456789012:connection/")
    assert created["Tags"] == [{"Key": "team", "Value": "ci"}]
    connection = client.get_connection(ConnectionArn=arn)["Connection"]
    assert connection == {
        "ConnectionName": "github",
        "ConnectionArn": arn,
        "ProviderType": "GitHub",
        "OwnerAccountId": "123456789012",
        "ConnectionStatus": "PENDING",
    }
    set_connection_status(arn, "AVAILABLE")
    assert client.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"] == (
        "AVAILABLE"
    )
    listed = client.list_connections(ProviderTypeFilter="GitHub")["Connections"]
    assert [c["ConnectionArn"] for c in listed] == [arn]
    assert client.list_connections(ProviderTypeFilter="Bitbucket")["Connections"] == []
    client.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    client.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "env", "Value": "dev"}
    ]
    client.delete_connection(ConnectionArn=arn)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_connection(ConnectionArn=arn)


def test_list_connections_pages(aws: Any) -> None:
    client = aws.client("codeconnections")
    arns = {
        client.create_connection(ConnectionName=f"c{i}", ProviderType="GitHub")["ConnectionArn"]
        for i in range(5)
    }
    seen: list[str] = []
    page = client.list_connections(MaxResults=2)
    while True:
        assert len(page["Connections"]) <= 2
        seen += [c["ConnectionArn"] for c in page["Connections"]]
        if "NextToken" not in page:
            break
        page = client.list_connections(MaxResults=2, NextToken=page["NextToken"])
    assert len(seen) == 5 and set(seen) == arns


def test_set_connection_status_rejects_unknown_values_and_arns(aws: Any) -> None:
    arn = aws.client("codeconnections").create_connection(
        ConnectionName="x", ProviderType="GitHub"
    )["ConnectionArn"]
    with pytest.raises(ValueError, match="AVAILABLE"):
        set_connection_status(arn, "DONE")
    with pytest.raises(Exception, match="does not exist"):
        set_connection_status(arn + "0", "AVAILABLE")


def test_reset_forgets_connections(aws: Any) -> None:
    client = aws.client("codestar-connections")
    client.create_connection(ConnectionName="x", ProviderType="GitHub")
    aws.reset()
    assert client.list_connections()["Connections"] == []


def _cbor_call(endpoint: str, operation: str, params: dict[str, Any]) -> tuple[int, Any]:
    """A codeconnections call in Smithy RPC v2 CBOR, the protocol botocore prefers for it."""
    model = service_model("codeconnections").operation_model(operation)
    body = bytearray()
    RpcV2CBORSerializer()._serialize_data_item(body, params, model.input_shape)
    request = urllib.request.Request(
        f"{endpoint}/service/CodeConnections_20231201/operation/{operation}",
        data=bytes(body),
        method="POST",
        headers={
            "Content-Type": "application/cbor",
            "Accept": "application/cbor",
            "smithy-protocol": "rpc-v2-cbor",
            # moto does not check signatures; the credential scope names the service.
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/"
            "codeconnections/aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, payload = response.status, response.read()
            assert response.headers["smithy-protocol"] == "rpc-v2-cbor"
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    parsed = RpcV2CBORParser().parse_data_item(io.BufferedReader(io.BytesIO(payload)))
    return status, parsed


def test_cbor_protocol(aws: Any) -> None:
    status, created = _cbor_call(
        aws.endpoint_url, "CreateConnection", {"ConnectionName": "cbor", "ProviderType": "GitHub"}
    )
    assert status == 200
    arn = created["ConnectionArn"]
    status, got = _cbor_call(aws.endpoint_url, "GetConnection", {"ConnectionArn": arn})
    assert got["Connection"]["ConnectionStatus"] == "PENDING"
    # The same connection through the JSON protocol boto3 uses.
    json_view = aws.client("codeconnections").get_connection(ConnectionArn=arn)["Connection"]
    assert json_view == got["Connection"]
    status, error = _cbor_call(aws.endpoint_url, "GetConnection", {"ConnectionArn": arn + "0"})
    assert status == 400 and error["__type"] == "ResourceNotFoundException"


def test_create_requires_a_provider_or_host(aws: Any) -> None:
    client = aws.client("codeconnections")
    with pytest.raises(client.exceptions.InvalidInputException):
        client.create_connection(ConnectionName="no-provider")


def test_unsigned_json_request_is_routed_by_its_target_header(aws: Any) -> None:
    request = urllib.request.Request(
        aws.endpoint_url + "/",
        data=b'{"ConnectionName": "unsigned", "ProviderType": "GitHub"}',
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "com.amazonaws.codestar.connections.CodeStar_connections_20191201"
            ".CreateConnection",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        arn = json.loads(response.read())["ConnectionArn"]
    assert arn.startswith("arn:aws:codestar-connections:us-east-1:")
    assert aws.client("codestar-connections").get_connection(ConnectionArn=arn)
