"""The alert routing configuration: an Alertmanager-compatible subset, loaded from YAML (config/alerting.yaml).

`parse_config` validates the structure with pydantic and then the cross-references (receivers, time intervals,
route-tree rules); every problem is reported at once, each with its path, in one `ConfigError`.
"""

from __future__ import annotations

import calendar
import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from safejob_ops.alerting.matchers import Matcher, MatcherError
from safejob_ops.alerting.receivers import Receiver

DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)
ALL_LABELS = "..."

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (
    timedelta(days=365),
    timedelta(weeks=1),
    timedelta(days=1),
    timedelta(hours=1),
    timedelta(minutes=1),
    timedelta(seconds=1),
    timedelta(milliseconds=1),
)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}  # monday=0 .. sunday=6
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}  # january=1 .. december=12
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$")
# A receiver value written "env:NAME" is read from environment variable NAME at delivery time
# (receivers.resolve_env_refs): one config file serves every stack.
ENV_PREFIX = "env:"
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class ConfigError(ValueError):
    """An invalid alerting config. `problems` holds (path, message) pairs; str() lists them one per line."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "alerting config") -> None:
        self.problems = problems
        lines = [f"invalid {source} ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"]
        lines += [f"  {path}: {message}" if path else f"  {message}" for path, message in problems]
        super().__init__("\n".join(lines))


class _ProblemsError(ValueError):
    """Raised inside the model validator to carry several located problems out through pydantic."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))
        self.problems = problems


# --- value types -------------------------------------------------------------------------------------------------


def parse_duration(value: object) -> timedelta:
    """Parse an Alertmanager duration ("30s", "5m", "4h", "1h30m", "1d", "0").

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return timedelta(0)
    if isinstance(value, str):
        text = value.strip()
        if text == "0":
            return timedelta(0)
        match = _DURATION.match(text)
        if match and text:
            return sum(
                (int(g) * unit for g, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if g),
                timedelta(0),
            )
    raise ValueError(
        f"invalid duration {value!r}; fix: use Alertmanager units like 30s, 5m, 4h, 1h30m, 2d (quote it in YAML)"
    )


def format_duration(value: timedelta) -> str:
    """The shortest Alertmanager spelling of a duration.

    >>> format_duration(timedelta(seconds=5400))
    '1h30m'
    """
    total_ms = int(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    out = []
    for suffix, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, total_ms = divmod(total_ms, size)
        if count:
            out.append(f"{count}{suffix}")
    return "".join(out)


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


def _check_matcher(text: str) -> str:
    Matcher.parse(text)  # raises MatcherError (a ValueError) with the reason and a fix
    return text


def _check_label_name(name: str) -> str:
    if name != ALL_LABELS and not _LABEL_NAME.match(name):
        raise ValueError(f"invalid label name {name!r}; fix: use [a-zA-Z_][a-zA-Z0-9_]* (or '...' for all labels)")
    return name


MatcherText = Annotated[str, AfterValidator(_check_matcher)]
LabelName = Annotated[str, AfterValidator(_check_label_name)]
_Str = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v)]


# --- time intervals (Alertmanager syntax) ------------------------------------------------------------------------


def _clock_minutes(text: str) -> int:
    match = _CLOCK.match(text)
    minutes = int(match.group(1)) * 60 + int(match.group(2)) if match else -1
    if not match or minutes > 24 * 60:
        raise ValueError(f"invalid time {text!r}; fix: use HH:MM between 00:00 and 24:00")
    return minutes


def _range(text: str, lookup: Mapping[str, int] | None, what: str, lo: int, hi: int) -> tuple[int, int]:
    def one(part: str) -> int:
        part = part.strip().lower()
        if lookup is not None and part in lookup:
            return lookup[part]
        if what == "weekday":
            raise ValueError(
                f"invalid weekday {part!r}; fix: use a day name (monday .. sunday) or a range monday:friday"
            )
        try:
            number = int(part)
        except ValueError:
            names = f" or a name ({', '.join(list(lookup)[:3])}, ...)" if lookup else ""
            raise ValueError(f"invalid {what} {part!r}; fix: use a number {lo}..{hi}{names}") from None
        if not lo <= number <= hi:
            raise ValueError(f"{what} {number} out of range; fix: use {lo}..{hi}")
        return number

    begin_text, sep, end_text = text.partition(":")
    begin = one(begin_text)
    end = one(end_text) if sep else begin
    if begin > end:
        raise ValueError(f"{what} range {text!r} ends before it starts; fix: write it as start:end")
    return begin, end


def _day_of_month_range(text: str) -> tuple[int, int]:
    begin_text, sep, end_text = text.partition(":")
    try:
        begin = int(begin_text)
        end = int(end_text) if sep else begin
    except ValueError:
        raise ValueError(
            f"invalid days_of_month {text!r}; fix: use 1..31 or -31..-1, or a range like 1:5 or -3:-1"
        ) from None
    for day in (begin, end):
        if day == 0 or not -31 <= day <= 31:
            raise ValueError(f"day of month {day} out of range; fix: use 1..31, or -31..-1 to count from the end")
    # As Alertmanager: compare on a 30-day month to catch ranges that can never match (such as 5:-30).
    if (begin if begin > 0 else 30 + begin) > (end if end > 0 else 30 + end):
        raise ValueError(f"days_of_month range {text!r} ends before it starts; fix: write it as start:end")
    return begin, end


def _check_weekday(text: str) -> str:
    _range(text, _WEEKDAYS, "weekday", 0, 6)
    return text


def _check_month(text: str) -> str:
    _range(text, _MONTHS, "month", 1, 12)
    return text


def _check_year(text: str) -> str:
    _range(text, None, "year", 1, 9999)
    return text


def _check_day(text: str) -> str:
    _day_of_month_range(text)
    return text


def _check_location(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; fix: use an IANA name such as Europe/London or UTC") from None
    return name


@dataclass(frozen=True, slots=True)
class ParsedInterval:
    times: tuple[tuple[int, int], ...]
    weekdays: tuple[tuple[int, int], ...]
    days_of_month: tuple[tuple[int, int], ...]
    months: tuple[tuple[int, int], ...]
    years: tuple[tuple[int, int], ...]
    tz: ZoneInfo


class TimeRange(BaseModel):
    """A time of day range, start inclusive and end exclusive ("09:00" to "17:00")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_time: str
    end_time: str

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if _clock_minutes(self.start_time) >= _clock_minutes(self.end_time):
            raise ValueError(f"start_time {self.start_time} is not before end_time {self.end_time}")
        return self

    @property
    def minutes(self) -> tuple[int, int]:
        return _clock_minutes(self.start_time), _clock_minutes(self.end_time)


class TimeIntervalSpec(BaseModel):
    """One Alertmanager time interval entry; every field that is given must match (an absent field matches all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    times: list[TimeRange] = Field(default_factory=list)
    weekdays: list[Annotated[_Str, AfterValidator(_check_weekday)]] = Field(default_factory=list)
    days_of_month: list[Annotated[_Str, AfterValidator(_check_day)]] = Field(default_factory=list)
    months: list[Annotated[_Str, AfterValidator(_check_month)]] = Field(default_factory=list)
    years: list[Annotated[_Str, AfterValidator(_check_year)]] = Field(default_factory=list)
    location: Annotated[str, AfterValidator(_check_location)] = "UTC"

    _parsed: ParsedInterval | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _parse(self) -> TimeIntervalSpec:
        self._parsed = ParsedInterval(
            times=tuple(t.minutes for t in self.times),
            weekdays=tuple(_range(w, _WEEKDAYS, "weekday", 0, 6) for w in self.weekdays),
            days_of_month=tuple(_day_of_month_range(d) for d in self.days_of_month),
            months=tuple(_range(m, _MONTHS, "month", 1, 12) for m in self.months),
            years=tuple(_range(y, None, "year", 1, 9999) for y in self.years),
            tz=ZoneInfo(self.location),
        )
        return self

    @property
    def parsed(self) -> ParsedInterval:
        assert self._parsed is not None
        return self._parsed


class TimeInterval(BaseModel):
    """A named time interval, referenced by routes' mute_time_intervals / active_time_intervals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    time_intervals: list[TimeIntervalSpec] = Field(min_length=1)


# --- routes, inhibition, the whole config -----------------------------------------------------------------------


class GlobalConfig(BaseModel):
    """Defaults applied while normalising events into alerts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: str = "unknown"
    account: str = ""
    region: str = ""
    default_severity: Literal["critical", "warning", "info"] = "warning"
    default_team: str = "platform"
    default_service: str = "unknown"
    # "https://runbooks.example/{alertname}" (a {label} template) or a base that the alertname is appended to.
    runbook_base_url: str = ""
    # "https://console.aws.amazon.com/cloudwatch/home#dashboards/dashboard/{service}" or a base + "/" + service.
    dashboard_base_url: str = ""
    # How long a one-shot event (stopped task, failed job or workflow) stays firing when nothing updates it; as
    # Alertmanager's resolve_timeout. CloudWatch alarms and Health events resolve explicitly instead.
    resolve_timeout: Duration = timedelta(minutes=5)


class RouteConfig(BaseModel):
    """One node of the route tree, as written. Unset fields inherit from the parent (see `ResolvedRoute`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    receiver: str | None = None
    matchers: list[MatcherText] = Field(default_factory=list)
    group_by: list[LabelName] | None = None
    continue_: bool = Field(default=False, alias="continue")
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    mute_time_intervals: list[str] | None = None
    active_time_intervals: list[str] | None = None
    routes: list[RouteConfig] = Field(default_factory=list)


class InhibitRule(BaseModel):
    """While an alert matching source_matchers fires, alerts matching target_matchers with the same values of the
    `equal` labels are muted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_matchers: list[MatcherText] = Field(min_length=1)
    target_matchers: list[MatcherText] = Field(min_length=1)
    equal: list[LabelName] = Field(default_factory=list)

    @property
    def sources(self) -> tuple[Matcher, ...]:
        return tuple(Matcher.parse(m) for m in self.source_matchers)

    @property
    def targets(self) -> tuple[Matcher, ...]:
        return tuple(Matcher.parse(m) for m in self.target_matchers)


class MaintenanceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The longest a maintenance window may be opened for (a deploy's bake opens one per service).
    max_duration: Duration = timedelta(hours=2)
    default_duration: Duration = timedelta(minutes=30)


@dataclass(frozen=True, slots=True, eq=False)
class ResolvedRoute:
    """A route with inheritance applied and matchers compiled: what routing walks."""

    id: str
    matchers: tuple[Matcher, ...]
    receiver: str
    group_by: tuple[str, ...]
    group_by_all: bool
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    mute_time_intervals: tuple[str, ...]
    active_time_intervals: tuple[str, ...]
    continue_: bool
    children: tuple[ResolvedRoute, ...]


class AlertingConfig(BaseModel):
    """The whole routing config.

    >>> cfg = parse_config({"route": {"receiver": "slack"}, "receivers": [
    ...     {"name": "slack", "type": "slack", "webhook_url": {"secret": "safejob/alerting/slack"}}]})
    >>> cfg.tree.receiver, cfg.tree.group_wait.seconds, cfg.fallback
    ('slack', 30, 'slack')
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    route: RouteConfig
    receivers: list[Receiver] = Field(min_length=1)
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    time_intervals: list[TimeInterval] = Field(default_factory=list)
    # Where events that no normaliser recognises go; defaults to the root route's receiver.
    fallback_receiver: str | None = None
    maintenance: MaintenanceConfig = Field(default_factory=MaintenanceConfig)

    _tree: ResolvedRoute | None = PrivateAttr(default=None)
    _route_cache: dict[tuple[tuple[str, str], ...], Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_and_resolve(self) -> AlertingConfig:
        problems = _semantic_problems(self)
        if problems:
            raise _ProblemsError(problems)
        self._tree = _resolve(self.route, None, "0")
        return self

    @property
    def tree(self) -> ResolvedRoute:
        assert self._tree is not None
        return self._tree

    @property
    def route_cache(self) -> dict[tuple[tuple[str, str], ...], Any]:
        """Memo of routing results per label set (owned by routing.match_routes)."""
        return self._route_cache

    @property
    def fallback(self) -> str:
        """The receiver of unrecognised events."""
        return self.fallback_receiver or self.route.receiver or ""

    def receiver(self, name: str) -> Receiver:
        """The receiver called `name` (KeyError if none)."""
        for r in self.receivers:
            if r.name == name:
                return r
        raise KeyError(name)

    def interval(self, name: str) -> TimeInterval:
        for ti in self.time_intervals:
            if ti.name == name:
                return ti
        raise KeyError(name)

    def routes(self) -> list[ResolvedRoute]:
        """Every route of the tree, depth first (the root first)."""
        out: list[ResolvedRoute] = []
        stack = [self.tree]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out


# --- loading -----------------------------------------------------------------------------------------------------


def parse_config(data: Mapping[str, Any], source: str = "alerting config") -> AlertingConfig:
    """Validate a config mapping; raise ConfigError listing every problem with its path.

    >>> parse_config({"route": {"receiver": "nope"}, "receivers": []})
    Traceback (most recent call last):
    ...
    safejob_ops.alerting.config.ConfigError: invalid alerting config (1 problem):
      receivers: List should have at least 1 item after validation, not 0
    """
    if not isinstance(data, Mapping):
        raise ConfigError([("", f"expected a mapping at the top level, got {type(data).__name__}")], source)
    try:
        return AlertingConfig.model_validate(dict(data))
    except ValidationError as exc:
        problems = _problems_of(exc)
        structural = [e["loc"] for e in exc.errors() if not isinstance(e.get("ctx", {}).get("error"), _ProblemsError)]
        if structural:
            # Report the cross-reference problems too: check again with the broken values taken out.
            problems += [p for p in _semantic_after_repair(dict(data), structural) if p not in problems]
        raise ConfigError(problems, source) from None


def load_config(path: str | Path) -> AlertingConfig:
    """Load and validate a YAML config file (ConfigError on unreadable YAML too)."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([("", f"cannot read {file}: {exc.strerror}")], str(file)) from None
    except yaml.YAMLError as exc:
        raise ConfigError([("", f"invalid YAML: {exc}")], str(file)) from None
    return parse_config(data if data is not None else {}, str(file))


_RECEIVER_TAGS = {"slack", "pagerduty", "email", "webhook"}
_DROP = object()


def _semantic_after_repair(data: dict[str, Any], locs: list[tuple[int | str, ...]]) -> list[tuple[str, str]]:
    """The semantic problems of `data` once the structurally invalid values at `locs` are removed (a broken receiver
    is replaced by a placeholder of the same name, so that references to it are not reported as unknown)."""
    repaired = copy.deepcopy(data)
    for loc in locs:
        if len(loc) >= 2 and loc[0] == "receivers" and isinstance(loc[1], int):
            receivers = repaired.get("receivers")
            if isinstance(receivers, list) and loc[1] < len(receivers):
                original = receivers[loc[1]]
                name = original.get("name") if isinstance(original, dict) else None
                receivers[loc[1]] = {
                    "name": name if isinstance(name, str) and name else f"invalid-{loc[1]}",
                    "type": "webhook",
                    "url": {"ssm": "/placeholder"},
                }
            continue
        _mark(repaired, loc)
    try:
        AlertingConfig.model_validate(_sweep(repaired))
    except ValidationError as exc:
        found = []
        for err in exc.errors():
            inner = err.get("ctx", {}).get("error")
            if not isinstance(inner, _ProblemsError):
                return []  # still structurally broken: report what we have
            found.extend(inner.problems)
        return found
    return []


def _mark(node: Any, loc: tuple[int | str, ...]) -> None:
    for i, part in enumerate(loc):
        key: Any = "continue" if part == "continue_" else part
        if not _has(node, key):
            return
        if i == len(loc) - 1:
            node[key] = _DROP
        node = node[key]


def _has(node: object, key: int | str) -> bool:
    if isinstance(node, dict):
        return isinstance(key, str) and key in node
    return isinstance(node, list) and isinstance(key, int) and key < len(node)


def _sweep(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _sweep(v) for k, v in node.items() if v is not _DROP}
    if isinstance(node, list):
        return [_sweep(v) for v in node if v is not _DROP]
    return node


def _problems_of(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        inner = err.get("ctx", {}).get("error")
        if isinstance(inner, _ProblemsError):
            problems.extend(inner.problems)
            continue
        problems.append((_path(err["loc"]), _message(err)))
    return problems


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    previous: int | str | None = None
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i >= 2 and loc[0] == "receivers" and isinstance(previous, int) and part in _RECEIVER_TAGS:
            pass  # the discriminator tag pydantic inserts for the receiver union
        else:
            out += ("." if out else "") + ("continue" if part == "continue_" else part)
        previous = part
    return out


def _message(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if err["type"] == "extra_forbidden":
        return "unknown field; fix: remove it or check its spelling"
    if err["type"] == "union_tag_invalid":
        return f"{msg}; fix: set type to one of slack, pagerduty, email, webhook"
    return msg


def _semantic_problems(cfg: AlertingConfig) -> list[tuple[str, str]]:
    receivers = _unique_names("receivers", [r.name for r in cfg.receivers], "receiver")
    intervals = _unique_names("time_intervals", [t.name for t in cfg.time_intervals], "time interval")
    problems = receivers.problems + intervals.problems
    problems += _root_problems(cfg.route)
    problems += _receiver_value_problems(cfg)
    stack: list[tuple[str, RouteConfig]] = [("route", cfg.route)]
    while stack:
        path, node = stack.pop()
        problems += _route_problems(path, node, receivers.names, intervals.names)
        stack.extend((f"{path}.routes[{k}]", child) for k, child in reversed(list(enumerate(node.routes))))
    if cfg.fallback_receiver is not None:
        problems += _unknown("fallback_receiver", cfg.fallback_receiver, receivers.names, "receiver", "receivers")
    if cfg.maintenance.max_duration <= timedelta(0):
        problems.append(("maintenance.max_duration", "must be greater than zero; fix: e.g. 2h"))
    if cfg.maintenance.default_duration > cfg.maintenance.max_duration:
        problems.append(("maintenance.default_duration", "longer than max_duration; fix: shorten it"))
    return problems


@dataclass
class _Names:
    names: set[str]
    problems: list[tuple[str, str]]


def _unique_names(section: str, names: list[str], what: str) -> _Names:
    first: dict[str, int] = {}
    problems = []
    for i, name in enumerate(names):
        if name in first:
            problems.append(
                (f"{section}[{i}].name", f"duplicate {what} name {name!r} (first at {section}[{first[name]}])")
            )
        first.setdefault(name, i)
    return _Names(set(first), problems)


def _unknown(path: str, name: str, known: set[str], what: str, section: str) -> list[tuple[str, str]]:
    if name in known:
        return []
    choices = ", ".join(sorted(known)) or "(none defined)"
    return [(path, f"unknown {what} {name!r}; fix: define it under {section} or use one of: {choices}")]


def _root_problems(root: RouteConfig) -> list[tuple[str, str]]:
    problems = []
    if not root.receiver:
        problems.append(("route.receiver", "the root route needs a receiver; fix: set route.receiver"))
    if root.matchers:
        problems.append(("route.matchers", "the root route must match every alert; fix: remove its matchers"))
    if root.continue_:
        problems.append(("route.continue", "the root route cannot have continue; fix: remove it"))
    for field_name in ("mute_time_intervals", "active_time_intervals"):
        if getattr(root, field_name):
            problems.append((f"route.{field_name}", "the root route cannot be muted; fix: set it on a child route"))
    return problems


def _route_problems(path: str, node: RouteConfig, receivers: set[str], intervals: set[str]) -> list[tuple[str, str]]:
    problems = _unknown(f"{path}.receiver", node.receiver, receivers, "receiver", "receivers") if node.receiver else []
    problems += _group_by_problems(path, node.group_by)
    for field_name in ("group_interval", "repeat_interval"):
        value = getattr(node, field_name)
        if value is not None and value <= timedelta(0):
            problems.append((f"{path}.{field_name}", f"{field_name} must be greater than zero; fix: e.g. 5m"))
    for field_name in ("mute_time_intervals", "active_time_intervals"):
        for j, name in enumerate(getattr(node, field_name) or []):
            problems += _unknown(f"{path}.{field_name}[{j}]", name, intervals, "time interval", "time_intervals")
    return problems


def _receiver_value_problems(cfg: AlertingConfig) -> list[tuple[str, str]]:
    """`env:NAME` values must name a variable; an email topic must be an SNS topic ARN or an env reference."""
    problems = []
    for i, receiver in enumerate(cfg.receivers):
        for field_name, value in receiver:
            if (
                isinstance(value, str)
                and value.startswith(ENV_PREFIX)
                and not _ENV_NAME.match(value[len(ENV_PREFIX) :])
            ):
                problems.append(
                    (
                        f"receivers[{i}].{field_name}",
                        f"invalid environment reference {value!r}; "
                        "fix: write env:NAME with NAME like ALERT_EMAIL_TOPIC_ARN",
                    )
                )
        topic = getattr(receiver, "topic_arn", None)
        if isinstance(topic, str) and not topic.startswith(ENV_PREFIX) and not _SNS_ARN.match(topic):
            problems.append(
                (
                    f"receivers[{i}].topic_arn",
                    f"not an SNS topic ARN: {topic!r}; "
                    "fix: arn:aws:sns:REGION:ACCOUNT:NAME, or env:NAME to read it from the environment",
                )
            )
    return problems


def _group_by_problems(path: str, group_by: list[str] | None) -> list[tuple[str, str]]:
    if not group_by:
        return []
    problems = []
    if ALL_LABELS in group_by and len(group_by) > 1:
        problems.append(
            (f"{path}.group_by", "'...' (all labels) cannot be combined with other labels; fix: use it alone")
        )
    seen: set[str] = set()
    for j, name in enumerate(group_by):
        if name in seen:
            problems.append((f"{path}.group_by[{j}]", f"duplicate label {name!r}; fix: list each label once"))
        seen.add(name)
    return problems


def _resolve(node: RouteConfig, parent: ResolvedRoute | None, route_id: str) -> ResolvedRoute:
    group_by = tuple(node.group_by) if node.group_by is not None else (parent.group_by if parent else ())
    children: list[ResolvedRoute] = []
    resolved = ResolvedRoute(
        id=route_id,
        matchers=tuple(Matcher.parse(m) for m in node.matchers),
        receiver=node.receiver or (parent.receiver if parent else ""),
        group_by=group_by,
        group_by_all=ALL_LABELS in group_by,
        group_wait=_pick(node.group_wait, parent.group_wait if parent else None, DEFAULT_GROUP_WAIT),
        group_interval=_pick(node.group_interval, parent.group_interval if parent else None, DEFAULT_GROUP_INTERVAL),
        repeat_interval=_pick(
            node.repeat_interval, parent.repeat_interval if parent else None, DEFAULT_REPEAT_INTERVAL
        ),
        mute_time_intervals=_inherit(node.mute_time_intervals, parent.mute_time_intervals if parent else ()),
        active_time_intervals=_inherit(node.active_time_intervals, parent.active_time_intervals if parent else ()),
        continue_=node.continue_,
        children=(),
    )
    children = [_resolve(child, resolved, f"{route_id}.{k}") for k, child in enumerate(node.routes)]
    object.__setattr__(resolved, "children", tuple(children))
    return resolved


def _pick(own: timedelta | None, inherited: timedelta | None, default: timedelta) -> timedelta:
    if own is not None:
        return own
    return inherited if inherited is not None else default


def _inherit(own: list[str] | None, inherited: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(own) if own is not None else inherited


__all__ = [
    "ALL_LABELS",
    "AlertingConfig",
    "ConfigError",
    "Duration",
    "GlobalConfig",
    "InhibitRule",
    "MaintenanceConfig",
    "MatcherError",
    "ResolvedRoute",
    "RouteConfig",
    "TimeInterval",
    "TimeIntervalSpec",
    "TimeRange",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
]
