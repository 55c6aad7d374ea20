"""Provisioning with a real ``shopsentinel serve`` over PostgreSQL: the files (a DingTalk channel whose
secrets come from ``${ENV}``, the routing tree, a subscription, an escalation policy, an on-call
schedule) are applied at start, shown as provisioned, refused on PUT with 409, and an alert routed
through them reaches the DingTalk fake; a bad file then refuses the start with file, line and field,
and leaves the database as it was."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select

from shopsentinel.sim.channels import FakeDingTalk, run_fake_server
from shopsentinel.store.db import open_database
from shopsentinel.store.state import ChannelRow, ProvisionedObjectRow
from tests.runtime.test_provisioning import add_users, write
from tests.support.processes import (
    CRASH_RULE,
    post_crashes,
    put_ok,
    serve,
    serve_refused,
    service_env,
    wait_for,
)
from tests.support.service import pg_schema

ROBOT_TOKEN, ROBOT_SECRET = "prov-serve-robot-token", "SECprov-serve-robot-secret"

FILES = {
    "channels.yaml": """\
        apiVersion: 1
        channels:
          - name: robot
            kind: dingtalk
            medium: im
            receiver: default
            settings:
              access_token: ${PROV_ROBOT_TOKEN}
              secret: ${PROV_ROBOT_SECRET}
              base_url: ${PROV_ROBOT_URL}
              message_type: markdown
    """,
    "routing.yaml": """\
        apiVersion: 1
        routing:
          route: {receiver: default, group_wait_seconds: 0, escalation_policy: store-ops}
        subscriptions:
          - name: lead-all
            role: ops_lead
            min_severity: warning
        escalationPolicies:
          - name: store-ops
            steps: [{after_minutes: 0, role: ops_lead}]
        oncallSchedules:
          - role: ops_lead
            members: [alice]
            rotation_start: "2026-11-02T01:00:00Z"
    """,
}


@pytest.fixture
def robot() -> Iterator[tuple[FakeDingTalk, str]]:
    fake = FakeDingTalk({ROBOT_TOKEN: ROBOT_SECRET})
    with run_fake_server(fake.app) as base_url:
        yield fake, base_url


def test_serve_applies_the_files_routes_through_them_and_refuses_a_bad_file(
    tmp_path: Path, robot: tuple[FakeDingTalk, str]
) -> None:
    fake, base_url = robot
    directory = write(tmp_path / "provisioning", {k: textwrap.dedent(v) for k, v in FILES.items()})
    with pg_schema("prov") as (_user, _schema, url):
        add_users(url, "alice")
        env = service_env(tmp_path, SHOPSENTINEL_DATABASE_URL=url, SHOPSENTINEL_PROVISIONING_DIR=str(directory),
                          PROV_ROBOT_TOKEN=ROBOT_TOKEN, PROV_ROBOT_SECRET=ROBOT_SECRET, PROV_ROBOT_URL=base_url)
        with ExitStack() as stack:
            server = serve(stack, tmp_path, env, "provisioned")
            channels = server.get("/api/v1/channels")
            assert [(c["name"], c["provisioned_from"]) for c in channels] == [("robot", str(directory / "channels.yaml"))]
            assert ROBOT_TOKEN not in str(channels) and ROBOT_SECRET not in str(channels)
            routing_file = str(directory / "routing.yaml")
            assert server.get("/api/v1/routing")["provisioned_from"] == routing_file
            assert [s["provisioned_from"] for s in server.get("/api/v1/subscriptions")] == [routing_file]
            assert [p["provisioned_from"] for p in server.get("/api/v1/escalation-policies")] == [routing_file]
            assert [s["provisioned_from"] for s in server.get("/api/v1/oncall")["schedules"]] == [routing_file]
            refused = server.client.put("/api/v1/channels", json={"name": "robot", "kind": "wecom", "medium": "im",
                                                                   "settings": {"key": "k"}})
            assert refused.status_code == 409 and refused.json()["detail"].startswith(f"该配置由文件 {directory / 'channels.yaml'} 管理")

            put_ok(server, "/api/v1/rules", {"rules": [CRASH_RULE]})
            post_crashes(server, ["tm-prov-01"])
            wait_for("the provisioned robot to receive the crash", lambda: len(fake.received) >= 1)
            assert "tm-prov-01" in fake.received[0].payload["markdown"]["text"].replace("\\", "")

        engine, sessions = open_database(url)
        try:
            def stored() -> tuple[object, ...]:
                with sessions() as session:
                    return (session.scalars(select(ChannelRow.settings)).all(),
                            sorted(session.scalars(select(ProvisionedObjectRow.kind)).all()))

            before = stored()
            assert before[1] == ["channel", "escalation_policy", "oncall", "routing", "subscription"]
            (directory / "routing.yaml").write_text(textwrap.dedent(FILES["routing.yaml"]).replace("role: ops_lead\n    min",
                                                                                                   "role: cashier\n    min"))
            code, output = serve_refused(tmp_path, env, "refused")
            assert code == 2, output
            assert f"{directory / 'routing.yaml'}:6: subscriptions[0].role: 取值无效 / " in output
            assert stored() == before
        finally:
            engine.dispose()
