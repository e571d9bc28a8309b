"""Routing: Alertmanager's depth-first walk, continue, inheritance, group keys, the fallback route."""

from __future__ import annotations

from datetime import timedelta

import pytest

from safejob_ops.alerting.config import AlertingConfig, parse_config
from safejob_ops.alerting.routing import fallback_match, group_key_of, match_routes


def receivers_of(config: AlertingConfig, **labels: str) -> list[tuple[str, str]]:
    return [(m.route_id, m.receiver) for m in match_routes(config, {"alertname": "A", **labels})]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, [("0", "default")]),  # no child matches: the root itself
        ({"severity": "critical"}, [("0.0", "pager")]),  # continue, but nothing else matches
        ({"severity": "critical", "team": "web"}, [("0.0", "pager"), ("0.2", "web")]),
        ({"team": "data", "service": "db"}, [("0.1.0", "dba")]),  # the first matching child wins
        ({"team": "data", "service": "etl"}, [("0.1", "data")]),  # no grandchild: the child itself
        ({"team": "data", "source": "backup"}, [("0.1.1", "data")]),
        ({"team": "data", "service": "db", "source": "backup"}, [("0.1.0", "dba")]),  # 0.1.0 has no continue
        ({"team": "web", "alertname": "CanaryFailed"}, [("0", "default")]),  # !~ excludes it
    ],
)
def test_alertmanager_route_semantics(
    routing_config: AlertingConfig, labels: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    # GIVEN the routing fixture WHEN labels are routed THEN the routes are Alertmanager's
    assert receivers_of(routing_config, **labels) == expected


def test_a_match_carries_inherited_grouping_and_timings(routing_config: AlertingConfig) -> None:
    [match] = match_routes(routing_config, {"alertname": "DiskFull", "team": "data", "service": "db", "x": "1"})
    assert match.group_by == ("alertname", "service")
    assert match.group_labels == {"alertname": "DiskFull", "service": "db"}
    assert match.group_key == '0.1.0:{alertname="DiskFull",service="db"}'
    assert (match.group_wait, match.group_interval, match.repeat_interval) == (
        timedelta(seconds=45),
        timedelta(minutes=5),
        timedelta(hours=2),
    )
    assert match.mute_time_intervals == ("nights",)
    assert match.active_time_intervals == ()


def test_group_by_all_labels_uses_every_label(routing_config: AlertingConfig) -> None:
    [match] = match_routes(routing_config, {"alertname": "BackupJobFailed", "team": "data", "source": "backup"})
    assert match.group_labels == {"alertname": "BackupJobFailed", "team": "data", "source": "backup"}
    assert match.group_key == '0.1.1:{alertname="BackupJobFailed",source="backup",team="data"}'


def test_missing_group_by_labels_are_left_out_of_the_key(routing_config: AlertingConfig) -> None:
    [match] = match_routes(routing_config, {"alertname": "X", "team": "data"})
    assert match.group_labels == {"alertname": "X"}


def test_group_key_is_stable_and_quoted() -> None:
    assert group_key_of("0.1", {"service": "api", "alertname": "X"}) == '0.1:{alertname="X",service="api"}'
    assert group_key_of("0", {"a": 'say "hi"\n'}) == '0:{a="say \\"hi\\"\\n"}'
    assert group_key_of("0", {}) == "0:{}"


def test_results_are_cached_per_label_set_and_independent_of_order(routing_config: AlertingConfig) -> None:
    first = match_routes(routing_config, {"alertname": "A", "severity": "critical"})
    second = match_routes(routing_config, {"severity": "critical", "alertname": "A"})
    assert first == second
    assert first[0] is second[0]  # served from the cache
    first.clear()  # callers get their own list
    assert match_routes(routing_config, {"alertname": "A", "severity": "critical"})


def test_root_without_group_by_makes_one_group_per_route() -> None:
    cfg = parse_config(
        {"route": {"receiver": "r"}, "receivers": [{"name": "r", "type": "email", "topic_arn": "env:T"}]}
    )
    assert [m.group_key for m in match_routes(cfg, {"alertname": "A"})] == ["0:{}"]


def test_fallback_match_groups_by_alertname_and_sends_at_once(routing_config: AlertingConfig) -> None:
    match = fallback_match(routing_config)
    assert match.receiver == "ops"
    assert match.group_by == ("alertname",)
    assert match.group_key == 'fallback:{alertname="UnrecognisedEvent"}'
    assert match.group_wait == timedelta(0)
    assert match.group_interval == routing_config.tree.group_interval
    assert match.repeat_interval == routing_config.tree.repeat_interval
    assert fallback_match(routing_config, {"alertname": "Other"}).group_labels == {"alertname": "Other"}
