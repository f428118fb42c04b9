"""The CodeBuild emulation (phases, shell state, failures, artifacts, reports), the real build."""

from __future__ import annotations

import json
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from pipekit.local.runtime.buildrunner import BuildspecError, run_build, write_zip

REPO = Path(__file__).resolve().parents[2]
# The build's python3 is this environment's (Flask, gunicorn, pytest already at the app's pins).
BUILD_PATH = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"


def make_source(tmp_path: Path, buildspec: str, files: dict[str, str] | None = None) -> Path:
    src = tmp_path / "source"
    src.mkdir()
    (src / "buildspec.yml").write_text(textwrap.dedent(buildspec))
    for name, text in (files or {}).items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return src


def phase_status(result) -> dict[str, str]:
    return {p.name: p.status for p in result.phases}


def test_env_and_cwd_persist_across_commands_and_phases(tmp_path: Path) -> None:
    src = make_source(
        tmp_path,
        """
        version: 0.2
        env:
          shell: bash
          variables:
            GREETING: from-buildspec
          exported-variables: [RESULT, GREETING]
        phases:
          install:
            commands:
              - export FIRST=one
              - mkdir -p sub && cd sub
          build:
            commands:
              - export RESULT="$FIRST-$(basename "$PWD")-$GREETING"
        """,
    )
    result = run_build(src, tmp_path / "work", {"PATH": BUILD_PATH})
    assert result.status == "SUCCEEDED"
    assert result.exported_variables == {
        "RESULT": "one-sub-from-buildspec",
        "GREETING": "from-buildspec",
    }


def test_caller_variables_override_buildspec_variables(tmp_path: Path) -> None:
    src = make_source(
        tmp_path,
        """
        version: 0.2
        env:
          variables: {COMMIT_ID: from-buildspec}
          exported-variables: [COMMIT_ID, SEEN_ID]
        phases:
          build:
            commands:
              - export SEEN_ID="$CODEBUILD_BUILD_ID"
        """,
    )
    result = run_build(src, tmp_path / "work", {"PATH": BUILD_PATH, "COMMIT_ID": "c0ffee"})
    assert result.exported_variables["COMMIT_ID"] == "c0ffee"
    project, _, build_uuid = result.exported_variables["SEEN_ID"].partition(":")
    assert project == "sample-app-build"
    assert len(build_uuid) == 36
    assert result.env["CODEBUILD_SRC_DIR"] == str(tmp_path / "work" / "src")
    assert result.env["CODEBUILD_INITIATOR"].startswith("codepipeline/")
    assert result.env["CODEBUILD_START_TIME"].isdigit()


def test_pre_build_failure_skips_later_phases_and_artifacts(tmp_path: Path) -> None:
    src = make_source(
        tmp_path,
        """
        version: 0.2
        phases:
          pre_build:
            commands:
              - "false"
              - touch not-reached
            finally:
              - touch finally-ran
          build:
            commands: [touch build-ran]
          post_build:
            commands: [touch post-ran]
        artifacts:
          files: ['**/*']
        """,
    )
    result = run_build(src, tmp_path / "work", {"PATH": BUILD_PATH})
    work_src = tmp_path / "work" / "src"
    assert result.status == "FAILED"
    assert phase_status(result) == {
        "INSTALL": "SUCCEEDED",
        "PRE_BUILD": "FAILED",
        "BUILD": "SKIPPED",
        "POST_BUILD": "SKIPPED",
    }
    assert (work_src / "finally-ran").exists()
    assert not (work_src / "not-reached").exists()
    assert not (work_src / "build-ran").exists()
    assert result.artifact is None


def test_build_failure_still_runs_post_build_and_sees_succeeding_0(tmp_path: Path) -> None:
    src = make_source(
        tmp_path,
        """
        version: 0.2
        env:
          exported-variables: [SUCCEEDING]
        phases:
          build:
            commands: ["exit 3"]
          post_build:
            commands: ['export SUCCEEDING="$CODEBUILD_BUILD_SUCCEEDING"']
        """,
    )
    result = run_build(src, tmp_path / "work", {"PATH": BUILD_PATH})
    assert result.status == "FAILED"
    assert phase_status(result)["BUILD"] == "FAILED"
    assert phase_status(result)["POST_BUILD"] == "SUCCEEDED"
    assert result.exported_variables["SUCCEEDING"] == "0"
    assert "exit status 3" in next(p.message for p in result.phases if p.name == "BUILD")


def test_artifacts_base_directory_globs_and_modes(tmp_path: Path) -> None:
    src = make_source(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            commands:
              - mkdir -p out/a/b && echo x > out/top.txt && echo y > out/a/b/deep.txt
              - printf '#!/bin/sh\\n' > out/run.sh && chmod +x out/run.sh
              - echo z > out/a/skip.log
        artifacts:
          base-directory: out
          files: ['**/*.txt', run.sh]
        """,
    )
    result = run_build(src, tmp_path / "work", {"PATH": BUILD_PATH})
    assert result.artifact is not None
    with zipfile.ZipFile(result.artifact) as zf:
        assert zf.namelist() == ["a/b/deep.txt", "run.sh", "top.txt"]
        assert (zf.getinfo("run.sh").external_attr >> 16) & 0o111
        assert not (zf.getinfo("top.txt").external_attr >> 16) & 0o111


def test_discard_paths_flattens(tmp_path: Path) -> None:
    src = make_source(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            commands: ["mkdir -p d/e && echo 1 > d/e/one.txt && echo 2 > d/two.txt"]
        artifacts:
          files: ['d/**/*']
          discard-paths: yes
        """,
    )
    result = run_build(src, tmp_path / "work", {"PATH": BUILD_PATH})
    assert result.artifact is not None
    with zipfile.ZipFile(result.artifact) as zf:
        assert zf.namelist() == ["one.txt", "two.txt"]


def test_reports_are_collected_even_when_the_build_fails(tmp_path: Path) -> None:
    src = make_source(
        tmp_path,
        """
        version: 0.2
        phases:
          pre_build:
            commands: ["mkdir -p r && echo '<testsuite/>' > r/junit.xml && false"]
        reports:
          unit-tests:
            files: ['*.xml']
            base-directory: r
        """,
    )
    result = run_build(src, tmp_path / "work", {"PATH": BUILD_PATH})
    assert result.status == "FAILED"
    assert [p.name for p in result.reports["unit-tests"]] == ["junit.xml"]


def test_rejects_other_buildspec_versions(tmp_path: Path) -> None:
    src = make_source(tmp_path, "version: 0.1\nphases: {}\n")
    with pytest.raises(BuildspecError):
        run_build(src, tmp_path / "work", {"PATH": BUILD_PATH})


def test_zip_is_reproducible(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("same")
    one = write_zip([("f.txt", f)], tmp_path / "one.zip").read_bytes()
    f.touch()
    two = write_zip([("f.txt", f)], tmp_path / "two.zip").read_bytes()
    assert one == two


# The project's own buildspec, run on a copy of this repository.


def build_repo(tmp_path: Path, name: str, commit: str, source: Path = REPO):
    env = {"PATH": BUILD_PATH, "COMMIT_ID": commit, "PIPELINE_EXECUTION_ID": f"exec-{name}"}
    return run_build(source, tmp_path / name, env)


def test_project_build_produces_a_self_contained_bundle(tmp_path: Path) -> None:
    commit = "1" * 40
    result = build_repo(tmp_path, "b1", commit)
    assert result.status == "SUCCEEDED", result.log[-3000:]
    assert result.exported_variables == {"COMMIT_ID": commit}
    report = result.reports["unit-tests"]
    assert len(report) == 1
    assert 'failures="0"' in report[0].read_text()
    assert result.artifact is not None
    with zipfile.ZipFile(result.artifact) as zf:
        names = zf.namelist()
        version = json.loads(zf.read("version.json"))
        pins = zf.read("app/requirements.txt").decode().splitlines()
        required = [line.split("==")[0].lower() for line in pins if "==" in line]
        modes = {n: zf.getinfo(n).external_attr >> 16 for n in names}
    assert "appspec.yml" in names
    assert version["commit"] == commit
    assert version["build_id"] == result.build_id
    assert version["pipeline_execution_id"] == "exec-b1"
    assert version["build_time"].endswith("Z")
    wheels = {n.split("/")[1].split("-")[0].lower() for n in names if n.startswith("wheels/")}
    assert set(required) <= wheels
    hooks = [n for n in names if n.startswith("scripts/") and n.endswith(".sh")]
    assert hooks
    assert all(modes[h] & 0o111 for h in hooks)


def test_same_commit_gives_same_bundle_apart_from_build_metadata(tmp_path: Path) -> None:
    one = build_repo(tmp_path, "r1", "2" * 40)
    two = build_repo(tmp_path, "r2", "2" * 40)
    assert one.artifact is not None and two.artifact is not None
    with zipfile.ZipFile(one.artifact) as a, zipfile.ZipFile(two.artifact) as b:
        assert a.namelist() == b.namelist()
        differing = [n for n in a.namelist() if a.read(n) != b.read(n)]
    assert differing == ["version.json"]


def test_failing_unit_test_fails_the_build(tmp_path: Path) -> None:
    from pipekit.local.runtime.buildrunner import copy_source

    source = tmp_path / "checkout"
    copy_source(REPO, source)
    (source / "app/tests/test_zz_broken.py").write_text("def test_broken():\n    assert 1 == 2\n")
    result = build_repo(tmp_path, "bad", "3" * 40, source=source)
    assert result.status == "FAILED"
    assert phase_status(result)["PRE_BUILD"] == "FAILED"
    assert result.artifact is None
    assert 'failures="1"' in result.reports["unit-tests"][0].read_text()
