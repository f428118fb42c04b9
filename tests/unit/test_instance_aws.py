"""Where a local host reaches the emulator (pipekit.local.instance_aws)."""

from __future__ import annotations

from pipekit.local import instance_aws


def test_the_host_reaches_the_emulator_on_its_link_at_the_emulator_port():
    assert instance_aws.endpoint_for("10.247.0.1", "http://127.0.0.1:45123") == (
        "10.247.0.1",
        45123,
        "http://10.247.0.1:45123",
    )
    assert instance_aws.emulator_target("http://127.0.0.1:45123") == ("127.0.0.1", 45123)
