"""Dispatch: aggregation groups and when they notify, as pure functions over a JSON-serialisable `GroupState`.

The lifecycle of a group (Alertmanager's aggregation group plus its notification log, in one record):
- `upsert_alert` adds or updates an alert; the first alert of an episode (a new group, or one whose alerts were all
  resolved and removed) arms the group: its first flush is due at `first_flush_at` (created + group_wait, but never
  sooner than group_interval after the previous notification of the same group, so a flapping alert cannot page
  faster than group_interval);
- `flush` runs at `first_flush_at` and then every group_interval (tick 0, 1, 2, ...) until it returns done=True. It
  decides with Alertmanager's DedupStage.needsUpdate whether to notify, and builds the notification.

Keep a done group's record for a day (a DynamoDB TTL) instead of deleting it: its `resolved_versions` make late
redeliveries of already-resolved alerts harmless, and `last_notified_at` rate-limits a re-fire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from safejob_ops.alerting.config import AlertingConfig, InhibitRule
from safejob_ops.alerting.inhibit import inhibited
from safejob_ops.alerting.models import (
    Alert,
    AlertStatus,
    Notification,
    NotificationAlert,
    notification_id,
)
from safejob_ops.alerting.routing import RouteMatch
from safejob_ops.alerting.silences import Silence, silenced_by
from safejob_ops.alerting.timeintervals import is_muted

# How long a resolved-and-removed alert's version is remembered (EventBridge retries deliveries for up to 24 hours).
TOMBSTONE_TTL = timedelta(hours=24)


class Timings(BaseModel):
    """A group's timings in seconds (copied from its route when the group is created or updated)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_wait: float = Field(ge=0)
    group_interval: float = Field(gt=0)
    repeat_interval: float = Field(gt=0)

    @classmethod
    def of(cls, match: RouteMatch) -> Timings:
        return cls(
            group_wait=match.group_wait.total_seconds(),
            group_interval=match.group_interval.total_seconds(),
            repeat_interval=match.repeat_interval.total_seconds(),
        )


class GroupState(BaseModel):
    """One aggregation group with its notification log; stored as JSON (model_dump_json / model_validate_json).

    `version` increases with every change (use it for optimistic locking); `last_flush_tick` and
    `last_notification` make a retried flush of the same tick return the same notification.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_key: str
    receiver: str
    route_id: str
    group_labels: dict[str, str]
    alerts: dict[str, Alert] = Field(default_factory=dict)
    notified_firing: list[str] = Field(default_factory=list)
    notified_resolved: list[str] = Field(default_factory=list)
    last_notified_at: AwareDatetime | None = None
    created_at: AwareDatetime
    version: int = 0
    last_flush_tick: int = -1
    last_notification: Notification | None = None
    timings: Timings
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    # When the first flush of the current episode is due.
    first_flush_at: AwareDatetime
    # Fingerprint -> version (updated_at) of resolved alerts already removed: older redeliveries are ignored.
    resolved_versions: dict[str, AwareDatetime] = Field(default_factory=dict)

    @property
    def group_interval(self) -> timedelta:
        return timedelta(seconds=self.timings.group_interval)


@dataclass(frozen=True)
class FlushContext:
    """Everything a flush looks at besides the group: the time, silences, the firing alerts of every group (for
    inhibition), the inhibit rules, the config (time intervals) and whether the receiver wants resolved alerts."""

    now: datetime
    silences: Sequence[Silence] = ()
    firing_alerts: Sequence[Alert] = ()
    inhibit_rules: Sequence[InhibitRule] = ()
    config: AlertingConfig | None = None
    send_resolved: bool = True

    @cached_property
    def active_firing(self) -> list[Alert]:
        """The firing alerts that can inhibit at `now` (not resolved, not past their ends_at)."""
        return [a for a in self.firing_alerts if not is_resolved(a, self.now)]


class FlushResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    notification: Notification | None
    group: GroupState
    done: bool
    next_wait_seconds: float


def version_of(alert: Alert) -> datetime:
    """The time an alert's version was true at the source: what orders redeliveries (newer wins)."""
    return alert.updated_at or alert.starts_at


def is_resolved(alert: Alert, now: datetime) -> bool:
    """Resolved explicitly, or past its ends_at (Alertmanager: an alert whose EndsAt has passed is resolved).

    >>> from datetime import UTC
    >>> from safejob_ops.alerting.models import Labels
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> stopped = Alert(labels=Labels(alertname="EcsTaskStopped"), starts_at=t, ends_at=t + timedelta(minutes=5))
    >>> is_resolved(stopped, t), is_resolved(stopped, t + timedelta(minutes=5))
    (False, True)
    """
    return alert.status is AlertStatus.RESOLVED or (alert.ends_at is not None and alert.ends_at <= now)


def merge_alert(existing: Alert | None, new: Alert) -> Alert | None:
    """The alert to keep when `new` arrives for the fingerprint of `existing`; None when nothing changes (an older
    or identical redelivery). A continuing firing episode keeps its first starts_at.

    >>> from datetime import UTC
    >>> from safejob_ops.alerting.models import Labels
    >>> t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    >>> firing = Alert(labels=Labels(alertname="X"), starts_at=t0, updated_at=t0)
    >>> resolved = Alert(labels=Labels(alertname="X"), status="resolved", starts_at=t1, ends_at=t1, updated_at=t1)
    >>> merge_alert(resolved, firing) is None, merge_alert(firing, resolved).starts_at == t0
    (True, True)
    """
    if existing is None:
        return new
    old_version, new_version = version_of(existing), version_of(new)
    if new_version < old_version:
        return None
    if new_version == old_version and not (
        new.status is AlertStatus.RESOLVED and existing.status is AlertStatus.FIRING
    ):
        return None  # a redelivery (or a same-instant variant: the first one seen stays, resolved beats firing)
    continuing = existing.status is AlertStatus.FIRING and (
        existing.ends_at is None or existing.ends_at >= new.starts_at
    )
    if continuing and existing.starts_at < new.starts_at:
        new = new.model_copy(update={"starts_at": existing.starts_at})
    return None if new == existing else new


def upsert_alert(group: GroupState | None, match: RouteMatch, alert: Alert, now: datetime) -> GroupState:
    """Add or update `alert` in the group of `match` (creating it when None). Returns the very same object when
    nothing changed (a redelivered or older event), so the caller can skip the write.

    >>> from datetime import UTC
    >>> from safejob_ops.alerting.models import Labels
    >>> from safejob_ops.alerting.routing import RouteMatch
    >>> m = RouteMatch("0", "slack", ("alertname",), {"alertname": "X"}, '0:{alertname="X"}',
    ...                timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4))
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> a = Alert(labels=Labels(alertname="X"), starts_at=t, updated_at=t)
    >>> g = upsert_alert(None, m, a, t)
    >>> upsert_alert(g, m, a, t) is g, g.version, g.first_flush_at == t + timedelta(seconds=30)
    (True, 1, True)
    """
    fingerprint = alert.fingerprint
    if group is None:
        return GroupState(
            group_key=match.group_key,
            receiver=match.receiver,
            route_id=match.route_id,
            group_labels=dict(match.group_labels),
            alerts={fingerprint: alert},
            created_at=now,
            version=1,
            timings=Timings.of(match),
            mute_time_intervals=list(match.mute_time_intervals),
            active_time_intervals=list(match.active_time_intervals),
            first_flush_at=now + match.group_wait,
        )
    tombstone = group.resolved_versions.get(fingerprint)
    if tombstone is not None and version_of(alert) <= tombstone:
        return group
    merged = merge_alert(group.alerts.get(fingerprint), alert)
    updates: dict[str, object] = {}
    if merged is not None:
        updates["alerts"] = {**group.alerts, fingerprint: merged}
        if tombstone is not None:
            updates["resolved_versions"] = {k: v for k, v in group.resolved_versions.items() if k != fingerprint}
        if not group.alerts:  # a new episode of a done group: arm it again
            earliest = now + match.group_wait
            if group.last_notified_at is not None:
                earliest = max(earliest, group.last_notified_at + match.group_interval)
            updates.update(first_flush_at=earliest, last_flush_tick=-1, last_notification=None)
    updates.update(_route_changes(group, match))
    if not updates:
        return group
    updates["version"] = group.version + 1
    return group.model_copy(update=updates)


def episode_started(before: GroupState | None, after: GroupState) -> bool:
    """Whether this upsert armed the group, so that a flush loop must be started (due at after.first_flush_at).

    (`upsert_alert`'s example continued: a new group is armed, an unchanged one is not.)

    >>> from datetime import UTC
    >>> from safejob_ops.alerting.models import Labels
    >>> from safejob_ops.alerting.routing import RouteMatch
    >>> m = RouteMatch("0", "slack", (), {}, "0:{}", timedelta(0), timedelta(minutes=5), timedelta(hours=4))
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> g = upsert_alert(None, m, Alert(labels=Labels(alertname="X"), starts_at=t), t)
    >>> episode_started(None, g), episode_started(g, g)
    (True, False)
    """
    return after is not before and bool(after.alerts) and (before is None or not before.alerts)


def flush(group: GroupState, ctx: FlushContext, tick: int) -> FlushResult:
    """One timer tick of a group: maybe a notification, and the group's next state.

    Alertmanager's DedupStage.needsUpdate decides: with no previous notification, notify iff something fires; notify
    when a firing alert was not in the last notification; when all alerts are resolved, notify iff the last
    notification had firing alerts; notify when send_resolved and some resolved alert was not notified yet;
    otherwise notify iff repeat_interval has passed (strictly) since the last notification. Silenced and inhibited
    firing alerts are left out (they do not count as firing); a muted route sends nothing. Resolved alerts are
    removed after the flush, and done=True once the group has no alerts left. A retried tick returns the
    notification of its first run, never a new one.

    >>> from datetime import UTC
    >>> from safejob_ops.alerting.models import Labels
    >>> from safejob_ops.alerting.routing import RouteMatch
    >>> m = RouteMatch("0", "slack", (), {}, "0:{}", timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4))
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> g = upsert_alert(None, m, Alert(labels=Labels(alertname="X"), starts_at=t), t)
    >>> first = flush(g, FlushContext(now=g.first_flush_at), tick=0)
    >>> first.notification.status.value, first.done, first.next_wait_seconds
    ('firing', False, 300.0)
    >>> flush(first.group, FlushContext(now=g.first_flush_at), tick=0).notification == first.notification
    True
    >>> flush(first.group, FlushContext(now=g.first_flush_at + timedelta(minutes=5)), tick=1).notification is None
    True
    """
    interval = group.timings.group_interval
    if tick == group.last_flush_tick:
        return FlushResult(
            notification=group.last_notification, group=group, done=not group.alerts, next_wait_seconds=interval
        )
    now = ctx.now
    if ctx.config is not None and is_muted(now, group, ctx.config):
        muted = _ticked(group, tick, None)
        return FlushResult(notification=None, group=muted, done=not muted.alerts, next_wait_seconds=interval)

    firing: list[Alert] = []
    resolved: list[Alert] = []
    for fingerprint in sorted(group.alerts):
        alert = group.alerts[fingerprint]
        if is_resolved(alert, now):
            resolved.append(
                alert
                if alert.status is AlertStatus.RESOLVED
                else alert.model_copy(update={"status": AlertStatus.RESOLVED})
            )
            continue
        labels = alert.labels.as_dict()
        if silenced_by(labels, ctx.silences, now) or inhibited(labels, ctx.active_firing, ctx.inhibit_rules):
            continue
        firing.append(alert)

    if not firing and not resolved:
        # Everything is silenced or inhibited: like Alertmanager, nothing goes on and the log is not touched.
        quiet = _ticked(group, tick, None)
        return FlushResult(notification=None, group=quiet, done=not quiet.alerts, next_wait_seconds=interval)

    firing_ids = [a.fingerprint for a in firing]
    resolved_ids = [a.fingerprint for a in resolved]
    if not _needs_update(group, firing_ids, resolved_ids, ctx.send_resolved, now):
        kept = _ticked(_without_resolved(group, resolved, now), tick, None)
        return FlushResult(notification=None, group=kept, done=not kept.alerts, next_wait_seconds=interval)

    sent = firing + (resolved if ctx.send_resolved else [])
    notification = None
    if sent:
        notification = Notification(
            id=notification_id(group.group_key, firing_ids, resolved_ids, group.last_notified_at or group.created_at),
            at=now,
            receiver=group.receiver,
            group_key=group.group_key,
            group_labels=group.group_labels,
            status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
            alerts=[NotificationAlert.of(a) for a in sent],
        )
    logged = group.model_copy(
        update={
            "notified_firing": firing_ids,
            "notified_resolved": resolved_ids,
            "last_notified_at": now,
        }
    )
    after = _ticked(_without_resolved(logged, resolved, now), tick, notification)
    return FlushResult(notification=notification, group=after, done=not after.alerts, next_wait_seconds=interval)


def _needs_update(
    group: GroupState, firing: list[str], resolved: list[str], send_resolved: bool, now: datetime
) -> bool:
    if group.last_notified_at is None:
        return bool(firing)
    if not set(firing) <= set(group.notified_firing):
        return True
    if not firing:
        return bool(group.notified_firing)
    if send_resolved and not set(resolved) <= set(group.notified_resolved):
        return True
    return group.last_notified_at < now - timedelta(seconds=group.timings.repeat_interval)


def _without_resolved(group: GroupState, resolved: list[Alert], now: datetime) -> GroupState:
    """Drop the resolved alerts that were flushed, remembering their versions; forget tombstones older than a day."""
    horizon = now - TOMBSTONE_TTL
    tombstones = {k: v for k, v in group.resolved_versions.items() if v >= horizon}
    if not resolved and len(tombstones) == len(group.resolved_versions):
        return group
    alerts = dict(group.alerts)
    for alert in resolved:
        fingerprint = alert.fingerprint
        alerts.pop(fingerprint, None)
        tombstones[fingerprint] = version_of(alert)
    return group.model_copy(update={"alerts": alerts, "resolved_versions": tombstones})


def _ticked(group: GroupState, tick: int, notification: Notification | None) -> GroupState:
    return group.model_copy(
        update={"last_flush_tick": tick, "last_notification": notification, "version": group.version + 1}
    )


def _route_changes(group: GroupState, match: RouteMatch) -> dict[str, object]:
    """A config change may alter a group's receiver-side settings; follow them (the key itself cannot change)."""
    changes: dict[str, object] = {}
    if match.receiver != group.receiver:
        changes["receiver"] = match.receiver
    timings = Timings.of(match)
    if timings != group.timings:
        changes["timings"] = timings
    if list(match.mute_time_intervals) != group.mute_time_intervals:
        changes["mute_time_intervals"] = list(match.mute_time_intervals)
    if list(match.active_time_intervals) != group.active_time_intervals:
        changes["active_time_intervals"] = list(match.active_time_intervals)
    return changes
