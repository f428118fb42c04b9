"""The quality gates on the templates, inside the test suite: cfn-lint with informational rules
(zero findings), and every exception written on its resource with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cfnlint.api import ManualArgs, lint_file

from pipekit.cfn.template import load_template
from pipekit.harness.ami import PUBLIC_PARAMETER

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").glob("*.yaml"))
IDS = [p.name for p in TEMPLATES]


@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_cfn_lint_finds_nothing_with_informational_rules(path: Path) -> None:
    matches = lint_file(path, config=ManualArgs(include_checks=["I"]))
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_every_exception_sits_on_its_resource_with_a_reason(path: Path) -> None:
    doc = load_template(path)
    assert "Metadata" not in doc or "cfn-lint" not in doc["Metadata"], "no template-wide ignores"
    for name, res in doc["Resources"].items():
        metadata = res.get("Metadata", {})
        for skip in metadata.get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV"), (name, skip)
            assert len(skip.get("comment", "")) >= 40, f"{name}: {skip['id']} needs its reason"
        ignored = metadata.get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
        assert not ignored, f"{name} ignores cfn-lint rules {ignored}: fix them instead"


def test_cfnlintrc_includes_informational_rules() -> None:
    config = yaml.safe_load((ROOT / ".cfnlintrc.yaml").read_text())
    assert config["include_checks"] == ["I"]
    assert config["templates"] == ["templates/*.yaml"]
    assert "ignore_checks" not in config


def test_taskcat_config_tests_both_modes_with_the_template_bucket_pseudo_parameters() -> None:
    config = yaml.safe_load((ROOT / ".taskcat.yml").read_text())
    project = config["project"]
    root = load_template(ROOT / project["template"])
    assert project["parameters"]["TemplateBucketName"] == "$[taskcat_autobucket]"
    assert project["parameters"]["TemplateKeyPrefix"] == f"{project['name']}/"
    assert project["parameters"]["TemplateBucketRegion"] == "$[taskcat_current_region]"
    # taskcat reads the public parameter in each test's region (aws-ia/taskcat
    # _template_params.py, $[taskcat_ssm_<path>]): the same image a first make deploy chooses
    assert project["parameters"]["AmiId"] == f"$[taskcat_ssm_{PUBLIC_PARAMETER}]"
    modes = set()
    for test in config["tests"].values():
        values = {**project["parameters"], **test.get("parameters", {})}
        assert set(values) <= set(root["Parameters"])
        required = {n for n, spec in root["Parameters"].items() if "Default" not in spec}
        assert required <= set(values)
        modes.add(values.get("DeploymentMode", root["Parameters"]["DeploymentMode"]["Default"]))
        assert 1 <= len(test.get("regions", project["regions"])) <= 2
    assert modes == {"single", "fleet"}


def test_taskcat_does_not_package_lambda_sources() -> None:
    """taskcat packages Lambda sources with Docker by default, and `taskcat test run` stops with a
    DockerException before creating anything where there is no Docker; there is no Lambda source
    here (aws-ia/taskcat taskcat/_config.py: package_lambda defaults to True)."""
    config = yaml.safe_load((ROOT / ".taskcat.yml").read_text())
    assert config["project"]["package_lambda"] is False
    assert not (ROOT / "lambda_functions").exists()
