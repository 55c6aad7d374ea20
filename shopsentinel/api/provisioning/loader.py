"""Reading and validating a provisioning directory (配置即代码), without touching any database.

Every ``*.yaml`` / ``*.yml`` file under the directory (sorted, hidden files skipped) holds
``apiVersion: 1`` and any of these sections:

* ``channels`` — ``name``, ``kind``, ``medium``, ``receiver``, ``per_minute``, ``settings`` (the
  API's :class:`~shopsentinel.api.routing_schemas.ChannelCreate`, then the channel's own ``Config``);
* ``subscriptions`` — ``name`` plus the fields of :class:`~shopsentinel.alerting.routing.Subscription`;
* ``escalationPolicies`` — :class:`~shopsentinel.alerting.escalation.EscalationPolicy`;
* ``oncallSchedules`` — keyed by ``role``: the API's ``ScheduleBody`` and
  :func:`shopsentinel.store.oncall.validate` (``rotation_start`` is required in a file);
* ``routing`` — one mapping, the whole routing document
  (:class:`~shopsentinel.alerting.routing_config.RoutingConfig`: tree, severity policy, role members,
  mute windows, rate limits);
* ``deleteChannels``, ``deleteSubscriptions``, ``deleteEscalationPolicies``, ``deleteOncallSchedules``
  — lists of ``{name: …}`` (``{role: …}``) to remove.

Strings may reference ``${ENV_VAR}`` or ``$__file{/path}`` (:mod:`.expand`); a channel secret given
literally is accepted with a warning. The validators are the API's: the same value is refused here and
there. Every problem is reported (file, line, field, Chinese first), not just the first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from shopsentinel.alerting.escalation import EscalationPolicy
from shopsentinel.alerting.routing import ROLES, Subscription
from shopsentinel.alerting.routing_config import RoutingConfig
from shopsentinel.api.provisioning.expand import expand_tree, is_reference
from shopsentinel.api.provisioning.yamlfile import YamlDoc, YamlProblem, load_yaml
from shopsentinel.api.routes.oncall import ScheduleBody
from shopsentinel.api.routes.subscriptions import target_problem
from shopsentinel.api.routing_schemas import ChannelCreate
from shopsentinel.core.errors import InputError
from shopsentinel.core.types import PLATFORMS
from shopsentinel.notify import repository as channel_repo
from shopsentinel.notify.registry import ChannelRegistry
from shopsentinel.store import oncall

T = TypeVar("T")
API_VERSION = 1

# section → (kind, the key that names an object)
SECTIONS: dict[str, tuple[str, str]] = {
    "channels": ("channel", "name"),
    "subscriptions": ("subscription", "name"),
    "escalationPolicies": ("escalation_policy", "name"),
    "oncallSchedules": ("oncall", "role"),
}
DELETE_SECTIONS: dict[str, str] = {"delete" + s[0].upper() + s[1:]: s for s in SECTIONS}
KNOWN_KEYS = frozenset({"apiVersion", "routing", *SECTIONS, *DELETE_SECTIONS})

_ZH_BY_TYPE: dict[str, str] = {
    "missing": "缺少必填字段", "extra_forbidden": "不允许的字段", "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内", "string_pattern_mismatch": "格式不符", "string_too_short": "太短",
    "string_too_long": "太长", "too_short": "太少", "too_long": "太多", "greater_than": "数值太小",
    "greater_than_equal": "数值太小", "less_than": "数值太大", "less_than_equal": "数值太大",
    "value_error": "取值无效", "assertion_error": "取值无效",
}  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """One problem of a provisioning file: where (file, 1-based line, field) and what (zh, en)."""

    file: str
    line: int
    field: str
    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field or '(file)'}: {self.zh} / {self.en}"


class ProvisioningError(InputError):
    """The provisioning directory does not validate; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0] if problems else None
        text = "\n".join(["配置文件无效，未做任何更改 / invalid provisioning files, nothing was changed:",
                          *(f"  {p}" for p in problems)])
        super().__init__(text, file=first.file if first else None, line=first.line if first else None,
                         field=first.field if first else None)

    def __str__(self) -> str:  # the list, not InputError's one-location prefix
        return self.reason


@dataclass(frozen=True)
class Item(Generic[T]):
    """One validated object: its name in the files, where it was written, and its value."""

    name: str
    file: str
    line: int
    value: T


@dataclass(frozen=True)
class Channel:
    body: ChannelCreate
    settings: dict[str, Any]  # expanded (references resolved): secret values live only here, in memory


@dataclass(frozen=True)
class Delete:
    kind: str
    name: str
    file: str
    line: int


@dataclass
class Plan:
    """A validated provisioning directory, ready to apply."""

    directory: str
    files: list[str] = field(default_factory=list)
    channels: list[Item[Channel]] = field(default_factory=list)
    subscriptions: list[Item[Subscription]] = field(default_factory=list)
    policies: list[Item[EscalationPolicy]] = field(default_factory=list)
    schedules: list[Item[oncall.OnCallSpec]] = field(default_factory=list)
    routing: Item[RoutingConfig] | None = None
    deletes: list[Delete] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def names(self, kind: str) -> set[str]:
        by_kind: dict[str, list[Any]] = {"channel": list(self.channels), "subscription": list(self.subscriptions),
                                         "escalation_policy": list(self.policies), "oncall": list(self.schedules)}
        items = by_kind.get(kind, [])
        return {i.name for i in items} | ({"routing"} if kind == "routing" and self.routing else set())


def field_path(path: tuple[str | int, ...] | list[str | int]) -> str:
    """``("channels", 0, "settings", "secret")`` → ``channels[0].settings.secret``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation_problems(doc: YamlDoc, at: tuple[str | int, ...], exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):  # never echo values
        loc = tuple(p if isinstance(p, int) else str(p) for p in error["loc"])
        path = (*at, *loc)
        zh = _ZH_BY_TYPE.get(error["type"], "类型错误" if error["type"].endswith(("_type", "_parsing")) else "取值无效")
        problems.append(Problem(doc.file, doc.line(path), field_path(path), zh, error["msg"]))
    return problems


class _Reader:
    def __init__(self, registry: ChannelRegistry, users: Collection[str] | None, env: Mapping[str, str]) -> None:
        self.registry, self.users, self.env = registry, users, env
        self.problems: list[Problem] = []
        self.seen: dict[tuple[str, str], tuple[str, int]] = {}

    def problem(self, doc: YamlDoc, path: tuple[str | int, ...], zh: str, en: str) -> None:
        self.problems.append(Problem(doc.file, doc.line(path), field_path(path), zh, en))

    def validate(self, doc: YamlDoc, at: tuple[str | int, ...], make: Callable[[], T]) -> T | None:
        try:
            return make()
        except ValidationError as exc:
            self.problems.extend(_validation_problems(doc, at, exc))
            return None

    def read(self, plan: Plan, doc: YamlDoc) -> None:
        raw = doc.data
        if not isinstance(raw, dict):
            self.problem(doc, (), "文件须为 YAML 映射（apiVersion: 1 与各配置列表）",
                         "the file must be a YAML mapping (apiVersion: 1 and lists of objects)")
            return
        if raw.get("apiVersion") != API_VERSION:
            self.problem(doc, ("apiVersion",), f"须为 apiVersion: {API_VERSION}", f"must be apiVersion: {API_VERSION}")
        for key in raw:
            if key not in KNOWN_KEYS:
                self.problem(doc, (str(key),), f"未知的配置段，可选：{', '.join(sorted(KNOWN_KEYS))}",
                             f"unknown section; known: {', '.join(sorted(KNOWN_KEYS))}")
        data, expansion = expand_tree(raw, self.env)
        for path, exc in expansion:
            self.problem(doc, path, exc.zh, exc.en)
        for section, (kind, key) in SECTIONS.items():
            for index, item in self._objects(doc, data, raw, section, key, kind):
                reader = getattr(self, f"_{kind}")
                reader(plan, doc, (section, index), item, raw[section][index])
        for section, target in DELETE_SECTIONS.items():
            kind, key = SECTIONS[target]
            for index, item in self._named(doc, data, section, key):
                plan.deletes.append(Delete(kind, str(item[key]), doc.file, doc.line((section, index))))
        if "routing" in data:
            self._routing(plan, doc, data["routing"])

    def _named(self, doc: YamlDoc, data: dict[str, Any], section: str, key: str) -> list[tuple[int, dict[str, Any]]]:
        value = data.get(section)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(doc, (section,), "须为列表", "must be a list")
            return []
        found = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                self.problem(doc, (section, index), "须为映射", "must be a mapping")
            elif not isinstance(item.get(key), str) or not item[key].strip():
                self.problem(doc, (section, index, key), f"缺少 {key}（非空文本）", f"needs a non-empty {key}")
            else:
                found.append((index, item))
        return found

    def _objects(self, doc: YamlDoc, data: dict[str, Any], raw: dict[str, Any], section: str, key: str,
                 kind: str) -> list[tuple[int, dict[str, Any]]]:
        found = []
        for index, item in self._named(doc, data, section, key):
            name = str(item[key])
            line = doc.line((section, index))
            earlier = self.seen.get((kind, name))
            if earlier is not None:
                self.problem(doc, (section, index, key), f"{name!r} 已在 {earlier[0]} 第 {earlier[1]} 行定义",
                             f"{name!r} is already defined in {earlier[0]} line {earlier[1]}")
                continue
            self.seen[(kind, name)] = (doc.file, line)
            found.append((index, item))
        return found

    def _channel(self, plan: Plan, doc: YamlDoc, at: tuple[str | int, ...], item: dict[str, Any], raw: dict[str, Any]) -> None:
        body = self.validate(doc, at, lambda: ChannelCreate.model_validate(item))
        if body is None:
            return
        try:
            spec = self.registry.spec(body.kind)
        except InputError:
            self.problem(doc, (*at, "kind"), f"未知渠道类型，可选：{', '.join(self.registry.keys())}",
                         f"unknown channel kind; known: {', '.join(self.registry.keys())}")
            return
        settings = dict(body.settings)
        if self.validate(doc, (*at, "settings"), lambda: spec.config_model.model_validate(settings)) is None:
            return
        given = raw.get("settings")
        raw_settings: dict[str, Any] = given if isinstance(given, dict) else {}
        for name in channel_repo.secret_field_names(self.registry, body.kind):
            value = raw_settings.get(name)
            if isinstance(value, str) and value and not is_reference(value):
                path = (*at, "settings", name)
                plan.warnings.append(Problem(doc.file, doc.line(path), field_path(path),
                                             "机密以明文写在文件中，建议改用 ${环境变量} 或 $__file{路径}",
                                             "a literal secret in the file; prefer ${ENV_VAR} or $__file{/path}"))
        plan.channels.append(Item(body.name, doc.file, doc.line(at), Channel(body, settings)))

    def _subscription(self, plan: Plan, doc: YamlDoc, at: tuple[str | int, ...], item: dict[str, Any], _raw: dict[str, Any]) -> None:
        body = {k: v for k, v in item.items() if k != "name"}
        sub = self.validate(doc, at, lambda: Subscription.model_validate(body))
        if sub is None:
            return
        problem = target_problem(sub)
        if problem is not None:
            self.problem(doc, at, "订阅须指定 user 或 role", problem)
            return
        for index, platform in enumerate(sub.platforms):
            if platform not in PLATFORMS:
                self.problem(doc, (*at, "platforms", index), f"未知平台 {platform!r}，可选：{', '.join(PLATFORMS)}",
                             f"unknown platform {platform!r}; known: {', '.join(PLATFORMS)}")
                return
        self._known_user(doc, (*at, "user"), sub.user)
        plan.subscriptions.append(Item(str(item["name"]), doc.file, doc.line(at), sub))

    def _escalation_policy(self, plan: Plan, doc: YamlDoc, at: tuple[str | int, ...], item: dict[str, Any], _raw: dict[str, Any]) -> None:
        policy = self.validate(doc, at, lambda: EscalationPolicy.model_validate(item))
        if policy is None:
            return
        for index, step in enumerate(policy.steps):
            if step.role is not None and step.role not in ROLES:
                self.problem(doc, (*at, "steps", index, "role"), f"未知角色 {step.role!r}，可选：{', '.join(ROLES)}",
                             f"unknown role {step.role!r}; known: {', '.join(ROLES)}")
            self._known_user(doc, (*at, "steps", index, "user"), step.user)
        plan.policies.append(Item(policy.name, doc.file, doc.line(at), policy))

    def _oncall(self, plan: Plan, doc: YamlDoc, at: tuple[str | int, ...], item: dict[str, Any], _raw: dict[str, Any]) -> None:
        body = self.validate(doc, at, lambda: ScheduleBody.model_validate(item))
        if body is None:
            return
        if body.rotation_start is None:
            self.problem(doc, (*at, "rotation_start"), "文件中须给出轮换开始时间（否则每次重启都会改变轮值）",
                         "required in a file (otherwise every restart would move the rotation)")
            return
        spec = oncall.OnCallSpec(body.role, list(body.members), _aware(body.rotation_start), body.rotation_days,
                                 body.timezone, [oncall.Shift(s.user, s.starts_at, s.ends_at) for s in body.shifts])
        users = self.users if self.users is not None else {*spec.members, *(s.user for s in spec.shifts)}
        try:
            oncall.validate(spec, roles=ROLES, users=users)
        except InputError as exc:
            self.problem(doc, (*at, exc.field or "role"), *_split(exc.reason, exc.field))
            return
        plan.schedules.append(Item(body.role, doc.file, doc.line(at), spec))

    def _routing(self, plan: Plan, doc: YamlDoc, value: Any) -> None:
        if plan.routing is not None:
            self.problem(doc, ("routing",), f"路由配置只能有一份，已在 {plan.routing.file} 第 {plan.routing.line} 行定义",
                         f"there is one routing document; already defined in {plan.routing.file} line {plan.routing.line}")
            return
        if not isinstance(value, dict):
            self.problem(doc, ("routing",), "须为映射", "must be a mapping")
            return
        config = self.validate(doc, ("routing",), lambda: RoutingConfig.model_validate(value))
        if config is not None:
            plan.routing = Item("routing", doc.file, doc.line(("routing",)), config)

    def _known_user(self, doc: YamlDoc, path: tuple[str | int, ...], user: str | None) -> None:
        if user is not None and self.users is not None and user not in self.users:
            self.problem(doc, path, f"用户不存在：{user}", f"no such user: {user}")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _split(reason: str, field_name: str | None) -> tuple[str, str]:
    """``"members: 中文 / english"`` (the store's messages) → ``("中文", "english")``."""
    text = reason.removeprefix(f"{field_name}: ") if field_name else reason
    zh, sep, en = text.partition(" / ")
    return (zh, en) if sep else (text, text)


def provisioning_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(directory).parts))


def load_directory(directory: Path, registry: ChannelRegistry, *, users: Collection[str] | None = None,
                   env: Mapping[str, str] | None = None) -> Plan:
    """Validate every file of ``directory`` (see the module docstring) into a :class:`Plan`, or raise
    :class:`ProvisioningError` listing every problem. ``users`` are the directory's usernames (None:
    people are not checked, e.g. ``config check`` without a database)."""
    plan = Plan(str(directory))
    reader = _Reader(registry, users, os.environ if env is None else env)
    if not directory.is_dir():
        raise ProvisioningError([Problem(str(directory), 1, "", "配置目录不存在", "the provisioning directory does not exist")])
    for path in provisioning_files(directory):
        plan.files.append(str(path))
        try:
            doc = load_yaml(path.read_text(encoding="utf-8"), str(path))
        except YamlProblem as exc:
            reader.problems.append(Problem(str(path), exc.line, "", exc.zh, exc.en))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            reader.problems.append(Problem(str(path), 1, "", "无法读取文件", f"cannot read the file ({type(exc).__name__})"))
            continue
        if doc.data is None:
            continue  # an empty file provisions nothing
        reader.read(plan, doc)
    if reader.problems:
        raise ProvisioningError(reader.problems)
    return plan


__all__ = ["API_VERSION", "Channel", "Delete", "Item", "Plan", "Problem", "ProvisioningError", "field_path",
           "load_directory", "provisioning_files"]
