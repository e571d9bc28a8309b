"""The alarm storm both throughput benchmarks send: distinct CloudWatch alarms flapping between ALARM and OK.

An alarm is one (name, region) pair. A few alarm names exist in two regions, once `critical` and once `warning`,
with the same service: the critical one inhibits the warning (config `inhibit_rules`), so inhibition happens in the
storm too. Each alarm's state changes alternate, starting with ALARM, as CloudWatch emits them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from safejob_tools.eventgen import alarm_event

Severity = Literal["critical", "warning", "info"]
State = Literal["ALARM", "OK"]

SERVICES = ("api", "web", "worker", "db", "cache", "search")
TEAMS = ("platform", "backend", "web", "data")
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1")
# One alarm in five pages (critical), one in five is informational.
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "warning", "warning", "info")
# One alarm name in ten exists in two regions as an inhibiting critical / inhibited warning pair (the second name
# of every ten, so that even a small storm has one).
PAIR_EVERY = 10


@dataclass(frozen=True, slots=True)
class Alarm:
    name: str
    region: str
    service: str
    severity: Severity
    team: str

    def event(self, state: State, at: datetime | None = None) -> dict[str, Any]:
        """This alarm's EventBridge "CloudWatch Alarm State Change" event."""
        return alarm_event(self.name, state, service=self.service, severity=self.severity, team=self.team,
                           region=self.region, at=at)


def make_alarms(count: int, prefix: str = "Storm", seed: int = 7) -> list[Alarm]:
    """`count` distinct alarms (names `<prefix>NNNN`), some of them critical/warning pairs of one name.

    >>> alarms = make_alarms(20)
    >>> len(alarms), len({(a.name, a.region) for a in alarms})
    (20, 20)
    """
    rng = random.Random(seed)
    alarms: list[Alarm] = []
    index = 0
    while len(alarms) < count:
        name = f"{prefix}{index:04d}"
        service, team = rng.choice(SERVICES), rng.choice(TEAMS)
        if index % PAIR_EVERY == 1 and count - len(alarms) >= 2:
            alarms.append(Alarm(name, REGIONS[0], service, "critical", team))
            alarms.append(Alarm(name, REGIONS[1], service, "warning", team))
        else:
            alarms.append(Alarm(name, rng.choice(REGIONS), service, rng.choice(SEVERITIES), team))
        index += 1
    return alarms


def event_counts(events: int, alarms: int, seed: int = 7) -> list[int]:
    """How many state changes each alarm makes: `events` in all, each alarm about the same number (some one or two
    more, some fewer, so that some alarms end the storm firing and some resolved).

    >>> counts = event_counts(2000, 200)
    >>> sum(counts), min(counts) >= 1, any(c % 2 for c in counts), any(c % 2 == 0 for c in counts)
    (2000, True, True, True)
    """
    if alarms < 1 or events < alarms:
        raise ValueError("need at least one alarm and at least one event per alarm")
    rng = random.Random(seed)
    base, extra = divmod(events, alarms)
    counts = [base + (1 if i < extra else 0) for i in range(alarms)]
    # Move single events between random pairs of alarms: the total stays, the parities mix.
    for _ in range(alarms):
        a, b = rng.randrange(alarms), rng.randrange(alarms)
        if a != b and counts[a] > 1:
            counts[a] -= 1
            counts[b] += 1
    return counts


def state_sequence(count: int) -> list[State]:
    """ALARM, OK, ALARM, ... (`count` state changes)."""
    return ["ALARM" if i % 2 == 0 else "OK" for i in range(count)]


def interleaved(alarms: list[Alarm], counts: list[int]) -> list[tuple[int, State]]:
    """The storm in the order it happens: round r has the r-th state change of every alarm that has one.

    >>> interleaved(make_alarms(2), [2, 1])
    [(0, 'ALARM'), (1, 'ALARM'), (0, 'OK')]
    """
    sequences = [state_sequence(c) for c in counts]
    rounds = max(counts)
    return [(i, seq[r]) for r in range(rounds) for i, seq in enumerate(sequences) if r < len(seq)]
