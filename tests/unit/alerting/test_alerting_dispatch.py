"""Dispatch: aggregation groups, Alertmanager's needsUpdate, idempotent upserts and retried flushes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from alerting_support import T0, make_alert

from safejob_ops.alerting.config import AlertingConfig, InhibitRule
from safejob_ops.alerting.dispatch import (
    FlushContext,
    FlushResult,
    GroupState,
    episode_started,
    flush,
    is_resolved,
    merge_alert,
    upsert_alert,
)
from safejob_ops.alerting.models import Alert, AlertStatus
from safejob_ops.alerting.routing import RouteMatch, match_routes
from safejob_ops.alerting.silences import Silence

S = timedelta(seconds=1)
M = timedelta(minutes=1)
GROUP_WAIT, GROUP_INTERVAL, REPEAT = 30 * S, 5 * M, 60 * M  # tests/fixtures/alerting/simulation.yaml


def route(config: AlertingConfig, alert: Alert) -> RouteMatch:
    return match_routes(config, alert.labels.as_dict())[-1]


def group_of(config: AlertingConfig, *alerts: Alert, now: datetime = T0) -> GroupState:
    group: GroupState | None = None
    for alert in alerts:
        group = upsert_alert(group, route(config, alert), alert, now)
    assert group is not None
    return group


def run(
    group: GroupState,
    now: datetime,
    tick: int,
    *,
    send_resolved: bool = True,
    silences: list[Silence] | None = None,
    firing: list[Alert] | None = None,
    rules: list[InhibitRule] | None = None,
    config: AlertingConfig | None = None,
) -> FlushResult:
    ctx = FlushContext(
        now=now,
        silences=silences or [],
        firing_alerts=firing or [],
        inhibit_rules=rules or [],
        config=config,
        send_resolved=send_resolved,
    )
    return flush(group, ctx, tick)


def fingerprints(result: FlushResult) -> list[tuple[str, str]]:
    assert result.notification is not None
    return [(a.labels["alertname"], a.status.value) for a in result.notification.alerts]


# --- upsert ----------------------------------------------------------------------------------------------------


def test_upsert_creates_a_group_from_the_route(sim_config: AlertingConfig) -> None:
    alert = make_alert("Down")
    match = route(sim_config, alert)
    group = upsert_alert(None, match, alert, T0)
    assert group.group_key == match.group_key == '0:{alertname="Down",service="api"}'
    assert (group.receiver, group.route_id, group.group_labels) == (
        "chat",
        "0",
        {"alertname": "Down", "service": "api"},
    )
    assert group.alerts == {alert.fingerprint: alert}
    assert (group.version, group.last_flush_tick, group.last_notified_at) == (1, -1, None)
    assert group.first_flush_at == T0 + GROUP_WAIT
    assert (group.timings.group_wait, group.timings.group_interval, group.timings.repeat_interval) == (30, 300, 3600)
    assert episode_started(None, group)


def test_redelivered_and_older_events_change_nothing(sim_config: AlertingConfig) -> None:
    # GIVEN a group holding an alert's state at T0+1m
    newer = make_alert("Down", at=T0 + M)
    group = group_of(sim_config, newer)
    match = route(sim_config, newer)
    # WHEN the same event is redelivered, or an older one arrives late THEN the very same object comes back
    assert upsert_alert(group, match, newer, T0 + 2 * M) is group
    assert upsert_alert(group, match, make_alert("Down", at=T0), T0 + 2 * M) is group
    older_resolved = make_alert("Down", status=AlertStatus.RESOLVED, at=T0 + 30 * S)
    assert upsert_alert(group, match, older_resolved, T0 + 2 * M) is group


def test_a_newer_version_replaces_the_alert_and_bumps_the_version(sim_config: AlertingConfig) -> None:
    first = make_alert("Down", at=T0)
    group = group_of(sim_config, first)
    resolved = make_alert("Down", status=AlertStatus.RESOLVED, at=T0 + 10 * M)
    updated = upsert_alert(group, route(sim_config, resolved), resolved, T0 + 10 * M)
    assert updated.version == group.version + 1
    stored = updated.alerts[first.fingerprint]
    assert stored.status is AlertStatus.RESOLVED
    assert stored.starts_at == T0  # the episode keeps its start
    assert not episode_started(group, updated)


def test_out_of_order_delivery_converges(sim_config: AlertingConfig) -> None:
    # GIVEN firing(T0), resolved(T0+10m) delivered in both orders THEN both groups hold the resolved version
    firing, resolved = make_alert("Down", at=T0), make_alert("Down", status=AlertStatus.RESOLVED, at=T0 + 10 * M)
    in_order = group_of(sim_config, firing, resolved)
    reversed_ = group_of(sim_config, resolved, firing)
    assert in_order.alerts[firing.fingerprint].status is AlertStatus.RESOLVED
    assert reversed_.alerts[firing.fingerprint].status is AlertStatus.RESOLVED


def test_merge_alert_rules() -> None:
    firing = make_alert("Down", at=T0)
    later_firing = make_alert("Down", at=T0 + M, summary="worse")
    assert merge_alert(None, firing) is firing
    assert merge_alert(firing, firing) is None
    merged = merge_alert(firing, later_firing)
    assert merged is not None
    assert (merged.starts_at, merged.annotations.summary) == (T0, "worse")
    # same instant, resolved beats firing (whatever the order)
    resolved_same = make_alert("Down", status=AlertStatus.RESOLVED, at=T0)
    assert merge_alert(firing, resolved_same) == resolved_same
    assert merge_alert(resolved_same, firing) is None
    # after an expired one-shot alert, a new event starts a new episode
    one_shot = make_alert("TaskStopped", at=T0, ends_at=T0 + 5 * M)
    again = make_alert("TaskStopped", at=T0 + 20 * M, ends_at=T0 + 25 * M)
    assert merge_alert(one_shot, again) == again


def test_upsert_follows_route_setting_changes(sim_config: AlertingConfig) -> None:
    alert = make_alert("Down")
    group = group_of(sim_config, alert)
    match = route(sim_config, alert)
    changed = RouteMatch(
        match.route_id,
        "pager",
        match.group_by,
        match.group_labels,
        match.group_key,
        match.group_wait,
        10 * M,
        match.repeat_interval,
        ("data-freeze",),
        (),
    )
    updated = upsert_alert(group, changed, alert, T0 + M)
    assert (updated.receiver, updated.timings.group_interval, updated.mute_time_intervals) == (
        "pager",
        600,
        ["data-freeze"],
    )
    assert updated.version == group.version + 1


# --- flush: needsUpdate branches -------------------------------------------------------------------------------


def test_first_flush_sends_the_firing_alerts(sim_config: AlertingConfig) -> None:
    group = group_of(sim_config, make_alert("Down", service="api"))
    result = run(group, T0 + GROUP_WAIT, 0)
    assert result.notification is not None
    assert fingerprints(result) == [("Down", "firing")]
    assert result.notification.status is AlertStatus.FIRING
    assert result.notification.receiver == "chat"
    assert result.notification.group_labels == {"alertname": "Down", "service": "api"}
    assert result.group.notified_firing == [make_alert("Down").fingerprint]
    assert result.group.last_notified_at == T0 + GROUP_WAIT
    assert result.group.last_flush_tick == 0
    assert result.group.last_notification == result.notification
    assert (result.done, result.next_wait_seconds) == (False, 300)


def test_first_flush_with_only_resolved_alerts_sends_nothing_and_is_done(sim_config: AlertingConfig) -> None:
    group = group_of(sim_config, make_alert("Down", status=AlertStatus.RESOLVED))
    result = run(group, T0 + GROUP_WAIT, 0)
    assert result.notification is None
    assert result.group.alerts == {}
    assert result.done


def test_a_new_firing_alert_is_sent_at_the_next_interval(sim_config: AlertingConfig) -> None:
    a = make_alert("Down", service="api", region="eu-west-1")
    group = run(group_of(sim_config, a), T0 + GROUP_WAIT, 0).group
    b = make_alert("Down", service="api", region="us-east-1", at=T0 + M)
    group = upsert_alert(group, route(sim_config, b), b, T0 + M)
    result = run(group, T0 + GROUP_WAIT + GROUP_INTERVAL, 1)
    assert [x.fingerprint for x in result.notification.alerts] == sorted([a.fingerprint, b.fingerprint])  # type: ignore[union-attr]


def test_nothing_new_means_no_notification_until_the_repeat_interval(sim_config: AlertingConfig) -> None:
    first = run(group_of(sim_config, make_alert("Down")), T0 + GROUP_WAIT, 0)
    group = first.group
    sent_at = T0 + GROUP_WAIT
    # every group_interval until repeat_interval has strictly passed: nothing
    tick = 1
    while sent_at + tick * GROUP_INTERVAL <= sent_at + REPEAT:
        result = run(group, sent_at + tick * GROUP_INTERVAL, tick)
        assert result.notification is None, tick
        group = result.group
        tick += 1
    # the first tick after that repeats, with a new id
    repeat = run(group, sent_at + tick * GROUP_INTERVAL, tick)
    assert repeat.notification is not None
    assert repeat.notification.id != first.notification.id  # type: ignore[union-attr]
    assert repeat.group.last_notified_at == sent_at + tick * GROUP_INTERVAL


def test_all_resolved_sends_the_resolution_when_firing_was_notified(sim_config: AlertingConfig) -> None:
    group = run(group_of(sim_config, make_alert("Down")), T0 + GROUP_WAIT, 0).group
    resolved = make_alert("Down", status=AlertStatus.RESOLVED, at=T0 + 2 * M)
    group = upsert_alert(group, route(sim_config, resolved), resolved, T0 + 2 * M)
    result = run(group, T0 + GROUP_WAIT + GROUP_INTERVAL, 1)
    assert fingerprints(result) == [("Down", "resolved")]
    assert result.notification.status is AlertStatus.RESOLVED  # type: ignore[union-attr]
    assert result.group.alerts == {}
    assert result.group.notified_firing == []
    assert result.done


def test_all_resolved_without_send_resolved_logs_but_sends_nothing(sim_config: AlertingConfig) -> None:
    group = run(group_of(sim_config, make_alert("Down")), T0 + GROUP_WAIT, 0, send_resolved=False).group
    resolved = make_alert("Down", status=AlertStatus.RESOLVED, at=T0 + 2 * M)
    group = upsert_alert(group, route(sim_config, resolved), resolved, T0 + 2 * M)
    result = run(group, T0 + GROUP_WAIT + GROUP_INTERVAL, 1, send_resolved=False)
    assert result.notification is None
    assert result.group.notified_firing == []  # the log knows nothing fires any more
    assert result.done


def test_fired_and_resolved_between_flushes_is_not_sent(sim_config: AlertingConfig) -> None:
    # GIVEN a group whose last notification had no firing alert (all resolved), kept alive by a silenced alert
    quiet = make_alert("Down", service="api", region="us-east-1")
    silence = Silence(id="s", matchers=['region="us-east-1"'], starts_at=T0, ends_at=T0 + 10 * REPEAT)
    noisy = make_alert("Down", service="api", region="eu-west-1")
    group = run(group_of(sim_config, quiet, noisy), T0 + GROUP_WAIT, 0, silences=[silence]).group
    resolved = make_alert("Down", service="api", region="eu-west-1", status=AlertStatus.RESOLVED, at=T0 + M)
    group = upsert_alert(group, route(sim_config, resolved), resolved, T0 + M)
    group = run(group, T0 + GROUP_WAIT + GROUP_INTERVAL, 1, silences=[silence]).group
    assert group.notified_firing == []
    # WHEN another alert fires and resolves before the next flush
    blip = make_alert("Down", service="api", region="ap-south-1", status=AlertStatus.RESOLVED, at=T0 + 7 * M)
    group = upsert_alert(group, route(sim_config, blip), blip, T0 + 7 * M)
    # THEN nobody is told (the receiver never knew it fired)
    result = run(group, T0 + GROUP_WAIT + 2 * GROUP_INTERVAL, 2, silences=[silence])
    assert result.notification is None
    assert list(result.group.alerts) == [quiet.fingerprint]


def test_a_newly_resolved_alert_is_sent_with_send_resolved(sim_config: AlertingConfig) -> None:
    a = make_alert("Down", region="eu-west-1")
    b = make_alert("Down", region="us-east-1")
    group = run(group_of(sim_config, a, b), T0 + GROUP_WAIT, 0).group
    b_resolved = make_alert("Down", region="us-east-1", status=AlertStatus.RESOLVED, at=T0 + M)
    group = upsert_alert(group, route(sim_config, b_resolved), b_resolved, T0 + M)
    # with send_resolved: sent (a still firing, b resolved)
    sent = run(group, T0 + GROUP_WAIT + GROUP_INTERVAL, 1)
    assert sorted(fingerprints(sent)) == [("Down", "firing"), ("Down", "resolved")]
    assert sent.notification.status is AlertStatus.FIRING  # type: ignore[union-attr]
    assert sent.group.notified_resolved == [b.fingerprint]
    assert list(sent.group.alerts) == [a.fingerprint]
    # without: not sent (nothing new fires, repeat not due), and b is dropped all the same
    quiet = run(group, T0 + GROUP_WAIT + GROUP_INTERVAL, 1, send_resolved=False)
    assert quiet.notification is None
    assert list(quiet.group.alerts) == [a.fingerprint]


def test_resolved_alerts_are_left_out_without_send_resolved(sim_config: AlertingConfig) -> None:
    a = make_alert("Down", region="eu-west-1")
    b = make_alert("Down", region="us-east-1", status=AlertStatus.RESOLVED, at=T0 + S)
    result = run(group_of(sim_config, a, b), T0 + GROUP_WAIT, 0, send_resolved=False)
    assert fingerprints(result) == [("Down", "firing")]


def test_one_shot_alerts_resolve_when_their_end_passes(sim_config: AlertingConfig) -> None:
    one_shot = make_alert("EcsTaskStopped", ends_at=T0 + 5 * M)
    assert not is_resolved(one_shot, T0 + 4 * M)
    assert is_resolved(one_shot, T0 + 5 * M)
    group = run(group_of(sim_config, one_shot), T0 + GROUP_WAIT, 0).group
    result = run(group, T0 + GROUP_WAIT + GROUP_INTERVAL, 1)
    assert fingerprints(result) == [("EcsTaskStopped", "resolved")]
    assert result.done


# --- flush: silences, inhibition, mute --------------------------------------------------------------------------


def test_silenced_alerts_are_left_out_and_an_all_silenced_group_says_nothing(sim_config: AlertingConfig) -> None:
    a, b = make_alert("Down", region="eu-west-1"), make_alert("Down", region="us-east-1")
    silence = Silence(id="s", matchers=['region="us-east-1"'], starts_at=T0, ends_at=T0 + REPEAT)
    result = run(group_of(sim_config, a, b), T0 + GROUP_WAIT, 0, silences=[silence])
    assert [x.fingerprint for x in result.notification.alerts] == [a.fingerprint]  # type: ignore[union-attr]
    everything = Silence(id="t", matchers=['alertname="Down"'], starts_at=T0, ends_at=T0 + REPEAT)
    group = group_of(sim_config, a, b)
    muted = run(group, T0 + GROUP_WAIT, 0, silences=[everything])
    assert muted.notification is None
    assert muted.group.last_notified_at is None  # the log is untouched
    assert muted.group.alerts == group.alerts
    assert not muted.done


def test_inhibited_alerts_are_left_out(sim_config: AlertingConfig) -> None:
    down = make_alert("DatabaseDown", service="db", severity="critical")
    slow = make_alert("SlowQueries", service="db", severity="warning")
    rules = sim_config.inhibit_rules
    inhibited_group = group_of(sim_config, slow)
    result = run(inhibited_group, T0 + GROUP_WAIT, 0, firing=[down, slow], rules=rules)
    assert result.notification is None
    # once the source is over (resolved, or past its end) the target notifies
    expired = make_alert("DatabaseDown", service="db", severity="critical", ends_at=T0 + S)
    result = run(inhibited_group, T0 + GROUP_WAIT, 0, firing=[expired, slow], rules=rules)
    assert fingerprints(result) == [("SlowQueries", "firing")]


def test_a_muted_route_sends_nothing_and_keeps_its_alerts(sim_config: AlertingConfig) -> None:
    info = make_alert("Digest", severity="info")  # routed to mail, active in office hours (09-17 UTC, Mon-Fri)
    match = route(sim_config, info)
    assert match.receiver == "mail"
    evening = T0.replace(hour=18)
    group = upsert_alert(None, match, info, evening)
    result = run(group, evening + GROUP_WAIT, 0, config=sim_config)
    assert result.notification is None
    assert result.group.alerts == group.alerts
    assert result.group.last_flush_tick == 0
    # the next morning it goes out
    morning = T0.replace(day=3, hour=9)
    assert fingerprints(run(result.group, morning, 1, config=sim_config)) == [("Digest", "firing")]


# --- retries and ids -------------------------------------------------------------------------------------------


def test_a_retried_tick_returns_the_same_notification(sim_config: AlertingConfig) -> None:
    group = group_of(sim_config, make_alert("Down"))
    first = run(group, T0 + GROUP_WAIT, 0)
    # WHEN the same tick is run again, even later and with the world changed
    again = run(
        first.group,
        T0 + GROUP_WAIT + 3 * M,
        0,
        send_resolved=False,
        silences=[Silence(id="s", matchers=['alertname="Down"'], starts_at=T0, ends_at=T0 + REPEAT)],
    )
    assert again.notification == first.notification
    assert again.group is first.group  # nothing to write
    # a tick that sent nothing is retried as nothing
    quiet = run(first.group, T0 + GROUP_WAIT + GROUP_INTERVAL, 1)
    assert quiet.notification is None
    assert run(quiet.group, T0 + GROUP_WAIT + GROUP_INTERVAL, 1).notification is None


def test_a_retry_of_an_unsaved_flush_recomputes_the_same_id(sim_config: AlertingConfig) -> None:
    # the first attempt's state write was lost: the retry starts from the old state and must not page twice
    group = group_of(sim_config, make_alert("Down"))
    first = run(group, T0 + GROUP_WAIT, 0)
    retry = run(group, T0 + GROUP_WAIT + 20 * S, 0)
    assert retry.notification is not None
    assert first.notification is not None
    assert retry.notification.id == first.notification.id


def test_notification_ids_differ_across_repeats_and_episodes(sim_config: AlertingConfig) -> None:
    ids: list[str] = []
    down = make_alert("Down")
    group = group_of(sim_config, down)
    now, tick = T0 + GROUP_WAIT, 0
    for step in range(30):
        if step == 14:  # resolve, then fire again: same alert, same group, a new episode
            resolved = make_alert("Down", status=AlertStatus.RESOLVED, at=now)
            group = upsert_alert(group, route(sim_config, resolved), resolved, now)
        if step == 16:
            refire = make_alert("Down", at=now)
            group = upsert_alert(group, route(sim_config, refire), refire, now)
            tick = 0
        result = run(group, now, tick)
        if result.notification:
            ids.append(result.notification.id)
        group = result.group
        now, tick = now + GROUP_INTERVAL, tick + 1
    assert len(ids) == len(set(ids)) >= 4


def test_a_done_group_rearms_no_sooner_than_group_interval_after_its_last_notification(
    sim_config: AlertingConfig,
) -> None:
    group = run(group_of(sim_config, make_alert("Down")), T0 + GROUP_WAIT, 0).group
    resolved = make_alert("Down", status=AlertStatus.RESOLVED, at=T0 + M)
    group = upsert_alert(group, route(sim_config, resolved), resolved, T0 + M)
    done = run(group, T0 + GROUP_WAIT + GROUP_INTERVAL, 1)
    assert done.done
    last_sent = T0 + GROUP_WAIT + GROUP_INTERVAL
    # a redelivery of the resolved event is ignored (its version is remembered)
    assert upsert_alert(done.group, route(sim_config, resolved), resolved, last_sent + S) is done.group
    # a new firing arms the group again, due group_interval after the last notification
    refire = make_alert("Down", at=last_sent + 10 * S)
    again = upsert_alert(done.group, route(sim_config, refire), refire, last_sent + 10 * S)
    assert episode_started(done.group, again)
    assert again.first_flush_at == last_sent + GROUP_INTERVAL
    assert (again.last_flush_tick, again.last_notification) == (-1, None)


def test_old_tombstones_are_forgotten(sim_config: AlertingConfig) -> None:
    group = run(group_of(sim_config, make_alert("Down", status=AlertStatus.RESOLVED)), T0 + GROUP_WAIT, 0).group
    assert list(group.resolved_versions.values()) == [T0]
    other = make_alert("Other", at=T0 + timedelta(days=2))
    later = upsert_alert(group, route(sim_config, make_alert("Down")), other, T0 + timedelta(days=2))
    result = run(later, T0 + timedelta(days=2, minutes=1), 0)
    assert result.group.resolved_versions == {}


def test_group_state_round_trips_through_json(sim_config: AlertingConfig) -> None:
    result = run(group_of(sim_config, make_alert("Down"), make_alert("Down", region="x")), T0 + GROUP_WAIT, 0)
    text = result.group.model_dump_json()
    assert GroupState.model_validate_json(text) == result.group


@pytest.mark.parametrize("tick", [0, 1, 7])
def test_empty_group_is_done(sim_config: AlertingConfig, tick: int) -> None:
    group = group_of(sim_config, make_alert("Down", status=AlertStatus.RESOLVED))
    emptied = run(group, T0 + GROUP_WAIT, 0).group
    assert run(emptied, T0 + GROUP_WAIT + tick * GROUP_INTERVAL, tick + 1).done
