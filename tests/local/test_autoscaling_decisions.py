"""Local mode's Auto Scaling decisions (pipekit/local/autoscaling.py) as plain functions: which
Elastic IP the user data claims, CodeDeploy's answer to the launch hook, the size local hosts
allow."""

from __future__ import annotations

from pathlib import Path

from pipekit.cfn.template import load_template
from pipekit.local.autoscaling import allocation_id, answer, too_many

ROOT = Path(__file__).resolve().parents[2]


def test_the_user_data_names_the_elastic_ip_it_claims() -> None:
    script = "#!/bin/bash\nSTACK='s'\nALLOCATION_ID='eipalloc-0abc123'\nSTEP=start\n"
    assert allocation_id(script) == "eipalloc-0abc123"
    assert allocation_id("ALLOCATION_ID=''\n") is None  # fleet mode: no address to claim
    assert allocation_id("") is None
    # the template's user data still has that line (what the local claim reads)
    template = load_template(ROOT / "templates" / "ec2.yaml")
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    script = data["UserData"]["Fn::Base64"]["Fn::Sub"][0]
    assert "\nALLOCATION_ID='${AllocationId}'\n" in script


def test_codedeploys_answer_to_the_launch_hook() -> None:
    revision = {"deploymentId": "d-1", "revision": {}}
    assert answer(None, None) == "CONTINUE"  # no successful revision yet: nothing to deploy
    assert answer(revision, {"status": "Succeeded"}) == "CONTINUE"
    assert answer(revision, {"status": "Failed"}) == "ABANDON"
    assert answer(revision, None) == "ABANDON"


def test_local_hosts_allow_one_instance_per_group() -> None:
    assert too_many(0) is None and too_many(1) is None
    assert "share this machine's network" in (too_many(2) or "")
