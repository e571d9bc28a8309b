"""Routing engine throughput: an alarm storm through normalise + match_routes, in-process, on one thread.

Each run processes every event of the storm: `normalise(event, config.global_)`, then `match_routes(config,
alert.labels.as_dict())` for each alert, as the ingest function does before touching its store. The memo caches
(route matches per label set, parsed alarm descriptions) are emptied before each run, so every run starts as a
fresh Lambda execution environment would. The floor, run in turn with it, is `json.loads(json.dumps(event))` of the
same events: the least any processing of these events costs. The events are built before timing starts.
"""

from __future__ import annotations

import cProfile
import gc
import json
import pstats
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from safejob_ops.alerting.config import AlertingConfig, load_config
from safejob_ops.alerting.normalise import normalise, parse_description
from safejob_ops.alerting.routing import match_routes
from safejob_tools.bench.results import HotSpot, RoutingReport, Spread
from safejob_tools.bench.storm import event_counts, interleaved, make_alarms

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "config" / "alerting.yaml"
TARGET = 20_000.0  # alerts per second


def storm_events(events: int, alarms: int, seed: int = 7) -> list[dict[str, Any]]:
    """`events` EventBridge alarm events over `alarms` alarms, in storm order, a millisecond apart.

    >>> events = storm_events(6, 2)
    >>> len(events), events[0]["detail"]["state"]["value"], events[0]["detail"]["alarmName"]
    (6, 'ALARM', 'Storm0000')
    """
    specs = make_alarms(alarms, seed=seed)
    order = interleaved(specs, event_counts(events, alarms, seed=seed))
    start = datetime.now(UTC) - timedelta(hours=1)
    return [specs[i].event(state, at=start + timedelta(milliseconds=n)) for n, (i, state) in enumerate(order)]


def route_all(events: list[dict[str, Any]], config: AlertingConfig) -> tuple[int, int]:
    """What is timed: every event normalised and routed. Returns (alerts, route matches)."""
    alerts = matches = 0
    defaults = config.global_
    for event in events:
        for alert in normalise(event, defaults):
            alerts += 1
            matches += len(match_routes(config, alert.labels.as_dict()))
    return alerts, matches


def floor(events: list[dict[str, Any]]) -> int:
    """The baseline: a JSON round trip of every event."""
    for event in events:
        json.loads(json.dumps(event))
    return len(events)


def _fresh(config: AlertingConfig) -> None:
    config.route_cache.clear()
    parse_description.cache_clear()
    gc.collect()


def _timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def hot_spots(events: list[dict[str, Any]], config: AlertingConfig, top: int = 12) -> list[HotSpot]:
    """One run under cProfile: the functions with the most own time."""
    _fresh(config)
    profile = cProfile.Profile()
    profile.runcall(route_all, events, config)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    return [
        HotSpot(function=f"{Path(file).name}:{line}:{name}" if file != "~" else name, calls=calls,
                own_ms=round(own * 1000, 2), cumulative_ms=round(cumulative * 1000, 2))
        for (file, line, name), (_, calls, own, cumulative, _) in rows
    ]


def run(events: int = 10_000, alarms: int = 200, runs: int = 7, config_path: Path = CONFIG,
        progress: Callable[[str], None] | None = None, profile: bool = False) -> RoutingReport:
    """Best-of and median alerts/s over `runs` runs, each paired with a floor run."""
    config = load_config(config_path)
    storm = storm_events(events, alarms)
    if progress:
        progress(f"routing: {events} events over {alarms} alarms, {runs} runs (each paired with the floor)")
    _fresh(config)
    alerts, matches = route_all(storm, config)  # warm-up, and the counts
    routing_times, floor_times = [], []
    for _ in range(runs):
        _fresh(config)
        routing_times.append(_timed(lambda: route_all(storm, config)))
        gc.collect()
        floor_times.append(_timed(lambda: floor(storm)))
    per_second = Spread.of([alerts / t for t in routing_times])
    passed = per_second.max >= TARGET  # best of N, as the target is stated
    return RoutingReport(
        events=events,
        alarms=alarms,
        alerts=alerts,
        route_matches=matches,
        runs=runs,
        alerts_per_second=per_second,
        floor_events_per_second=Spread.of([events / t for t in floor_times]),
        ratio_to_floor=Spread.of([r / f for r, f in zip(routing_times, floor_times, strict=True)]),
        target_alerts_per_second=TARGET,
        passed=passed,
        hot_spots=hot_spots(storm, config) if profile or not passed else [],
    )
