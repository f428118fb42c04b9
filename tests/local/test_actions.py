"""The action provider registry: the four providers local mode runs, and a clear failure for
any other (the engine records it as the action's error)."""

from __future__ import annotations

import pytest

from pipekit.local import actions
from pipekit.local.actions import approval, build, deploy, source
from pipekit.local.wire import ActionFailed


def test_the_registry_names_each_provider_once():
    registered = dict(actions.PROVIDERS)
    assert registered == {
        "CodeStarSourceConnection": source.run,
        "CodeBuild": build.run,
        "CodeDeploy": deploy.run,
        "Manual": approval.run,
    }
    assert actions.handler_for("CodeBuild") is build.run


def test_an_unknown_provider_is_not_supported_in_local_mode():
    with pytest.raises(ActionFailed) as caught:
        actions.handler_for("Lambda")
    assert caught.value.code == "JobFailed"
    assert caught.value.message == "Action provider Lambda is not supported in local mode"
