"""The alarm_route use cases behind the Lambda handlers: ingest, flush, deliver and the admin API.

Pure orchestration over ports (`AlertStore`, `GroupScheduler`, the notifier's ports): the decisions themselves are
in normalise, routing, dispatch and silences. Handlers parse their event, call one function here and dump its
result.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from safejob_ops.alerting.config import AlertingConfig
from safejob_ops.alerting.dispatch import FlushContext, GroupState, episode_started, flush, upsert_alert
from safejob_ops.alerting.matchers import matches_all
from safejob_ops.alerting.models import Alert, AlertStatus, Notification
from safejob_ops.alerting.normalise import UnknownEventError, normalise, unrecognised_event_alert
from safejob_ops.alerting.notify.notifier import DeliveryResult, NotifierPorts, deliver
from safejob_ops.alerting.ports import AlertStore, GroupConflictError, GroupScheduler
from safejob_ops.alerting.receivers import resolve_env_refs
from safejob_ops.alerting.routing import RouteMatch, fallback_match, match_routes
from safejob_ops.alerting.silences import Silence, maintenance_window, to_expire_on_resolve

# A long-firing group hands over to a fresh execution every this many flushes, well below Step Functions'
# 25,000-event history limit (about 17 events per flush).
MAX_TICKS_PER_EXECUTION = 500
MAX_CONFLICT_RETRIES = 8


# ------------------------------------------------------------------------------------------------ ingest
class IngestResult(BaseModel):
    alerts: list[str] = Field(default_factory=list, description="fingerprints of the alerts the event produced")
    stale: list[str] = Field(default_factory=list, description="alerts ignored because a newer state is stored")
    groups_created: list[str] = Field(default_factory=list)
    groups_updated: list[str] = Field(default_factory=list)
    silences_expired: list[str] = Field(default_factory=list)
    unrecognised: str | None = Field(default=None, description="why the event was not recognised, if it was not")


def can_inhibit(alert: Alert, config: AlertingConfig) -> bool:
    """Whether the alert matches the source matchers of some inhibit rule (only those are read back by flushes).

    >>> from datetime import UTC
    >>> from safejob_ops.alerting.config import parse_config
    >>> from safejob_ops.alerting.models import Labels
    >>> cfg = parse_config({"route": {"receiver": "m"}, "receivers": [{"name": "m", "type": "email",
    ...     "topic_arn": "env:T"}], "inhibit_rules": [{"source_matchers": ['severity="critical"'],
    ...     "target_matchers": ['severity="warning"']}]})
    >>> critical = Alert(labels=Labels(alertname="X", severity="critical"), starts_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> can_inhibit(critical, cfg), can_inhibit(critical.model_copy(update={"labels": Labels(alertname="X")}), cfg)
    (True, False)
    """
    labels = alert.labels.as_dict()
    return any(matches_all(rule.sources, labels) for rule in config.inhibit_rules)


def execution_name(group_key: str, first_flush_at: datetime) -> str:
    """One name per group episode (<= 80 chars): a redelivered start is refused by Step Functions itself.

    >>> from datetime import UTC
    >>> execution_name('0:{alertname="X"}', datetime(2026, 1, 1, tzinfo=UTC))
    'a66e141a25344023cff9a3ee23469342-1767225600000'
    """
    digest = hashlib.sha256(group_key.encode()).hexdigest()[:32]
    return f"{digest}-{int(first_flush_at.timestamp() * 1000)}"


def ingest(event: Mapping[str, Any], config: AlertingConfig, store: AlertStore, scheduler: GroupScheduler,
           now: datetime) -> IngestResult:
    """Normalise one raw event, record its alerts and put them in their groups; start new groups' executions.

    An event no normaliser recognises becomes an `UnrecognisedEvent` alert for the fallback receiver: nothing is
    dropped silently.
    """
    result = IngestResult()
    try:
        alerts = normalise(event, config.global_)
        fallback = False
    except UnknownEventError as error:
        alerts = [unrecognised_event_alert(event, error, now, config.global_)]
        result.unrecognised = str(error)
        fallback = True
    for alert in alerts:
        result.alerts.append(alert.fingerprint)
        if not store.put_alert(alert, inhibitor=can_inhibit(alert, config)):
            result.stale.append(alert.fingerprint)
            continue
        labels = alert.labels.as_dict()
        matches = [fallback_match(config, labels)] if fallback else match_routes(config, labels)
        for match in matches:
            created = _add_to_group(store, scheduler, match, alert, now)
            (result.groups_created if created else result.groups_updated).append(match.group_key)
        # Only once every group holds the resolve: a flush in between would see the alert firing and unsilenced.
        if alert.status is AlertStatus.RESOLVED:
            for silence in to_expire_on_resolve(alert, store.list_silences(), now):
                store.put_silence(silence.expire(now))
                result.silences_expired.append(silence.id)
    return result


def _add_to_group(store: AlertStore, scheduler: GroupScheduler, match: RouteMatch, alert: Alert,
                  now: datetime) -> bool:
    """Upsert the alert into its group with optimistic concurrency; True when this call created the group."""
    for _ in range(MAX_CONFLICT_RETRIES):
        stored = store.get_group(match.group_key)
        if stored is None:
            state = upsert_alert(None, match, alert, now)
            if not store.create_group(state):
                continue  # a concurrent invocation created it first: add to theirs
            _start(store, scheduler, state, now)
            return True
        updated = upsert_alert(stored.state, match, alert, now)
        new_episode = episode_started(stored.state, updated)  # an ended group fires again: a new flush loop
        if updated is not stored.state:
            try:
                store.update_group(updated, expected_version=stored.state.version,
                                   started=False if new_episode else None)
            except GroupConflictError:
                continue
        if new_episode or not stored.started:  # (or the creator failed between creating and starting)
            _start(store, scheduler, updated, now)
        return new_episode
    raise GroupConflictError(f"group {match.group_key}: still contended after {MAX_CONFLICT_RETRIES} attempts")


def _start(store: AlertStore, scheduler: GroupScheduler, state: GroupState, now: datetime) -> None:
    """Start the group's flush loop for this episode, due at its first flush."""
    wait = max(0, math.ceil((state.first_flush_at - now).total_seconds()))
    scheduler.start(state.group_key, execution_name(state.group_key, state.first_flush_at), wait)
    store.mark_started(state.group_key)


# ------------------------------------------------------------------------------------------------ flush
class FlushInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    group_key: str = Field(min_length=1)
    tick: int = Field(ge=0)
    execution_id: str = ""


class FlushOutput(BaseModel):
    group_key: str
    tick: int
    wait_seconds: int
    done: bool
    continue_as_new: bool
    notifications: list[Notification]


def flush_group(request: FlushInput, config: AlertingConfig, store: AlertStore, now: datetime) -> FlushOutput:
    """Decide what one group notifies at one tick, and persist the decision (conditional on the group's version).

    A retried tick returns the same notification again (its delivery is idempotent), never a second one.
    """
    for _ in range(MAX_CONFLICT_RETRIES):
        stored = store.get_group(request.group_key)
        if stored is None:
            return FlushOutput(group_key=request.group_key, tick=request.tick + 1, wait_seconds=0, done=True,
                               continue_as_new=False, notifications=[])
        receiver = config.receiver(stored.state.receiver)
        context = FlushContext(
            now=now,
            silences=store.list_silences(),
            firing_alerts=store.firing_inhibitors() if config.inhibit_rules else [],
            inhibit_rules=config.inhibit_rules,
            config=config,
            send_resolved=receiver.send_resolved,
        )
        outcome = flush(stored.state, context, request.tick)
        try:
            if outcome.group is not stored.state:
                store.update_group(outcome.group, expected_version=stored.state.version)
        except GroupConflictError:
            continue  # an alert arrived meanwhile: decide again on the fresh state
        next_tick = request.tick + 1
        return FlushOutput(
            group_key=request.group_key,
            tick=next_tick,
            wait_seconds=math.ceil(outcome.next_wait_seconds),  # a Wait state takes whole seconds
            done=outcome.done,
            continue_as_new=next_tick % MAX_TICKS_PER_EXECUTION == 0,
            notifications=[outcome.notification] if outcome.notification else [],
        )
    raise GroupConflictError(f"group {request.group_key}: still contended after {MAX_CONFLICT_RETRIES} attempts")


# ------------------------------------------------------------------------------------------------ deliver
class DeliverInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    notification: Notification
    execution_id: str = ""


class DeliverOutput(BaseModel):
    delivered: bool
    notification_id: str
    receiver: str
    receiver_type: str
    requests: int
    graph: bool


def deliver_notification(request: DeliverInput, config: AlertingConfig, ports: NotifierPorts, store: AlertStore,
                         environ: Mapping[str, str], now: datetime) -> DeliverOutput:
    """Send one notification to its receiver (raises DeliveryError on failure, for the state machine to retry),
    then record it in the notification log. Idempotency (at most one send per notification id) is the handler's
    Powertools decorator."""
    notification = request.notification
    receiver = resolve_env_refs(config.receiver(notification.receiver), dict(environ))
    result: DeliveryResult = deliver(notification, receiver, ports)
    store.log_notification(notification, f"{receiver.type}: {result.requests_sent} request(s)", now)
    return DeliverOutput(
        delivered=True,
        notification_id=notification.id,
        receiver=receiver.name,
        receiver_type=receiver.type,
        requests=result.requests_sent,
        graph=result.graph_included,
    )


# ------------------------------------------------------------------------------------------------ admin API
class CreateSilence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["create_silence"]
    matchers: list[str] = Field(min_length=1)
    ends_at: AwareDatetime | None = None
    duration_minutes: int | None = Field(default=None, gt=0, le=60 * 24 * 30)
    expire_on_resolve: bool = False
    created_by: str = Field(min_length=1)
    comment: str = Field(min_length=1)


class ExpireSilence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["expire_silence"]
    silence_id: str = Field(min_length=1)


class ListSilences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["list_silences"]
    include_expired: bool = False


class OpenMaintenance(BaseModel):
    """Opened by the deploy workflow for one service during a bake: alerts of that service are muted (their
    alarms still feed the canary analysis) until it is closed or expires."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["open_maintenance"]
    service: str = Field(min_length=1)
    opened_by: str = Field(min_length=1, description="who or what opened it, e.g. a deploy execution ARN")
    duration_minutes: int | None = Field(default=None, gt=0)


class CloseMaintenance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["close_maintenance"]
    silence_id: str = Field(min_length=1)


AdminRequest = CreateSilence | ExpireSilence | ListSilences | OpenMaintenance | CloseMaintenance


class AdminRequestModel(BaseModel):
    request: AdminRequest = Field(discriminator="action")


class AdminResponse(BaseModel):
    silences: list[Silence]


class SilenceNotFoundError(KeyError):
    pass


def admin(request: AdminRequest, config: AlertingConfig, store: AlertStore, now: datetime) -> AdminResponse:
    """Silences and maintenance windows. Expiring sets the end to now (the record stays, for audit)."""
    match request:
        case CreateSilence():
            ends_at = request.ends_at or now + timedelta(minutes=request.duration_minutes or 60)
            silence = Silence(id=uuid.uuid4().hex, matchers=request.matchers, starts_at=now, ends_at=ends_at,
                              created_by=request.created_by, comment=request.comment,
                              expire_on_resolve=request.expire_on_resolve)
            store.put_silence(silence)
            return AdminResponse(silences=[silence])
        case OpenMaintenance():
            duration = (timedelta(minutes=request.duration_minutes) if request.duration_minutes
                        else config.maintenance.default_duration)
            window = maintenance_window(request.service, request.opened_by, now, duration,
                                        config.maintenance.max_duration)
            store.put_silence(window)
            return AdminResponse(silences=[window])
        case ExpireSilence() | CloseMaintenance():
            found = [s for s in store.list_silences() if s.id == request.silence_id]
            if not found:
                raise SilenceNotFoundError(f"silence_id: no silence {request.silence_id!r}; fix: list_silences")
            expired = found[0].expire(now)
            store.put_silence(expired)
            return AdminResponse(silences=[expired])
        case ListSilences():
            silences = store.list_silences()
            if not request.include_expired:
                silences = [s for s in silences if s.ends_at > now]
            return AdminResponse(silences=sorted(silences, key=lambda s: s.starts_at))
