"""Properties of the whole pipeline: redelivery, duplication and reordering never page twice or faster than
group_interval, and never change what is sent."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from itertools import pairwise

from alerting_support import T0, alarm_event, config_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safejob_ops.alerting.models import Notification
from safejob_ops.alerting.simulate import TimedInput, simulate

CONFIG = config_of("simulation")
GROUP_INTERVAL = timedelta(minutes=5)
UNTIL = T0 + timedelta(hours=4)
ALARMS = [
    ("DatabaseDown", "severity=critical service=db"),
    ("SlowQueries", "severity=warning service=db"),
    ("HighLatency", "severity=warning service=api"),
    ("HighLatency", "severity=critical service=web"),
    ("ErrorRate", "severity=warning service=api"),
]

# One state change: (which alarm, seconds after T0 at which its state changed, ALARM or OK).
changes = st.lists(
    st.tuples(st.integers(0, len(ALARMS) - 1), st.integers(0, 90 * 60), st.sampled_from(["ALARM", "OK"])),
    min_size=1,
    max_size=14,
)


def event_of(change: tuple[int, int, str]) -> TimedInput:
    index, seconds, state = change
    name, tokens = ALARMS[index]
    at = T0 + timedelta(seconds=seconds)
    return TimedInput(at=at, event=alarm_event(name, state, at, description=f"{name} {tokens}"))


def redelivered(line: TimedInput, delay: int) -> TimedInput:
    return TimedInput(at=line.at + timedelta(seconds=delay), event=line.event)


def sent(notifications: list[Notification]) -> list[tuple[str, str, str]]:
    return sorted((n.at.isoformat(), n.group_key, n.id) for n in notifications)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=changes,
    duplicates=st.lists(st.tuples(st.integers(0, 13), st.integers(0, 60 * 60)), max_size=10),
    order=st.randoms(use_true_random=False),
)
def test_redelivery_and_reordering_are_harmless(
    history: list[tuple[int, int, str]], duplicates: list[tuple[int, int]], order: object
) -> None:
    # GIVEN a history of alarm state changes, each delivered when it happened
    canonical = [event_of(c) for c in history]
    # AND the same history with some events delivered again later (up to an hour), in a shuffled input order
    noisy = list(canonical)
    for which, delay in duplicates:
        noisy.append(redelivered(canonical[which % len(canonical)], delay))
    order.shuffle(noisy)  # type: ignore[attr-defined]

    # WHEN both are simulated
    expected = list(simulate(CONFIG, canonical, UNTIL))
    actual = list(simulate(CONFIG, noisy, UNTIL))

    # THEN no notification id is ever emitted twice
    ids = [n.id for n in actual]
    assert len(ids) == len(set(ids))
    # AND no group is notified more often than once per group_interval
    times: dict[str, list[datetime]] = defaultdict(list)
    for n in actual:
        times[n.group_key].append(n.at)
    for stamps in times.values():
        assert all(b - a >= GROUP_INTERVAL for a, b in pairwise(stamps))
    # AND exactly the same notifications are sent as without the noise
    assert sent(actual) == sent(expected)


@settings(max_examples=40, deadline=None)
@given(history=changes)
def test_every_firing_alarm_is_eventually_told(history: list[tuple[int, int, str]]) -> None:
    # GIVEN any history WHEN simulated THEN every alarm whose last state is ALARM is told firing at least once
    # (unless DatabaseDown, still firing, inhibits it)
    last: dict[int, tuple[int, str]] = {}
    # the latest change wins; at the same instant OK beats ALARM (as in dispatch.merge_alert)
    for index, seconds, state in sorted(history, key=lambda c: (c[1], c[2] == "OK")):
        last[index] = (seconds, state)
    out = list(simulate(CONFIG, [event_of(c) for c in history], UNTIL))
    firing_names = {
        (a.labels["alertname"], a.labels["service"]) for n in out for a in n.alerts if a.status.value == "firing"
    }
    db_down = last.get(0, (0, "OK"))[1] == "ALARM"
    for index, (_, state) in last.items():
        name, tokens = ALARMS[index]
        service = tokens.split("service=")[1]
        if state == "ALARM" and not (db_down and "warning" in tokens and service == "db"):
            assert (name, service) in firing_names
