import json
from pathlib import Path

import pytest
from sample_app import VERSION_KEYS, create_app, load_version


def write_version(tmp_path: Path, **values: str) -> Path:
    path = tmp_path / "version.json"
    path.write_text(json.dumps(values))
    return path


@pytest.fixture
def record() -> dict[str, str]:
    return {
        "commit": "3f2a9c1d0e",
        "build_id": "sample-app-build:1b2c",
        "pipeline_execution_id": "exec-42",
        "build_time": "2026-01-02T03:04:05Z",
    }


def test_version_reports_the_build_record(tmp_path: Path, record: dict[str, str]) -> None:
    client = create_app(write_version(tmp_path, **record)).test_client()
    resp = client.get("/version")
    assert resp.status_code == 200
    assert resp.get_json() == record


def test_health_ok_with_a_version_record(tmp_path: Path, record: dict[str, str]) -> None:
    client = create_app(write_version(tmp_path, **record)).test_client()
    assert client.get("/health").status_code == 200


def test_health_unavailable_without_version_record(tmp_path: Path) -> None:
    client = create_app(tmp_path / "missing.json").test_client()
    assert client.get("/health").status_code == 503
    assert client.get("/version").status_code == 503


def test_health_unavailable_with_empty_commit(tmp_path: Path, record: dict[str, str]) -> None:
    record["commit"] = ""
    client = create_app(write_version(tmp_path, **record)).test_client()
    assert client.get("/health").status_code == 503


def test_index_shows_commit_and_build(tmp_path: Path, record: dict[str, str]) -> None:
    client = create_app(write_version(tmp_path, **record)).test_client()
    page = client.get("/").get_data(as_text=True)
    assert record["commit"] in page
    assert record["build_id"] in page


def test_load_version_keeps_only_known_keys(tmp_path: Path) -> None:
    path = write_version(tmp_path, commit="abc", extra="x")
    loaded = load_version(path)
    assert loaded is not None
    assert set(loaded) == set(VERSION_KEYS)
    assert loaded["commit"] == "abc"
    assert loaded["build_id"] == ""


def test_load_version_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "version.json"
    path.write_text("not json")
    assert load_version(path) is None


def test_index_shows_the_greeting_setting(
    tmp_path: Path, record: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREETING", "Hello <from> Parameter Store")
    page = (
        create_app(write_version(tmp_path, **record)).test_client().get("/").get_data(as_text=True)
    )
    # shown, HTML-escaped
    assert 'id="greeting">Hello &lt;from&gt; Parameter Store<' in page


def test_index_without_a_greeting_shows_none(
    tmp_path: Path, record: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GREETING", raising=False)
    page = (
        create_app(write_version(tmp_path, **record)).test_client().get("/").get_data(as_text=True)
    )
    assert 'id="greeting"' not in page
