"""A discrete-event simulation of the whole routing pipeline in simulated time: the dry run behind
`safejob-ops alerts route`, and the test bed for the dispatch logic. It calls the same functions as the Lambdas
(normalise, match_routes, upsert_alert, flush); only the clock and the stores are simulated.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from safejob_ops.alerting.config import AlertingConfig, Duration, MatcherText
from safejob_ops.alerting.dispatch import (
    FlushContext,
    GroupState,
    episode_started,
    flush,
    is_resolved,
    merge_alert,
    upsert_alert,
)
from safejob_ops.alerting.matchers import Matcher, MatchType
from safejob_ops.alerting.models import Alert, AlertStatus, Notification
from safejob_ops.alerting.normalise import UnknownEventError, normalise, unrecognised_event_alert
from safejob_ops.alerting.routing import RouteMatch, fallback_match, match_routes
from safejob_ops.alerting.silences import (
    MaintenanceWindowError,
    Silence,
    maintenance_window,
    silence_id,
    to_expire_on_resolve,
)


class SimulationError(ValueError):
    """An input the simulation cannot apply (named by its line number when known)."""


class SilenceInput(BaseModel):
    """A silence created at the line's time: give `ends_at` or `duration`."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[MatcherText] = Field(min_length=1)
    ends_at: AwareDatetime | None = None
    duration: Duration | None = None
    expire_on_resolve: bool = False
    comment: str = ""
    created_by: str = "simulator"

    @model_validator(mode="after")
    def _one_end(self) -> SilenceInput:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give exactly one of ends_at or duration")
        return self


class MaintenanceInput(BaseModel):
    """Open (for `duration`, default maintenance.default_duration) or close a service's maintenance window."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1)
    action: Literal["open", "close"]
    duration: Duration | None = None
    opened_by: str = "simulator"


class TimedInput(BaseModel):
    """One input line: `{"at": ISO-8601, "event" | "silence" | "maintenance": {...}}`."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime
    event: Any = None
    silence: SilenceInput | None = None
    maintenance: MaintenanceInput | None = None
    # Where the input came from (1-based line number), for error messages; 0 when unknown.
    line: int = Field(default=0, exclude=True)

    @model_validator(mode="after")
    def _exactly_one(self) -> TimedInput:
        given = [k for k in ("event", "silence", "maintenance") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of event, silence or maintenance")
        return self


def simulate(
    config: AlertingConfig, lines: Iterable[TimedInput], until: datetime | None = None
) -> Iterator[Notification]:
    """Run the inputs through routing and dispatch in simulated time and yield every notification, in time order.

    Inputs are applied in `at` order (ties keep their order); before an input at time t, every group timer due at or
    before t fires (a group's first flush at first_flush_at, then every group_interval). Without `until`, the
    simulation runs until the last input's time plus the largest group_wait plus the largest group_interval.

    >>> from safejob_ops.alerting.config import parse_config
    >>> cfg = parse_config({"route": {"receiver": "ops", "group_by": ["alertname"]},
    ...     "receivers": [{"name": "ops", "type": "email", "topic_arn": "env:T"}]})
    >>> ev = {"detail-type": "Step Functions Execution Status Change", "time": "2026-01-01T10:00:00Z",
    ...       "detail": {"status": "FAILED", "stateMachineArn": "arn:aws:states:eu-west-1:1:stateMachine:deploy"}}
    >>> [(n.at.isoformat(), n.status.value) for n in simulate(cfg, [TimedInput(at=ev["time"], event=ev)])]
    [('2026-01-01T10:00:30+00:00', 'firing')]
    """
    ordered = sorted(lines, key=lambda line: line.at)
    if until is None and ordered:
        routes = config.routes()
        until = ordered[-1].at + max(r.group_wait for r in routes) + max(r.group_interval for r in routes)
    sim = _Simulation(config)
    for line in ordered:
        if until is not None and line.at > until:
            break
        yield from sim.run_timers(line.at)
        sim.apply(line)
    if until is not None:
        yield from sim.run_timers(until)


@dataclass(order=True)
class _Timer:
    due: datetime
    seq: int
    group_key: str = field(compare=False)
    tick: int = field(compare=False)


class _Simulation:
    def __init__(self, config: AlertingConfig) -> None:
        self.config = config
        self.groups: dict[str, GroupState] = {}
        self.timers: list[_Timer] = []
        self.seq = 0
        self.silences: list[Silence] = []
        # The latest version of every alert, whatever its route: the source set for inhibition.
        self.alerts: dict[str, Alert] = {}

    # --- inputs -----------------------------------------------------------------------------------------------

    def apply(self, line: TimedInput) -> None:
        if line.silence is not None:
            self._add_silence(line)
        elif line.maintenance is not None:
            self._maintenance(line)
        else:
            self._event(line.event, line.at)

    def _event(self, event: Any, at: datetime) -> None:
        try:
            alerts = normalise(event, self.config.global_)
            unknown = False
        except UnknownEventError as exc:
            alerts = [unrecognised_event_alert(event, exc, at, self.config.global_)]
            unknown = True
        for alert in alerts:
            self._alert(alert, at, unknown)

    def _alert(self, alert: Alert, at: datetime, unknown: bool) -> None:
        if alert.status is AlertStatus.RESOLVED:
            ending = {s.id for s in to_expire_on_resolve(alert, self.silences, at)}
            self.silences = [s.expire(at) if s.id in ending else s for s in self.silences]
        fingerprint = alert.fingerprint
        merged = merge_alert(self.alerts.get(fingerprint), alert)
        if merged is not None:
            self.alerts[fingerprint] = merged
        labels = alert.labels.as_dict()
        matches: list[RouteMatch] = (
            [fallback_match(self.config, labels)] if unknown else match_routes(self.config, labels)
        )
        for match in matches:
            before = self.groups.get(match.group_key)
            after = upsert_alert(before, match, alert, at)
            if after is before:
                continue
            self.groups[match.group_key] = after
            if episode_started(before, after):
                self._schedule(after.first_flush_at, match.group_key, 0)

    def _add_silence(self, line: TimedInput) -> None:
        spec = line.silence
        assert spec is not None
        ends_at = spec.ends_at if spec.ends_at is not None else line.at + (spec.duration or timedelta(0))
        try:
            silence = Silence(
                id=silence_id(line.at.isoformat(), *spec.matchers),
                matchers=spec.matchers,
                starts_at=line.at,
                ends_at=ends_at,
                created_by=spec.created_by,
                comment=spec.comment,
                expire_on_resolve=spec.expire_on_resolve,
            )
        except ValidationError as exc:
            raise SimulationError(_where(line) + "silence: " + "; ".join(e["msg"] for e in exc.errors())) from None
        self.silences.append(silence)

    def _maintenance(self, line: TimedInput) -> None:
        spec = line.maintenance
        assert spec is not None
        settings = self.config.maintenance
        if spec.action == "open":
            try:
                window = maintenance_window(
                    spec.service,
                    spec.opened_by,
                    line.at,
                    spec.duration or settings.default_duration,
                    settings.max_duration,
                )
            except MaintenanceWindowError as exc:
                raise SimulationError(f"{_where(line)}maintenance.duration: {exc}") from None
            self.silences.append(window)
            return
        target = Matcher(name="service", type=MatchType.EQUAL, value=spec.service)
        self.silences = [
            s.expire(line.at) if s.kind == "maintenance" and str(target) in s.matchers else s for s in self.silences
        ]

    # --- timers -----------------------------------------------------------------------------------------------

    def _schedule(self, due: datetime, group_key: str, tick: int) -> None:
        self.seq += 1
        heapq.heappush(self.timers, _Timer(due, self.seq, group_key, tick))

    def run_timers(self, until: datetime) -> Iterator[Notification]:
        while self.timers and self.timers[0].due <= until:
            timer = heapq.heappop(self.timers)
            group = self.groups[timer.group_key]
            ctx = FlushContext(
                now=timer.due,
                silences=self.silences,
                firing_alerts=[a for a in self.alerts.values() if not is_resolved(a, timer.due)],
                inhibit_rules=self.config.inhibit_rules,
                config=self.config,
                send_resolved=_send_resolved(self.config, group.receiver),
            )
            result = flush(group, ctx, timer.tick)
            self.groups[timer.group_key] = result.group
            if result.notification is not None:
                yield result.notification
            if not result.done:
                self._schedule(timer.due + timedelta(seconds=result.next_wait_seconds), timer.group_key, timer.tick + 1)


def _send_resolved(config: AlertingConfig, receiver: str) -> bool:
    try:
        return config.receiver(receiver).send_resolved
    except KeyError:
        return True


def _where(line: TimedInput) -> str:
    return f"line {line.line}: " if line.line else ""
