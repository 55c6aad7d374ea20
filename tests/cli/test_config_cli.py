"""``shopsentinel config check DIR`` (no database write; exit 0, or 1 with every problem by file, line
and field) and ``config export DIR`` (the stored configuration as provisioning files, secrets as
``${ENV}`` placeholders); the example files of docs/provisioning pass the check."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from shopsentinel.cli import app
from shopsentinel.store.users import UserInput, create_user
from tests.support.service import START, Api

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "provisioning"
EXAMPLE_ENV = {"SHOPSENTINEL_DINGTALK_TOKEN": "t", "SHOPSENTINEL_DINGTALK_SECRET": "SECs",
               "ALIYUN_ACCESS_KEY_ID": "id", "ALIYUN_ACCESS_KEY_SECRET": "secret"}
runner = CliRunner()


def test_the_documented_examples_pass_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["config", "check", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert "配置有效 / valid: 5 个文件" in result.output
    assert "2 channel(s), 2 subscription(s), 1 escalation policy(ies), 1 on-call schedule(s), routing: yes" in result.output
    monkeypatch.delenv("ALIYUN_ACCESS_KEY_SECRET")  # the examples need their variables: without one, exit 1
    missing = runner.invoke(app, ["config", "check", str(EXAMPLES)])
    assert missing.exit_code == 1
    assert "channels.yaml:18: channels[1].settings.access_key_secret: 环境变量 ALIYUN_ACCESS_KEY_SECRET 未设置" in missing.output


def test_a_bad_directory_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(textwrap.dedent("""\
        apiVersion: 1
        escalationPolicies:
          - name: p
            steps: [{after_minutes: 0, role: night_owl}]
        oncallSchedules:
          - role: ops_lead
            members: [alice]
    """))
    (tmp_path / "b.yml").write_text("apiVersion: 1\nchannels: [\n")
    (tmp_path / "c.yaml").write_text("apiVersion: 1\nsubscriptionz: []\n")
    result = runner.invoke(app, ["config", "check", str(tmp_path)])
    assert result.exit_code == 1
    out = result.output
    assert f"{tmp_path / 'a.yaml'}:4: escalationPolicies[0].steps[0].role: 未知角色 'night_owl'" in out
    assert f"{tmp_path / 'a.yaml'}:6: oncallSchedules[0].rotation_start: 文件中须给出" in out
    assert f"{tmp_path / 'b.yml'}:3: (file): 不是有效的 YAML" in out
    assert f"{tmp_path / 'c.yaml'}:2: subscriptionz: 未知的配置段" in out


def test_a_literal_secret_passes_with_a_warning_that_never_shows_it(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("apiVersion: 1\nchannels:\n  - {name: w, kind: wecom, medium: im, settings: {key: my-literal-key}}\n")
    result = runner.invoke(app, ["config", "check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "警告 / warning:" in result.output and "channels[0].settings.key" in result.output
    assert "my-literal-key" not in result.output


def test_people_are_checked_against_a_database_when_one_is_given(api: Api, tmp_path: Path) -> None:
    with api.service.sessions() as session:
        create_user(session, UserInput("alice", password="provisioning-pass-1"), START)
        session.commit()
    (tmp_path / "o.yaml").write_text(textwrap.dedent("""\
        apiVersion: 1
        oncallSchedules:
          - role: ops_lead
            members: [alice, zed]
            rotation_start: "2026-11-02T01:00:00Z"
    """))
    url = api.service.settings.database_url
    assert runner.invoke(app, ["config", "check", str(tmp_path)]).exit_code == 0  # no database: people unchecked
    result = runner.invoke(app, ["config", "check", str(tmp_path), "--database-url", url])
    assert result.exit_code == 1 and "oncallSchedules[0].members: 用户不存在：zed" in result.output


def test_export_writes_the_stored_configuration_with_placeholders_that_check_back(
    api: Api, tmp_path: Path, secret_key: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.put("/api/v1/channels", json={"name": "ops-robot", "kind": "dingtalk", "medium": "im", "receiver": "ops",
                                             "settings": {"access_token": "real-token-value", "secret": "SECreal-sign"}}).status_code == 200
    assert api.post("/api/v1/subscriptions", json={"role": "director", "min_severity": "critical"}).status_code == 201
    assert api.put("/api/v1/escalation-policies/p", json={"name": "p", "steps": [{"after_minutes": 0, "role": "ops_lead"}]}).status_code == 200
    assert api.put("/api/v1/routing", json={"route": {"receiver": "ops", "escalation_policy": "p"}}).status_code == 200
    out = tmp_path / "exported"
    result = runner.invoke(app, ["config", "export", str(out), "--database-url", api.service.settings.database_url])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["channels.yaml", "escalation.yaml", "routing.yaml", "subscriptions.yaml"]
    text = "".join(p.read_text() for p in out.iterdir())
    assert "real-token-value" not in text and "SECreal-sign" not in text
    channel = yaml.safe_load((out / "channels.yaml").read_text())["channels"][0]
    assert channel["settings"]["access_token"] == "${SHOPSENTINEL_CHANNEL_OPS_ROBOT_ACCESS_TOKEN}"
    assert yaml.safe_load((out / "subscriptions.yaml").read_text())["subscriptions"][0]["name"] == "subscription-1"
    assert "SHOPSENTINEL_CHANNEL_OPS_ROBOT_SECRET" in result.output
    monkeypatch.setenv("SHOPSENTINEL_CHANNEL_OPS_ROBOT_ACCESS_TOKEN", "t")
    monkeypatch.setenv("SHOPSENTINEL_CHANNEL_OPS_ROBOT_SECRET", "SECs")
    checked = runner.invoke(app, ["config", "check", str(out)])
    assert checked.exit_code == 0, checked.output
    assert "1 channel(s), 1 subscription(s), 1 escalation policy(ies), 0 on-call schedule(s), routing: yes" in checked.output
