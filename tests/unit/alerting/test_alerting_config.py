"""The config model: defaults, durations, inheritance, and errors that name their path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alerting_support import FIXTURES, ROOT

from safejob_ops.alerting.config import (
    AlertingConfig,
    ConfigError,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
)

RECEIVERS = [
    {"name": "chat", "type": "slack", "webhook_url": {"secret": "s"}},
    {"name": "pager", "type": "pagerduty", "routing_key": {"secret": "p", "key": "routing_key"}},
]


def config(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"route": {"receiver": "chat"}, "receivers": RECEIVERS}
    data.update(overrides)
    return data


def problems_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    return dict(exc.value.problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("4h", timedelta(hours=4)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1y", timedelta(days=365)),
        ("500ms", timedelta(milliseconds=500)),
        ("0", timedelta(0)),
        (0, timedelta(0)),
    ],
)
def test_durations_parse_alertmanager_style(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1m1h", "1.5h", -1, None])
def test_bad_durations_are_rejected_with_a_fix(text: object) -> None:
    with pytest.raises(ValueError, match="fix: use Alertmanager units"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for value in ("30s", "5m", "4h", "1h30m", "2d", "0s"):
        assert format_duration(parse_duration(value)) == value


def test_minimal_config_gets_alertmanager_defaults(minimal_config: AlertingConfig) -> None:
    # GIVEN a config with only a root receiver THEN the root has Alertmanager's timings and no grouping
    root = minimal_config.tree
    assert (root.id, root.receiver, root.group_by) == ("0", "chat", ())
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (
        timedelta(seconds=30),
        timedelta(minutes=5),
        timedelta(hours=4),
    )
    assert minimal_config.fallback == "chat"
    assert minimal_config.global_.environment == "unknown"
    assert minimal_config.maintenance.max_duration == timedelta(hours=2)
    assert minimal_config.global_.resolve_timeout == timedelta(minutes=5)


def test_children_inherit_from_their_parent(routing_config: AlertingConfig) -> None:
    routes = {r.id: r for r in routing_config.routes()}
    assert list(routes) == ["0", "0.0", "0.1", "0.1.0", "0.1.1", "0.2"]
    dba, backups = routes["0.1.0"], routes["0.1.1"]
    # receiver overridden, everything else from 0.1 (which took group_wait from the root)
    assert dba.receiver == "dba"
    assert dba.group_by == ("alertname", "service")
    assert dba.group_wait == timedelta(seconds=45)
    assert dba.repeat_interval == timedelta(hours=2)
    assert dba.mute_time_intervals == ("nights",)
    # receiver inherited, group_by all labels, an explicit empty list clears the inherited mute intervals
    assert backups.receiver == "data"
    assert backups.group_by_all
    assert backups.mute_time_intervals == ()
    assert routes["0.0"].group_wait == timedelta(seconds=5)
    assert routes["0.0"].continue_ is True
    assert routing_config.fallback == "ops"


def test_the_production_config_is_valid() -> None:
    # GIVEN config/alerting.yaml WHEN loaded THEN it validates and has the receivers the runbooks name
    cfg = load_config(ROOT / "config" / "alerting.yaml")
    names = {r.name for r in cfg.receivers}
    assert {"slack-platform", "pagerduty-oncall", "email-platform", "webhook-audit"} <= names
    assert cfg.receiver("pagerduty-oncall").routing_key.secret == "safejob/alerting/pagerduty"  # type: ignore[union-attr]
    assert cfg.receiver("email-platform").topic_arn.startswith("env:")  # type: ignore[union-attr]
    assert cfg.tree.group_by == ("alertname", "service")
    assert [t.name for t in cfg.time_intervals] == ["business-hours"]


def test_invalid_fixture_reports_every_problem_with_its_path() -> None:
    # GIVEN a config with structural and cross-reference problems WHEN loaded THEN all are listed, by path
    with pytest.raises(ConfigError) as exc:
        load_config(FIXTURES / "invalid.yaml")
    problems = dict(exc.value.problems)
    assert problems["route.group_wait"].startswith("invalid duration 'soon'")
    assert problems["route.routes[0].matchers[0]"].startswith("invalid matcher 'sev=~(': bad regular expression")
    assert "fix:" in problems["route.routes[0].matchers[0]"]
    assert problems["route.routes[0].receiver"].startswith("unknown receiver 'nobody'")
    assert problems["route.receiver"].startswith("the root route needs a receiver")
    assert problems["route.matchers"].startswith("the root route must match every alert")
    assert problems["receivers[1].name"] == "duplicate receiver name 'chat' (first at receivers[0])"
    assert problems["receivers[1].topic_arn"].startswith("not an SNS topic ARN")
    assert problems["route.routes[1].group_by"].startswith("'...' (all labels) cannot be combined")
    assert problems["route.routes[1].active_time_intervals[0]"].startswith("unknown time interval 'weekends'")
    text = str(exc.value)
    assert text.startswith(f"invalid {FIXTURES / 'invalid.yaml'} (9 problems):")
    assert "\n  route.routes[0].matchers[0]: invalid matcher 'sev=~(':" in text


@pytest.mark.parametrize(
    ("overrides", "path", "start"),
    [
        ({"route": {"receiver": "chat", "continue": True}}, "route.continue", "the root route cannot have continue"),
        ({"route": {"receiver": "chat", "mute_time_intervals": []}}, None, None),
        (
            {"route": {"receiver": "chat", "routes": [{"group_interval": "0s"}]}},
            "route.routes[0].group_interval",
            "group_interval must be greater than zero",
        ),
        ({"route": {"receiver": "chat", "group_by": ["a", "a"]}}, "route.group_by[1]", "duplicate label 'a'"),
        ({"route": {"receiver": "chat", "group_by": ["bad-name"]}}, "route.group_by[0]", "invalid label name"),
        (
            {"route": {"receiver": "chat", "routes": [{"matchers": ["x"]}]}},
            "route.routes[0].matchers[0]",
            "invalid matcher 'x'",
        ),
        ({"route": {"receiver": "chat", "routez": []}}, "route.routez", "unknown field"),
        ({"fallback_receiver": "nobody"}, "fallback_receiver", "unknown receiver 'nobody'"),
        ({"receivers": [*RECEIVERS, {"name": "x", "type": "sms"}]}, "receivers[2]", "Input tag 'sms'"),
        (
            {"receivers": [*RECEIVERS, {"name": "x", "type": "email", "topic_arn": "env:1BAD"}]},
            "receivers[2].topic_arn",
            "invalid environment reference",
        ),
        (
            {"receivers": [*RECEIVERS, {"name": "x", "type": "slack", "webhook_url": {}}]},
            "receivers[2].webhook_url",
            "give exactly one of",
        ),
        (
            {"maintenance": {"max_duration": "1h", "default_duration": "2h"}},
            "maintenance.default_duration",
            "longer than max_duration",
        ),
        ({"global": {"default_severity": "urgent"}}, "global.default_severity", "Input should be"),
        (
            {"time_intervals": [{"name": "t", "time_intervals": [{"weekdays": ["funday"]}]}]},
            "time_intervals[0].time_intervals[0].weekdays[0]",
            "invalid weekday 'funday'",
        ),
        (
            {"time_intervals": [{"name": "t", "time_intervals": [{"months": ["13"]}]}]},
            "time_intervals[0].time_intervals[0].months[0]",
            "month 13 out of range",
        ),
        (
            {"time_intervals": [{"name": "t", "time_intervals": [{"days_of_month": [0]}]}]},
            "time_intervals[0].time_intervals[0].days_of_month[0]",
            "day of month 0 out of range",
        ),
        (
            {
                "time_intervals": [
                    {"name": "t", "time_intervals": [{"times": [{"start_time": "9:00", "end_time": "10:00"}]}]}
                ]
            },
            "time_intervals[0].time_intervals[0].times[0]",
            "invalid time '9:00'",
        ),
        (
            {"time_intervals": [{"name": "t", "time_intervals": [{"location": "Mars/Olympus"}]}]},
            "time_intervals[0].time_intervals[0].location",
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            {"time_intervals": [{"name": "t", "time_intervals": [{}]}, {"name": "t", "time_intervals": [{}]}]},
            "time_intervals[1].name",
            "duplicate time interval name 't'",
        ),
    ],
)
def test_each_problem_is_reported_at_its_path(overrides: dict[str, Any], path: str | None, start: str | None) -> None:
    if path is None:
        parse_config(config(**overrides))  # valid: an empty list is not a mute interval
        return
    problems = problems_of(config(**overrides))
    assert path in problems, problems
    assert start is not None
    assert problems[path].startswith(start), problems[path]


def test_root_mute_intervals_are_refused() -> None:
    data = config(
        route={"receiver": "chat", "mute_time_intervals": ["t"]}, time_intervals=[{"name": "t", "time_intervals": [{}]}]
    )
    assert problems_of(data)["route.mute_time_intervals"].startswith("the root route cannot be muted")


def test_load_config_reports_unreadable_files_and_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("route: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(scalar)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="1 problem"):
        parse_config(config(fallback_receiver="nobody"))
