"""Time intervals (Alertmanager syntax): when a route is muted (mute_time_intervals) or active
(active_time_intervals)."""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Protocol

from safejob_ops.alerting.config import AlertingConfig, ParsedInterval, TimeInterval, TimeIntervalSpec


class HasTimeIntervals(Protocol):
    """Anything that names mute/active time intervals: a RouteMatch, or a dispatch GroupState."""

    @property
    def mute_time_intervals(self) -> tuple[str, ...] | list[str]: ...

    @property
    def active_time_intervals(self) -> tuple[str, ...] | list[str]: ...


def in_time_interval(now: datetime, interval: TimeInterval | TimeIntervalSpec) -> bool:
    """Whether `now` falls in the interval (any of a named interval's entries), evaluated in its location.

    >>> from datetime import UTC
    >>> spec = TimeIntervalSpec.model_validate({"weekdays": ["monday:friday"],
    ...     "times": [{"start_time": "09:00", "end_time": "17:00"}], "location": "Europe/London"})
    >>> in_time_interval(datetime(2026, 7, 1, 8, 30, tzinfo=UTC), spec)  # 09:30 in London (BST)
    True
    """
    specs = interval.time_intervals if isinstance(interval, TimeInterval) else [interval]
    return any(_contains(now, spec.parsed) for spec in specs)


def is_muted(now: datetime, route_match: HasTimeIntervals, config: AlertingConfig) -> bool:
    """True when a mute interval of the route is active, or when the route has active intervals and none is.
    Names the config no longer defines are ignored (a group outlives a config change).

    >>> from datetime import UTC
    >>> from safejob_ops.alerting.config import parse_config
    >>> from safejob_ops.alerting.routing import match_routes
    >>> cfg = parse_config({"route": {"receiver": "r", "routes": [{"active_time_intervals": ["weekdays"]}]},
    ...     "receivers": [{"name": "r", "type": "email", "topic_arn": "env:T"}],
    ...     "time_intervals": [{"name": "weekdays", "time_intervals": [{"weekdays": ["monday:friday"]}]}]})
    >>> [route] = match_routes(cfg, {"alertname": "X"})
    >>> is_muted(datetime(2026, 3, 7, tzinfo=UTC), route, cfg), is_muted(datetime(2026, 3, 9, tzinfo=UTC), route, cfg)
    (True, False)
    """
    known = {ti.name: ti for ti in config.time_intervals}
    if any(in_time_interval(now, known[n]) for n in route_match.mute_time_intervals if n in known):
        return True
    active = [known[n] for n in route_match.active_time_intervals if n in known]
    return bool(active) and not any(in_time_interval(now, ti) for ti in active)


def _contains(now: datetime, p: ParsedInterval) -> bool:
    t = now.astimezone(p.tz)
    if p.times:
        minute = t.hour * 60 + t.minute
        if not any(start <= minute < end for start, end in p.times):
            return False
    if p.weekdays and not any(b <= t.weekday() <= e for b, e in p.weekdays):
        return False
    if p.days_of_month and not _day_matches(t, p.days_of_month):
        return False
    if p.months and not any(b <= t.month <= e for b, e in p.months):
        return False
    return not p.years or any(b <= t.year <= e for b, e in p.years)


def _day_matches(t: datetime, ranges: tuple[tuple[int, int], ...]) -> bool:
    # Alertmanager's rules: negative days count from the end of the month (-1 = the last day); a range that
    # starts after the end of a short month is skipped, and ends are clamped to the month.
    days = calendar.monthrange(t.year, t.month)[1]
    for begin, end in ranges:
        b = days + begin + 1 if begin < 0 else begin
        e = days + end + 1 if end < 0 else end
        if b > days:
            continue
        b, e = max(b, 1), min(e, days)
        if b <= t.day <= e:
            return True
    return False
