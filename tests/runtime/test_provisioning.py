"""Configuration as code (配置即代码): provisioning files applied at start in one transaction,
read-only afterwards, removed when the files drop them; ``${ENV}`` / ``$__file{}`` references.

In process over SQLite and a throwaway PostgreSQL schema (the ``database_url`` fixture); the real
``serve`` start is tests/runtime/test_provisioning_serve.py."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shopsentinel.api.provisioning.expand import ExpansionError, expand, expand_tree, is_reference
from shopsentinel.api.provisioning.loader import ProvisioningError, load_directory
from shopsentinel.core.clock import ManualClock
from shopsentinel.notify import builtin_registry
from shopsentinel.store.db import open_database
from shopsentinel.store.state import AuditRow, ChannelRow, ProvisionedObjectRow, RoutingConfigRow
from shopsentinel.store.users import UserInput, create_user
from tests.support.service import START

TOKEN, SIGN = "prov-robot-token", "SECprov-robot-sign-secret"


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


def add_users(database_url: str, *names: str) -> None:
    engine, sessions = open_database(database_url)
    try:
        with sessions() as session:
            for name in names:
                create_user(session, UserInput(name, password="provisioning-pass-1"), START)
            session.commit()
    finally:
        engine.dispose()


CHANNELS = """\
    apiVersion: 1
    channels:
      - name: ops-robot
        kind: dingtalk
        medium: im
        receiver: ops
        settings:
          access_token: ${PROV_TOKEN}
          secret: $__file{%s}
          base_url: http://127.0.0.1:9
"""
ROUTING = """\
    apiVersion: 1
    routing:
      route:
        receiver: ops
        escalation_policy: store-ops
    subscriptions:
      - name: lead-tmall
        role: ops_lead
        platforms: [tmall]
        min_severity: warning
    escalationPolicies:
      - name: store-ops
        steps:
          - {after_minutes: 0, role: ops_lead}
          - {after_minutes: 30, role: director}
    oncallSchedules:
      - role: ops_lead
        members: [alice, bob]
        rotation_start: "2026-11-02T01:00:00Z"
"""


@pytest.fixture
def provisioning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret_key: None) -> Path:
    monkeypatch.setenv("PROV_TOKEN", TOKEN)
    sign_file = tmp_path / "sign.txt"
    sign_file.write_text(SIGN + "\n")
    return write(tmp_path / "prov", {"channels.yaml": CHANNELS % sign_file, "routing.yaml": ROUTING})


# --- ${ENV} and $__file{} --------------------------------------------------------------------------

def test_references_expand_from_the_environment_and_files(tmp_path: Path) -> None:
    secret = tmp_path / "s.txt"
    secret.write_text("from-file\n")
    env = {"A": "alpha", "B": ""}
    assert expand("x-${A}-$__env{A}", env) == "x-alpha-alpha"
    assert expand("${B}", env) == ""
    assert expand(f"$__file{{{secret}}}", env) == "from-file"  # one trailing newline dropped
    assert expand("price $$5 and $A", env) == "price $5 and $A"  # $$ is a literal $, bare $A is not a reference
    assert is_reference("${A}") and is_reference(f"$__file{{{secret}}}")
    assert not is_reference("literal") and not is_reference("$$")


@pytest.mark.parametrize(("text", "says"), [
    ("${MISSING_VAR}", "MISSING_VAR"),
    ("$__file{relative/path}", "绝对路径"),
    ("$__file{/nonexistent/prov/secret}", "不存在"),
])  # fmt: skip
def test_a_reference_that_cannot_be_resolved_is_an_error_not_an_empty_value(text: str, says: str) -> None:
    with pytest.raises(ExpansionError) as caught:
        expand(text, {})
    assert says in str(caught.value)
    data, problems = expand_tree({"a": [{"b": text}]}, {})
    assert data == {"a": [{"b": text}]} and [p for p, _ in problems] == [("a", 0, "b")]


# --- validation: the API's own validators ----------------------------------------------------------

def test_every_problem_is_listed_with_file_line_and_field_chinese_first(tmp_path: Path) -> None:
    directory = write(tmp_path / "bad", {
        "a.yaml": """\
            apiVersion: 1
            subscriptions:
              - name: s1
                role: cashier
              - name: s2
                user: alice
                platforms: [ebay]
            escalationPolicies:
              - name: p1
                steps:
                  - {after_minutes: 5, role: ops_lead}
                  - {after_minutes: 1, role: director}
        """,
        "b.yaml": """\
            apiVersion: 2
            channels:
              - name: bad name
                kind: dingtalk
                medium: im
                settings: {access_token: x}
              - name: r2
                kind: carrier-pigeon
                medium: im
                settings: {}
            routing:
              route: {receiver: ops, group_wait_seconds: -1}
        """,
    })  # fmt: skip
    with pytest.raises(ProvisioningError) as caught:
        load_directory(directory, builtin_registry(), env={})
    lines = {(Path(p.file).name, p.line, p.field) for p in caught.value.problems}
    assert ("a.yaml", 4, "subscriptions[0].role") in lines  # unknown role: the model's own validator
    assert ("a.yaml", 7, "subscriptions[1].platforms[0]") in lines
    assert ("a.yaml", 10, "escalationPolicies[0].steps") in lines  # steps out of order
    assert ("b.yaml", 1, "apiVersion") in lines
    assert ("b.yaml", 3, "channels[0].name") in lines  # ChannelCreate's name pattern
    assert ("b.yaml", 8, "channels[1].kind") in lines
    assert ("b.yaml", 12, "routing.route.group_wait_seconds") in lines
    text = str(caught.value)
    assert text.startswith("配置文件无效")
    first = next(str(p) for p in caught.value.problems if p.field == "subscriptions[0].role")
    assert first.endswith("unknown role; known: ops_lead, cs_supervisor, inventory_manager, ad_optimizer, director")
    assert "取值无效 / " in first  # Chinese first, then English


def test_people_duplicates_and_literal_secrets(tmp_path: Path) -> None:
    directory = write(tmp_path / "p", {
        "a.yaml": """\
            apiVersion: 1
            channels:
              - name: hook
                kind: webhook
                medium: im
                settings: {url: "https://example.com/h", secret: plain-literal-secret}
            oncallSchedules:
              - role: ops_lead
                members: [alice, mallory]
                rotation_start: "2026-11-02T01:00:00Z"
        """,
        "b.yaml": """\
            apiVersion: 1
            channels:
              - name: hook
                kind: wecom
                medium: im
                settings: {key: "${K}"}
        """,
    })  # fmt: skip
    with pytest.raises(ProvisioningError) as caught:
        load_directory(directory, builtin_registry(), users={"alice"}, env={"K": "k"})
    found = {(Path(p.file).name, p.line, p.field): p for p in caught.value.problems}
    assert "mallory" in found[("a.yaml", 9, "oncallSchedules[0].members")].zh  # store.oncall.validate
    assert "a.yaml line 3" in found[("b.yaml", 3, "channels[0].name")].en  # one name, one object
    # Without the people check and the duplicate, the literal secret is a warning only — never echoed.
    (directory / "b.yaml").unlink()
    plan = load_directory(directory, builtin_registry(), env={})
    assert [(p.field, p.line) for p in plan.warnings] == [("channels[0].settings.url", 6),
                                                          ("channels[0].settings.secret", 6)]  # both SecretStr
    assert "plain-literal-secret" not in str(plan.warnings)


# --- start-up ----------------------------------------------------------------------------------------

def test_files_are_applied_at_start_marked_and_read_only(
    database_url: str, clock: ManualClock, provisioning: Path, api_factory: Any
) -> None:
    add_users(database_url, "alice", "bob")
    api = api_factory(database_url, clock, provisioning_dir=provisioning)
    channels = api.get("/api/v1/channels").json()
    assert [(c["name"], c["receiver"], c["provisioned_from"]) for c in channels] == [
        ("ops-robot", "ops", str(provisioning / "channels.yaml"))]
    assert channels[0]["secret_fields"] == ["access_token", "secret", "callback_secret"] and TOKEN not in str(channels)
    with api.service.sessions() as session:  # the secrets are sealed at rest
        stored = session.scalars(select(ChannelRow)).one().settings
    assert TOKEN not in str(stored) and SIGN not in str(stored)
    routing_file = str(provisioning / "routing.yaml")
    routing = api.get("/api/v1/routing").json()
    assert routing["config"]["route"]["escalation_policy"] == "store-ops" and routing["provisioned_from"] == routing_file
    subs = api.get("/api/v1/subscriptions").json()
    assert [(s["subscription"]["role"], s["provisioned_from"]) for s in subs] == [("ops_lead", routing_file)]
    assert api.get("/api/v1/escalation-policies").json()[0]["provisioned_from"] == routing_file
    schedules = api.get("/api/v1/oncall").json()["schedules"]
    assert [(s["role"], s["members"], s["provisioned_from"]) for s in schedules] == [("ops_lead", ["alice", "bob"], routing_file)]

    refusals = [
        api.put("/api/v1/channels", json={"name": "ops-robot", "kind": "wecom", "medium": "im", "settings": {"key": "k"}}),
        api.delete("/api/v1/channels/ops-robot"),
        api.put("/api/v1/routing", json={"route": {"receiver": "x"}}),
        api.delete(f"/api/v1/subscriptions/{subs[0]['id']}"),
        api.put("/api/v1/escalation-policies/store-ops", json={"name": "store-ops", "steps": [{"after_minutes": 0, "user": "bob"}]}),
        api.delete("/api/v1/escalation-policies/store-ops"),
        api.put("/api/v1/oncall", json={"schedules": [{"role": "ops_lead", "members": ["bob"]}]}),
    ]
    for response in refusals:
        assert response.status_code == 409, response.text
        assert response.json()["detail"].startswith("该配置由文件 ")
    assert "managed by provisioning file " + str(provisioning / "channels.yaml") in refusals[0].json()["detail"]
    assert api.get("/api/v1/channels").json()[0]["kind"] == "dingtalk"  # nothing changed
    # Objects made through the API beside them stay editable.
    made = api.put("/api/v1/channels", json={"name": "web-hook", "kind": "wecom", "medium": "im", "settings": {"key": "k"}})
    assert made.status_code == 200 and made.json()["provisioned_from"] is None


def test_a_restart_without_an_object_removes_it_if_provisioned_but_never_what_the_web_made(
    database_url: str, clock: ManualClock, provisioning: Path, api_factory: Any
) -> None:
    add_users(database_url, "alice", "bob")
    first = api_factory(database_url, clock, provisioning_dir=provisioning)
    assert first.put("/api/v1/channels", json={"name": "web-hook", "kind": "wecom", "medium": "im",
                                                "settings": {"key": "k"}}).status_code == 200
    first.service.close()
    (provisioning / "routing.yaml").write_text(textwrap.dedent("""\
        apiVersion: 1
        deleteChannels:
          - name: never-existed
    """))
    second = api_factory(database_url, clock, provisioning_dir=provisioning)
    assert [c["name"] for c in second.get("/api/v1/channels").json()] == ["ops-robot", "web-hook"]
    assert second.get("/api/v1/subscriptions").json() == []
    assert second.get("/api/v1/escalation-policies").json() == []
    assert second.get("/api/v1/oncall").json()["schedules"] == []
    routing = second.get("/api/v1/routing").json()
    assert routing["provisioned_from"] is None and routing["config"]["route"]["escalation_policy"] is None
    assert second.put("/api/v1/routing", json={"route": {"receiver": "default"}}).status_code == 200  # editable again
    with second.service.sessions() as session:
        kinds = sorted(session.scalars(select(ProvisionedObjectRow.kind)).all())
    assert kinds == ["channel"]


def test_an_invalid_file_refuses_the_start_and_changes_nothing(
    database_url: str, clock: ManualClock, provisioning: Path, api_factory: Any
) -> None:
    add_users(database_url, "alice", "bob")
    api_factory(database_url, clock, provisioning_dir=provisioning).service.close()
    engine, sessions = open_database(database_url)
    try:
        def snapshot() -> tuple[Any, ...]:
            with sessions() as session:
                return (session.scalars(select(ChannelRow.settings)).all(), session.scalar(select(func.max(RoutingConfigRow.version))),
                        session.scalars(select(ProvisionedObjectRow.source_file)).all(), session.scalar(select(func.count(AuditRow.id))))

        before = snapshot()
        (provisioning / "routing.yaml").write_text((provisioning / "routing.yaml").read_text().replace(
            "role: ops_lead\n    platforms", "role: ops_leed\n    platforms"))
        (provisioning / "extra.yaml").write_text("apiVersion: 1\nchannels:\n  - name: second\n    kind: wecom\n"
                                                 "    medium: im\n    settings: {key: k}\n")
        with pytest.raises(ProvisioningError) as caught:
            api_factory(database_url, clock, provisioning_dir=provisioning)
        assert [(Path(p.file).name, p.line, p.field) for p in caught.value.problems] == [
            ("routing.yaml", 8, "subscriptions[0].role")]
        assert snapshot() == before  # neither the valid extra.yaml nor anything else was applied
    finally:
        engine.dispose()


def test_the_web_pages_show_the_badge_and_no_edit_controls_and_refuse_changes(
    database_url: str, clock: ManualClock, provisioning: Path
) -> None:
    from tests.web.conftest import ADMIN_TOKEN, Client, make_app

    add_users(database_url, "alice", "bob")
    app = make_app(database_url, clock, provisioning_dir=provisioning)
    try:
        web = Client(app)
        assert web.login("admin").status_code == 303
        routing_file = str(provisioning / "routing.yaml")
        for page, gone in (("/channels", None), ("/routing", "/escalation/store-ops/delete"), ("/oncall", "/oncall/ops_lead/delete")):
            html = web.get(page).text
            assert "由配置文件管理" in html, page
            assert gone is None or gone not in html, page
        assert "/subscriptions/" not in web.get("/routing").text.split("h-esc")[0].split("<tbody>")[1]  # no delete form
        assert f"该配置由文件 {routing_file} 管理" in web.get("/routing").text  # the badge's title names the file
        refused = web.form("/escalation/store-ops/delete")
        assert refused.status_code == 409 and routing_file in refused.text
        saved = web.form("/oncall", {"role": "ops_lead", "member0": "bob", "rotation_days": "7"})
        assert saved.status_code == 409 and routing_file in saved.text
        channel = web.form("/channels", {"kind": "wecom", "name": "ops-robot", "medium": "im", "cfg_key": "k"})
        assert channel.status_code == 409 and str(provisioning / "channels.yaml") in channel.text
        assert [s["members"] for s in Client(app, ADMIN_TOKEN).get("/api/v1/oncall").json()["schedules"]] == [["alice", "bob"]]
    finally:
        app.state.service.close()
