"""What a local host's /etc/sample-app/env holds: the lines the instance's user data writes
(pipekit.local.autoscaling.app_env over the template's own rendered user data)."""

from __future__ import annotations

from pipekit.local.autoscaling import app_env
from tests.support.userdata import user_data


def test_the_host_env_file_has_the_config_path_and_region_the_user_data_writes():
    env = app_env(user_data("/team/x/app/"))
    assert env["APP_CONFIG_PATH"] == "/team/x/app/"
    assert env["AWS_REGION"] == "eu-west-3"
    assert env["PORT"] == "8081"
