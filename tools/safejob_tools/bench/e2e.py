"""End to end: an alarm storm through the emulator, from the ingest Lambda to the receivers, then counted.

The storm (bench/storm.py) is sent by several threads, each owning some alarms, so that each alarm's state changes
arrive in order, as CloudWatch sends them. Each thread paces its rounds (`min_round_seconds`) so that a firing
episode lasts longer than the local group_wait. A few events are delivered a second time after the alarm's next
state change (EventBridge delivers at least once, not in order): the ingest must ignore them as stale. The storm
ends by resolving every alarm still firing; the run then waits for every group execution to finish (or to idle,
muted by its route's time intervals), and counts from the notification log (DynamoDB), the local HTTP sink and the
executions' histories (what each flush decided, and when).

Lost alert: an (alert, receiver) pair whose alert fired but whose fingerprint is in no notification of that
receiver; excused when every firing episode was shorter than the route's group_wait, when an inhibiting alert fired
while it did (config inhibit_rules), or when the route was outside its active time intervals.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from safejob_ops.adapters.alert_store import DynamoAlertStore
from safejob_ops.alerting.config import AlertingConfig, load_config
from safejob_ops.alerting.inhibit import inhibited_by
from safejob_ops.alerting.models import Alert
from safejob_ops.alerting.normalise import normalise
from safejob_ops.alerting.routing import RouteMatch, match_routes
from safejob_ops.alerting.timeintervals import is_muted
from safejob_ops.settings import config_file
from safejob_tools.bench.results import E2EReport, LostAlert, Spread, WindowViolation
from safejob_tools.bench.storm import Alarm, State, event_counts, make_alarms
from safejob_tools.localaws.deploy import DeployedStack, deploy
from safejob_tools.localaws.seed import LOCAL_CONFIG, seed_receiver_secrets
from safejob_tools.localaws.server import LocalAws
from safejob_tools.localaws.sink import HttpSink, RecordedRequest

Kind = Literal["storm", "redelivery", "resolve"]


@dataclass(frozen=True)
class E2EParams:
    alarms: int = 20
    events: int = 200
    threads: int = 4
    redelivery_fraction: float = 0.05
    min_round_seconds: float = 1.5
    drain_timeout_seconds: float = 90.0
    seed: int = 7


# Sized for the emulator on 2 cores (docs/benchmarks.md): every live group flushes every 2 s (the local
# group_interval), and a flush costs the emulator 20 to 120 ms of CPU (it reads every firing alert), so the ~44
# groups of 20 alarms already fill the one core a Python process gets.
FULL = E2EParams()
QUICK = E2EParams(alarms=8, events=40, drain_timeout_seconds=60.0)


@dataclass(frozen=True, slots=True)
class Sent:
    """One ingest invocation, timed on the monotonic clock."""

    alarm: int
    state: State
    kind: Kind
    started: float
    finished: float
    ok: bool
    stale: bool
    groups_created: tuple[str, ...] = ()


@dataclass
class _Storm:
    alarms: list[Alarm]
    counts: list[int]
    redeliver: set[tuple[int, int]]  # (alarm, index of the state change sent again after the next one)
    sent: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, sent: Sent) -> None:
        with self.lock:
            self.sent.append(sent)


def _pause(seconds: float) -> None:
    if seconds > 0:
        threading.Event().wait(seconds)


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


@contextlib.contextmanager
def emulator() -> Iterator[tuple[DeployedStack, HttpSink]]:
    """The local AWS emulator with the stack deployed and the receivers pointed at a fresh HTTP sink."""
    with HttpSink() as sink, LocalAws() as aws:
        # moto warns on its own "moto" logger about attributes it cannot resolve (GetAtt LoadBalancerFullName):
        # not ours to fix, and not what the benchmark reports.
        moto_log = logging.getLogger("moto")
        moto_log.addFilter(_errors_only)
        try:
            stack = deploy(aws, parameters={"PagerDutyEventsUrl": sink.url("/pagerduty")})
        finally:
            moto_log.removeFilter(_errors_only)
        seed_receiver_secrets(aws, sink)
        yield stack, sink


def run(params: E2EParams = FULL, stack: DeployedStack | None = None, sink: HttpSink | None = None,
        progress: Callable[[str], None] | None = None) -> E2EReport:
    """Run the storm against `stack` (or a fresh emulator when None) and count what happened. Only this run's alarms
    (uniquely named) are counted, so a shared emulator (the test session's) works too.

    The handlers' standard output (Powertools metrics, as Lambda would send to CloudWatch Logs) is discarded."""
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), warnings.catch_warnings():
        # Invocations share one Metrics object in-process: an invocation may find nothing to flush.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        if stack is None or sink is None:
            with emulator() as (own_stack, own_sink):
                return _run(params, own_stack, own_sink, progress or (lambda _: None))
        return _run(params, stack, sink, progress or (lambda _: None))


def _run(params: E2EParams, stack: DeployedStack, sink: HttpSink, say: Callable[[str], None]) -> E2EReport:
    started = time.monotonic()
    prefix = f"Bench{uuid.uuid4().hex[:6]}-"
    alarms = make_alarms(params.alarms, prefix=prefix, seed=params.seed)
    counts = event_counts(params.events, params.alarms, seed=params.seed)
    rng = random.Random(params.seed)
    candidates = [(i, r) for i, c in enumerate(counts) for r in range(c - 1)]
    redeliver = set(rng.sample(candidates, min(len(candidates), round(params.events * params.redelivery_fraction))))
    storm = _Storm(alarms, counts, redeliver)

    say(f"storm: {params.events} state changes of {params.alarms} alarms, {params.threads} threads")
    storm_started = time.monotonic()
    arn = stack.output("AlarmRouteIngestFunctionArn")
    # One client per thread, created here: creating boto3 clients concurrently is not thread-safe.
    workers = [
        threading.Thread(target=_drive, args=(storm, list(range(t, params.alarms, params.threads)),
                                              stack.aws.client("lambda"), arn, params.min_round_seconds),
                         name=f"storm-{t}")
        for t in range(params.threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    storm_seconds = time.monotonic() - storm_started

    say("storm sent; waiting for every group execution to finish")
    config = load_config(config_file(LOCAL_CONFIG))
    drain_started = time.monotonic()
    executions = _drain(stack, prefix, config, params.drain_timeout_seconds)
    drain_seconds = time.monotonic() - drain_started

    store = DynamoAlertStore(stack.output("AlarmRouteStateTableName"), client=stack.aws.client("dynamodb"))
    log = [e for e in store.notification_log() if prefix in e["group_key"]]
    expected = _expected_routes(alarms, config)
    fingerprints = {fp for fp, _ in expected.values()}
    requests = [r for r in sink.requests() if prefix.encode() in r.raw or _dedup_key(r) in fingerprints]
    decisions = _decisions(stack, executions)
    return _count(params, storm, config, expected, log, requests, executions, decisions,
                  storm_seconds=storm_seconds, drain_seconds=drain_seconds,
                  total_seconds=time.monotonic() - started)


# ------------------------------------------------------------------------------------------------ sending
def _drive(storm: _Storm, partition: list[int], client: Any, arn: str, min_round: float) -> None:
    """One sender thread: round r sends the r-th state change of each of its alarms (and any redelivery due)."""
    last_at: dict[int, datetime] = {}
    payloads: dict[tuple[int, int], bytes] = {}

    def stamp(i: int) -> datetime:
        # Alarm timestamps have millisecond precision: keep each alarm's strictly increasing.
        at = max(datetime.now(UTC), last_at.get(i, datetime.min.replace(tzinfo=UTC)) + timedelta(milliseconds=1))
        last_at[i] = at
        return at

    def send(i: int, state: State, kind: Kind, payload: bytes) -> None:
        begun = time.monotonic()
        ok, stale, created = True, False, ()
        try:
            response = client.invoke(FunctionName=arn, Payload=payload)
            body = json.loads(response["Payload"].read())
            ok = "FunctionError" not in response
            if ok:
                stale = bool(body.get("stale"))
                created = tuple(body.get("groups_created", []))
        except Exception:  # an emulator error is counted as an ingest error, and the storm goes on
            ok = False
        storm.record(Sent(i, state, kind, begun, time.monotonic(), ok, stale, created))

    rounds = max((storm.counts[i] for i in partition), default=0)
    for r in range(rounds):
        round_started = time.monotonic()
        for i in partition:
            if r >= storm.counts[i]:
                continue
            state: State = "ALARM" if r % 2 == 0 else "OK"
            payloads[i, r] = json.dumps(storm.alarms[i].event(state, at=stamp(i))).encode()
            send(i, state, "storm", payloads[i, r])
            if (i, r - 1) in storm.redeliver:
                send(i, "OK" if state == "ALARM" else "ALARM", "redelivery", payloads[i, r - 1])
        _pause(round_started + min_round - time.monotonic())
    for i in partition:
        if storm.counts[i] % 2 == 1:  # still firing: resolve it, so that its groups end
            send(i, "OK", "resolve", json.dumps(storm.alarms[i].event("OK", at=stamp(i))).encode())


# ------------------------------------------------------------------------------------------------ waiting
@dataclass(frozen=True, slots=True)
class Execution:
    arn: str
    group_key: str
    status: str  # RUNNING, SUCCEEDED, FAILED, ...; IDLE: running, its route muted by time intervals right now
    started: datetime
    stopped: datetime | None


def _drain(stack: DeployedStack, prefix: str, config: AlertingConfig, timeout: float) -> list[Execution]:
    """Wait until every execution of this run's groups has finished or is idle (its route is muted by its time
    intervals, so it only waits for them to open), or `timeout`."""
    sfn = stack.aws.client("stepfunctions")
    machine = stack.output("AlarmRouteStateMachineArn")
    group_of: dict[str, str | None] = {}  # execution ARN -> its group key, None when not this run's
    routes = {route.id: route for route in config.routes()}
    deadline = time.monotonic() + timeout
    while True:
        found: list[Execution] = []
        now = datetime.now(UTC)
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
            for execution in page["executions"]:
                arn = execution["executionArn"]
                if arn not in group_of:
                    raw = sfn.describe_execution(executionArn=arn).get("input", "{}")
                    group_of[arn] = json.loads(raw).get("group_key") if prefix in raw else None
                group_key = group_of[arn]
                if group_key is None:
                    continue
                status = execution["status"]
                route = routes.get(group_key.split(":", 1)[0])
                if status == "RUNNING" and route is not None and is_muted(now, route, config):
                    status = "IDLE"
                found.append(Execution(arn, group_key, status, execution["startDate"], execution.get("stopDate")))
        if all(e.status != "RUNNING" for e in found) or time.monotonic() > deadline:
            return found
        _pause(1.0)


# ------------------------------------------------------------------------------------------------ counting
def _expected_routes(alarms: list[Alarm], config: AlertingConfig) -> dict[int, tuple[str, Alert]]:
    """Alarm index -> (fingerprint, its firing alert), as the ingest normalises it."""
    out: dict[int, tuple[str, Alert]] = {}
    for i, alarm in enumerate(alarms):
        [alert] = normalise(alarm.event("ALARM"), config.global_)
        out[i] = (alert.fingerprint, alert)
    return out


def _dedup_key(request: RecordedRequest) -> str:
    body = request.body
    return str(body.get("dedup_key", "")) if isinstance(body, dict) else ""


def _episodes(sent: list[Sent], alarms: int) -> dict[int, list[tuple[float, float]]]:
    """Each alarm's firing episodes (ALARM ingested -> OK ingested), from the state changes (not redeliveries)."""
    by_alarm: dict[int, list[Sent]] = defaultdict(list)
    for s in sent:
        if s.kind != "redelivery" and s.ok:
            by_alarm[s.alarm].append(s)
    episodes: dict[int, list[tuple[float, float]]] = {}
    for i in range(alarms):
        fired: float | None = None
        spans: list[tuple[float, float]] = []
        for s in sorted(by_alarm[i], key=lambda x: x.finished):
            if s.state == "ALARM" and fired is None:
                fired = s.finished
            elif s.state == "OK" and fired is not None:
                spans.append((fired, s.finished))
                fired = None
        if fired is not None:
            spans.append((fired, float("inf")))
        episodes[i] = spans
    return episodes


def _overlaps(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    return any(x0 < y1 and y0 < x1 for x0, x1 in a for y0, y1 in b)


def _stamp_of(sk: str) -> datetime:
    return datetime.strptime(sk.split("#", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _group_interval(config: AlertingConfig, group_key: str) -> float:
    route_id = group_key.split(":", 1)[0]
    for route in config.routes():
        if route.id == route_id:
            return route.group_interval.total_seconds()
    return config.tree.group_interval.total_seconds()


@dataclass(frozen=True, slots=True)
class Decision:
    """A notification as a flush decided it (from the execution's history): `at` is the flush time."""

    id: str
    at: datetime
    receiver: str
    group_key: str
    execution: str


def _decisions(stack: DeployedStack, executions: list[Execution]) -> list[Decision]:
    """Every notification the Flush states of these executions returned (a retried tick returns the same one)."""
    sfn = stack.aws.client("stepfunctions")
    found: dict[str, Decision] = {}
    for execution in executions:
        kwargs: dict[str, Any] = {"executionArn": execution.arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            for event in page["events"]:
                exited = event.get("stateExitedEventDetails", {})
                if exited.get("name") != "Flush":
                    continue
                for n in json.loads(exited.get("output", "{}")).get("notifications", []):
                    at = datetime.fromisoformat(n["at"].replace("Z", "+00:00"))
                    found.setdefault(n["id"], Decision(n["id"], at, n["receiver"], n["group_key"], execution.arn))
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    return sorted(found.values(), key=lambda d: d.at)


def _windows(times: dict[tuple[str, str], list[tuple[datetime, str]]],
             config: AlertingConfig) -> tuple[int, list[WindowViolation]]:
    """The most notifications any group had within one group_interval (its route's), and every window with more
    than one, with whether they came from different executions of the group (successive episodes)."""
    most, violations = 0, []
    for (receiver, group_key), stamps in times.items():
        stamps.sort()
        window = _group_interval(config, group_key)
        for start, (at, _) in enumerate(stamps):
            inside = [(t, e) for t, e in stamps[start:] if (t - at).total_seconds() < window]
            most = max(most, len(inside))
            if len(inside) > 1:
                executions = {e for _, e in inside}
                violations.append(WindowViolation(receiver=receiver, group_key=group_key, count=len(inside),
                                                  window_seconds=window, at=[t.isoformat() for t, _ in inside],
                                                  across_executions=None if "" in executions else len(executions) > 1))
    return most, violations


def _logged_requests(entry: dict[str, str]) -> int:
    """The requests one notification took, from its log detail ("slack: 1 request(s)")."""
    try:
        return int(entry.get("detail", "").split(":", 1)[1].split()[0])
    except (IndexError, ValueError):
        return 1


def _sink_path(receiver: str, config: AlertingConfig) -> str | None:
    kind = config.receiver(receiver).type
    if kind == "pagerduty":
        return "/pagerduty"
    return None if kind == "email" else f"/{kind}/{receiver}"  # email goes to SNS, not to the sink


@dataclass
class _Fate:
    """What became of every (alert, receiver) pair that fired."""

    notified: int = 0
    short: int = 0
    inhibited: int = 0
    muted: int = 0
    lost: list[LostAlert] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.notified + self.short + self.inhibited + self.muted + len(self.lost)


def _fates(storm: _Storm, config: AlertingConfig, expected: dict[int, tuple[str, Alert]],
           log: list[dict[str, str]], run_seconds: float) -> _Fate:
    by_receiver: dict[str, set[str]] = defaultdict(set)
    for entry in log:
        by_receiver[entry["receiver"]].update(json.loads(entry["fingerprints"]))
    episodes = _episodes(storm.sent, len(storm.alarms))
    now = datetime.now(UTC)
    fate = _Fate()
    for i, alarm in enumerate(storm.alarms):
        fingerprint, alert = expected[i]
        spans = episodes[i]
        if not spans:
            continue
        labels = alert.labels.as_dict()
        inhibitors = [j for j, (_, other) in expected.items()
                      if j != i and inhibited_by(labels, [other], config.inhibit_rules) is not None]
        for match in match_routes(config, labels):
            if fingerprint in by_receiver[match.receiver]:
                fate.notified += 1
            elif _time_muted(match, config, now, run_seconds):
                fate.muted += 1
            elif all(end - begin < match.group_wait.total_seconds() for begin, end in spans):
                fate.short += 1
            elif any(_overlaps(spans, episodes[j]) for j in inhibitors):
                fate.inhibited += 1
            else:
                fate.lost.append(LostAlert(alarm=alarm.name, region=alarm.region, fingerprint=fingerprint,
                                           receiver=match.receiver,
                                           episodes_seconds=[round(e - b, 3) for b, e in spans]))
    return fate


def _sink_balance(log: list[dict[str, str]], requests: list[RecordedRequest],
                  config: AlertingConfig) -> tuple[int, int, int]:
    """(requests logged, sink requests beyond them, logged requests the sink never got), path by path."""
    logged: Counter[str] = Counter()
    for entry in log:
        path = _sink_path(entry["receiver"], config)
        if path is not None:
            logged[path] += _logged_requests(entry)
    received = Counter(r.path for r in requests if r.status < 300)
    paths = received | logged
    extra = sum(max(0, received[p] - logged[p]) for p in paths)
    missing = sum(max(0, logged[p] - received[p]) for p in paths)
    return sum(logged.values()), extra, missing


def _count(params: E2EParams, storm: _Storm, config: AlertingConfig, expected: dict[int, tuple[str, Alert]],
           log: list[dict[str, str]], requests: list[RecordedRequest], executions: list[Execution],
           decisions: list[Decision], *,
           storm_seconds: float, drain_seconds: float, total_seconds: float) -> E2EReport:
    sent = storm.sent
    fate = _fates(storm, config, expected, log, storm_seconds + drain_seconds)
    ids = Counter(entry["sk"].split("#", 1)[1] for entry in log)
    duplicate_ids = sum(n - 1 for n in ids.values() if n > 1)
    requests_logged, extra, missing = _sink_balance(log, requests, config)
    by_flush: dict[tuple[str, str], list[tuple[datetime, str]]] = defaultdict(list)
    for d in decisions:
        by_flush[d.receiver, d.group_key].append((d.at, d.execution))
    by_delivery: dict[tuple[str, str], list[tuple[datetime, str]]] = defaultdict(list)
    for entry in log:
        by_delivery[entry["receiver"], entry["group_key"]].append((_stamp_of(entry["sk"]), ""))
    most, violations = _windows(by_flush, config)
    most_delivered, _ = _windows(by_delivery, config)

    errors = sum(1 for s in sent if not s.ok)
    stale = sum(1 for s in sent if s.stale)
    redeliveries = sum(1 for s in sent if s.kind == "redelivery")
    groups_created = [g for s in sent for g in s.groups_created]
    statuses = Counter(e.status for e in executions)
    decided, logged = {d.id for d in decisions}, set(ids)
    checks = [
        (stale != redeliveries, f"{redeliveries} out-of-order redeliveries but {stale} events ignored as stale"),
        (len(executions) != len(groups_created),
         f"{len(groups_created)} group episodes started but {len(executions)} executions found"),
        (bool(statuses.get("RUNNING")),
         f"{statuses.get('RUNNING')} executions still running after {params.drain_timeout_seconds:.0f} s"),
        (bool(set(statuses) - {"SUCCEEDED", "IDLE", "RUNNING"}), f"executions that did not succeed: {dict(statuses)}"),
        (decided != logged, f"{len(decided - logged)} decided notifications never logged as sent, "
                            f"{len(logged - decided)} logged that no flush decided"),
        (bool(extra or missing), f"the sink got {extra} requests more and {missing} fewer than the log accounts for"),
        (errors > 0, f"{errors} ingest invocations failed"),
    ]
    problems = [text for bad, text in checks if bad]
    consistent = not problems
    passed = consistent and not fate.lost and most <= 1 and not duplicate_ids and not extra
    return E2EReport(
        alarms=len(storm.alarms),
        storm_events=sum(1 for s in sent if s.kind == "storm"),
        redeliveries=redeliveries,
        resolve_events=sum(1 for s in sent if s.kind == "resolve"),
        threads=params.threads,
        ingest_errors=errors,
        stale_ignored=stale,
        storm_seconds=round(storm_seconds, 2),
        ingest_events_per_second=round(len(sent) / storm_seconds, 1) if storm_seconds else 0.0,
        ingest_latency_ms=Spread.of([round((s.finished - s.started) * 1000, 1) for s in sent] or [0.0]),
        drain_seconds=round(drain_seconds, 2),
        total_seconds=round(total_seconds, 2),
        executions=dict(sorted(statuses.items())),
        groups_created=len(groups_created),
        distinct_groups=len(set(groups_created)),
        notifications=len(log),
        notifications_by_receiver=dict(sorted(Counter(e["receiver"] for e in log).items())),
        distinct_groups_notified=len({(e["receiver"], e["group_key"]) for e in log}),
        max_notifications_per_group_interval=most,
        max_deliveries_per_group_interval=most_delivered,
        window_violations=violations[:20],
        sink_requests=dict(sorted(Counter(r.path for r in requests).items())),
        requests_logged=requests_logged,
        alerts_expected=fate.total,
        alerts_notified=fate.notified,
        excused_short=fate.short,
        excused_inhibited=fate.inhibited,
        excused_time_muted=fate.muted,
        lost_alerts=len(fate.lost),
        lost=fate.lost[:20],
        duplicate_notification_ids=duplicate_ids,
        duplicate_sink_requests=extra,
        missing_sink_requests=missing,
        consistent=consistent,
        problems=problems,
        passed=passed,
    )


def _time_muted(match: RouteMatch, config: AlertingConfig, now: datetime, seconds: float) -> bool:
    """Muted by its time intervals for the whole run (checked at its start and at its end)."""
    return is_muted(now, match, config) and is_muted(now - timedelta(seconds=seconds), match, config)
