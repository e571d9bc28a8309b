"""What the benchmarks report: one pydantic model per benchmark, and the whole report (`.bench/results.json`).

Figures are medians over several runs with their min and max, and ratios against a baseline measured in the same
run (never absolute thresholds: the machines are shared and noisy).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from safejob_tools.bench.deploy_model import DeployModelReport


class Spread(BaseModel):
    """min / median / max of one figure over several runs."""

    model_config = ConfigDict(frozen=True)

    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of `values`.

        >>> Spread.of([3.0, 1.0, 2.0])
        Spread(min=1.0, median=2.0, max=3.0)
        """
        if not values:
            raise ValueError("no values")
        return cls(min=min(values), median=statistics.median(values), max=max(values))


class Cost(BaseModel):
    """One contributor to a cold start: an import (cumulative, from `python -X importtime`) or an init call made by
    the handler module's body (from cProfile, so inflated by the profiler: compare them with each other)."""

    kind: Literal["import", "init"]
    what: str
    ms: float
    detail: str = ""


# ------------------------------------------------------------------------------------------------ cold start
class ColdStartResult(BaseModel):
    function: str
    handler: str = Field(description="the handler file, relative to the repository")
    runs: int
    wall_ms: Spread = Field(description="whole fresh process: interpreter start, imports and module init")
    cpu_ms: Spread = Field(description="user + system CPU of the same processes")
    import_ms: Spread = Field(description="the handler module's import and init alone, timed inside the process")
    baseline_wall_ms: Spread = Field(description="`python -c 'import boto3'`, run in turn with the function")
    ratio: Spread = Field(description="function wall / baseline wall, pair by pair")
    target: float
    passed: bool
    top_costs: list[Cost] = Field(default_factory=list, description="where the time goes (always measured)")


class ColdStartReport(BaseModel):
    python: str
    baseline_command: str
    runs: int
    target: float
    functions: list[ColdStartResult]


# ------------------------------------------------------------------------------------------------ routing
class HotSpot(BaseModel):
    function: str
    calls: int
    own_ms: float
    cumulative_ms: float


class RoutingReport(BaseModel):
    events: int
    alarms: int
    alerts: int = Field(description="alerts the events normalised into (one per alarm state change)")
    route_matches: int = Field(description="routes the alerts matched, in all")
    runs: int
    alerts_per_second: Spread
    floor_events_per_second: Spread = Field(description="json.loads(json.dumps(event)) of the same events")
    ratio_to_floor: Spread = Field(description="routing time / floor time, run by run (how many floors it costs)")
    target_alerts_per_second: float
    passed: bool
    hot_spots: list[HotSpot] = Field(default_factory=list, description="profiled only when the target is missed")


# ------------------------------------------------------------------------------------------------ end to end
class LostAlert(BaseModel):
    alarm: str
    region: str
    fingerprint: str
    receiver: str
    episodes_seconds: list[float] = Field(description="how long each of its firing episodes lasted")


class WindowViolation(BaseModel):
    receiver: str
    group_key: str
    count: int
    window_seconds: float
    at: list[str] = Field(description="the notification log timestamps inside the window")
    across_executions: bool | None = Field(
        description="whether they came from different executions (group generations); None when unclear")


class E2EReport(BaseModel):
    alarms: int
    storm_events: int = Field(description="distinct state changes sent during the storm")
    redeliveries: int = Field(description="storm events sent a second time, after the alarm's next state change")
    resolve_events: int = Field(description="OK events sent at the end to alarms still firing")
    threads: int
    ingest_errors: int
    stale_ignored: int = Field(description="events the ingest refused as older than the stored state")
    storm_seconds: float
    ingest_events_per_second: float
    ingest_latency_ms: Spread
    drain_seconds: float = Field(description="from the last resolve until every group execution had finished")
    total_seconds: float
    executions: dict[str, int] = Field(
        description="group executions by final status; IDLE: still running, its route muted by time intervals")
    groups_created: int = Field(description="group episodes started by the ingest (each starts one execution)")
    distinct_groups: int = Field(description="distinct group keys created")
    notifications: int = Field(description="entries in the notification log")
    notifications_by_receiver: dict[str, int]
    distinct_groups_notified: int
    max_notifications_per_group_interval: int = Field(
        description="most notifications one group's flushes decided within one group_interval (must be <= 1)")
    max_deliveries_per_group_interval: int = Field(
        description="the same, by delivery time (the notification log): delivery delays can bring two closer")
    window_violations: list[WindowViolation] = Field(default_factory=list)
    sink_requests: dict[str, int] = Field(description="requests the local HTTP sink got, by path")
    requests_logged: int = Field(description="HTTP requests the notification log says were sent")
    alerts_expected: int = Field(description="(alert, receiver) pairs that fired in the storm")
    alerts_notified: int
    excused_short: int = Field(description="every firing episode shorter than the route's group_wait")
    excused_inhibited: int = Field(description="never notified while an inhibiting critical alert fired")
    excused_time_muted: int = Field(description="the route was outside its active time intervals")
    lost_alerts: int
    lost: list[LostAlert] = Field(default_factory=list)
    duplicate_notification_ids: int = Field(description="notification ids logged more than once")
    duplicate_sink_requests: int = Field(description="sink requests beyond those the notification log accounts for")
    missing_sink_requests: int = Field(description="logged requests the sink never got")
    consistent: bool = Field(description="the counts agree with each other (see `problems`)")
    problems: list[str] = Field(default_factory=list)
    passed: bool


# ------------------------------------------------------------------------------------------------ deploy transitions
class TransitionCount(BaseModel):
    """The state transitions of one execution, counted from its history (`deploy_transitions.count_transitions`)."""

    model_config = ConfigDict(frozen=True)

    entered: int = Field(description="*StateEntered events: one transition each")
    retries: int = Field(description="task attempts after a state's first (a Retry): billed as transitions too")
    transitions: int = Field(description="what AWS bills: entered + retries")
    by_state: dict[str, int] = Field(description="transitions per state name (retries included), in first-entry order")


class TransitionScenario(BaseModel):
    """One deploy run in the emulator and its state transitions."""

    scenario: str
    title: str
    status: str = Field(description="the execution's final status")
    outcome: str | None = Field(description="the ledger's outcome")
    seconds: float = Field(description="from StartExecution to the end, in the emulator")
    count: TransitionCount
    weights: list[int] = Field(description="the new colour's share at each Shift")
    extensions: int = Field(description="Analyse verdicts `extend` (each one bakes and analyses the step again)")
    health_looks: int = Field(description="CheckGreen looks before green was healthy (the emulator's is instant)")
    cost_usd: float = Field(description="transitions x the price of one")
    ratio_to_target: float
    projected_transitions: int = Field(
        description="with production's green-health loop (deploy model: looks until green is healthy), nominal")
    projected_pessimistic_transitions: int = Field(description="the same with the model's pessimistic ready time")
    judged: bool = Field(description="the issue's scenario (a 3-step canary): the target applies to it")
    passed: bool = Field(description="the deploy succeeded and, when judged, took at most the target's transitions")


class DeployTransitionsReport(BaseModel):
    price_per_transition_usd: float
    price_source: str
    target_transitions: int
    target_cost_usd: float
    transitions_per_health_look: int = Field(description="WaitForGreen, CheckGreen, GreenHealthy?")
    transitions_per_extension: int = Field(description="Bake, Analyse, Verdict?")
    production_health_looks: int = Field(description="CheckGreen looks in production (nominal), from the model")
    production_pessimistic_health_looks: int
    scenarios: list[TransitionScenario]
    passed: bool


# ------------------------------------------------------------------------------------------------ the whole run
class Machine(BaseModel):
    python: str
    platform: str
    cpus: int


class BenchReport(BaseModel):
    started_at: AwareDatetime
    seconds: float
    quick: bool
    machine: Machine
    coldstart: ColdStartReport | None = None
    routing: RoutingReport | None = None
    e2e: E2EReport | None = None
    deploy_model: DeployModelReport | None = Field(default=None, description="the modeled deploy time")
    deploy_transitions: DeployTransitionsReport | None = None
    missed: list[str] = Field(default_factory=list, description="every target missed, in words")
    errors: dict[str, str] = Field(default_factory=dict, description="benchmarks that could not run, and why")
