"""The Stubber-backed clients the harness tests use refuse what was not queued."""

import pytest
from botocore.exceptions import UnStubbedResponseError

from tests.support.harness import StubbedClients


def test_stubbed_clients_refuse_unqueued_calls():
    clients = StubbedClients()
    with pytest.raises(UnStubbedResponseError):
        clients("s3").create_bucket(Bucket="nope")
