"""Time intervals: Alertmanager syntax, time zones, negative days of month; mute and active routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from safejob_ops.alerting.config import AlertingConfig, TimeInterval, TimeIntervalSpec
from safejob_ops.alerting.routing import match_routes
from safejob_ops.alerting.timeintervals import in_time_interval, is_muted


def spec(**fields: Any) -> TimeIntervalSpec:
    return TimeIntervalSpec.model_validate(fields)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "now", "inside"),
    [
        ({}, at(2026, 3, 2, 3, 0), True),  # an empty entry matches all the time
        ({"times": [{"start_time": "09:00", "end_time": "17:00"}]}, at(2026, 3, 2, 9, 0), True),  # start inclusive
        ({"times": [{"start_time": "09:00", "end_time": "17:00"}]}, at(2026, 3, 2, 17, 0), False),  # end exclusive
        ({"times": [{"start_time": "22:00", "end_time": "24:00"}]}, at(2026, 3, 2, 23, 59), True),
        ({"weekdays": ["monday:friday"]}, at(2026, 3, 7, 12, 0), False),  # a Saturday
        ({"weekdays": ["saturday", "sunday"]}, at(2026, 3, 8, 12, 0), True),
        ({"days_of_month": ["-1"]}, at(2026, 2, 28, 12, 0), True),  # last day of February
        ({"days_of_month": ["-1"]}, at(2026, 3, 30, 12, 0), False),
        ({"days_of_month": ["-3:-1"]}, at(2024, 2, 27, 0, 0), True),  # leap year: 27..29
        ({"days_of_month": ["-3:-1"]}, at(2024, 2, 26, 23, 59), False),
        ({"days_of_month": ["1:5", 31]}, at(2026, 1, 31, 0, 0), True),
        ({"days_of_month": ["31"]}, at(2026, 4, 30, 0, 0), False),  # April has no 31st: skipped
        ({"days_of_month": ["25:31"]}, at(2026, 2, 28, 0, 0), True),  # clamped to the month
        ({"months": ["january:march"]}, at(2026, 3, 31, 0, 0), True),
        ({"months": ["11", "december"]}, at(2026, 3, 2, 0, 0), False),
        ({"years": ["2025:2026"]}, at(2026, 3, 2, 0, 0), True),
        ({"years": ["2027"]}, at(2026, 3, 2, 0, 0), False),
    ],
)
def test_time_interval_fields(fields: dict[str, Any], now: datetime, inside: bool) -> None:
    assert in_time_interval(now, spec(**fields)) is inside


def test_times_are_evaluated_in_the_location() -> None:
    # GIVEN 09:00-17:00 in New York WHEN it is 13:30 UTC in March (EST, UTC-5) / in July (EDT, UTC-4)
    office = spec(times=[{"start_time": "09:00", "end_time": "17:00"}], location="America/New_York")
    assert not in_time_interval(at(2026, 3, 2, 13, 30), office)  # 08:30 EST
    assert in_time_interval(at(2026, 7, 1, 13, 30), office)  # 09:30 EDT
    # the weekday changes with the zone too: Monday 23:30 UTC is Tuesday in Tokyo
    tuesday_tokyo = spec(weekdays=["tuesday"], location="Asia/Tokyo")
    assert in_time_interval(at(2026, 3, 2, 23, 30), tuesday_tokyo)
    assert not in_time_interval(at(2026, 3, 2, 14, 0), tuesday_tokyo)


def test_negative_days_follow_the_zone_across_month_ends() -> None:
    # 2026-03-31 23:30 UTC is already April 1st in Berlin: not the last day of the month there
    last_day = spec(days_of_month=["-1"], location="Europe/Berlin")
    assert not in_time_interval(at(2026, 3, 31, 23, 30), last_day)
    assert in_time_interval(at(2026, 3, 31, 21, 30), last_day)


def test_a_named_interval_matches_when_any_entry_does() -> None:
    interval = TimeInterval.model_validate(
        {
            "name": "off",
            "time_intervals": [
                {"weekdays": ["saturday", "sunday"]},
                {"times": [{"start_time": "00:00", "end_time": "07:00"}]},
            ],
        }
    )
    assert in_time_interval(at(2026, 3, 7, 12, 0), interval)  # Saturday noon
    assert in_time_interval(at(2026, 3, 2, 6, 59), interval)  # Monday early morning
    assert not in_time_interval(at(2026, 3, 2, 7, 0), interval)


def test_mute_and_active_intervals_of_routes(routing_config: AlertingConfig, sim_config: AlertingConfig) -> None:
    # GIVEN a route muted at night WHEN it is 23:00 / 12:00 THEN muted / not muted
    [data] = match_routes(routing_config, {"alertname": "X", "team": "data"})
    assert is_muted(at(2026, 3, 2, 23, 0), data, routing_config)
    assert not is_muted(at(2026, 3, 2, 12, 0), data, routing_config)
    # GIVEN a route active in office hours only WHEN outside them THEN muted
    [mail] = match_routes(sim_config, {"alertname": "X", "severity": "info"})
    assert not is_muted(at(2026, 3, 2, 10, 0), mail, sim_config)
    assert is_muted(at(2026, 3, 2, 18, 0), mail, sim_config)
    assert is_muted(at(2026, 3, 7, 10, 0), mail, sim_config)  # Saturday
    # a route with no intervals is never muted
    [root] = match_routes(sim_config, {"alertname": "X"})
    assert not is_muted(at(2026, 3, 7, 3, 0), root, sim_config)


def test_unknown_interval_names_are_ignored(sim_config: AlertingConfig) -> None:
    # a group created under an older config may name intervals that no longer exist
    class Stale:
        mute_time_intervals = ("gone",)
        active_time_intervals = ("gone-too",)

    assert not is_muted(at(2026, 3, 2, 10, 0), Stale(), sim_config)
