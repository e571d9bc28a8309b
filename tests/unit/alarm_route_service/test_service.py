"""The alarm_route service over in-memory ports: the orchestration rules that the emulator tests can't force
(lost races, a crash between two writes, the hand-over of long-lived groups)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from safejob_ops.alerting.config import AlertingConfig, load_config
from safejob_ops.alerting.memory import MemoryAlertStore, MemoryScheduler
from safejob_ops.alerting.ports import GroupConflictError
from safejob_ops.alerting.service import (
    MAX_TICKS_PER_EXECUTION,
    CreateSilence,
    FlushInput,
    admin,
    flush_group,
    ingest,
)
from safejob_ops.settings import config_file
from safejob_tools.eventgen import alarm_event

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def config() -> AlertingConfig:
    return load_config(config_file("alerting.yaml"))


def test_a_new_alert_creates_its_groups_and_starts_one_execution_each(config: AlertingConfig) -> None:
    store, scheduler = MemoryAlertStore(), MemoryScheduler()
    result = ingest(alarm_event("ApiDown", severity="critical", at=T0), config, store, scheduler, T0)
    assert len(result.groups_created) == 3  # audit webhook, PagerDuty, Slack
    assert sorted(key for key, _ in scheduler.started.values()) == sorted(result.groups_created)
    assert all(stored.started for stored in store.groups.values())


def test_a_redelivered_event_changes_nothing(config: AlertingConfig) -> None:
    store, scheduler = MemoryAlertStore(), MemoryScheduler()
    event = alarm_event("ApiDown", at=T0)
    ingest(event, config, store, scheduler, T0)
    versions = {k: g.state.version for k, g in store.groups.items()}
    again = ingest(event, config, store, scheduler, T0 + timedelta(seconds=5))
    assert again.groups_created == []
    assert {k: g.state.version for k, g in store.groups.items()} == versions
    assert len(scheduler.started) == len(versions)


def test_an_older_state_arriving_late_is_ignored(config: AlertingConfig) -> None:
    store, scheduler = MemoryAlertStore(), MemoryScheduler()
    ingest(alarm_event("ApiDown", "OK", at=T0 + timedelta(minutes=1)), config, store, scheduler, T0)
    late = ingest(alarm_event("ApiDown", "ALARM", at=T0), config, store, scheduler, T0)
    assert late.stale == late.alerts


def test_a_group_whose_execution_failed_to_start_is_started_by_the_next_event(config: AlertingConfig) -> None:
    # GIVEN the first ingest crashed between creating the group and starting its execution
    store, scheduler = MemoryAlertStore(), MemoryScheduler(fail_times=1)
    event = alarm_event("ApiDown", at=T0)
    with pytest.raises(ConnectionError):
        ingest(event, config, store, scheduler, T0)
    assert not scheduler.started
    # WHEN EventBridge redelivers the event
    ingest(event, config, store, scheduler, T0)
    # THEN every group has an execution, each started once
    assert sorted(k for k, _ in scheduler.started.values()) == sorted(store.groups)
    assert all(stored.started for stored in store.groups.values())


def test_an_unrecognised_event_goes_to_the_fallback_receiver(config: AlertingConfig) -> None:
    store, scheduler = MemoryAlertStore(), MemoryScheduler()
    result = ingest({"source": "custom.thing", "detail": {"x": 1}}, config, store, scheduler, T0)
    assert result.unrecognised
    [group] = store.groups.values()
    assert group.state.receiver == config.fallback


class RacingStore(MemoryAlertStore):
    """Another writer bumps the group's version just before each of our first `races` updates."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    def update_group(self, state, expected_version, started=None):  # type: ignore[no-untyped-def]
        if self.races > 0:
            self.races -= 1
            current = self.groups[state.group_key]
            bumped = current.state.model_copy(update={"version": current.state.version + 1})
            self.groups[state.group_key] = type(current)(state=bumped, started=current.started)
        super().update_group(state, expected_version, started)


def test_a_lost_race_is_retried_on_the_fresh_state(config: AlertingConfig) -> None:
    store, scheduler = RacingStore(races=0), MemoryScheduler()
    ingest(alarm_event("ApiDown", region="eu-west-1", at=T0), config, store, scheduler, T0)
    store.races = 2
    result = ingest(alarm_event("ApiDown", region="us-east-1", at=T0), config, store, scheduler, T0)
    assert result.groups_updated


def test_endless_contention_fails_loudly_for_the_state_machine_to_retry(config: AlertingConfig) -> None:
    store, scheduler = RacingStore(races=0), MemoryScheduler()
    ingest(alarm_event("ApiDown", region="eu-west-1", at=T0), config, store, scheduler, T0)
    store.races = 1000
    with pytest.raises(GroupConflictError):
        ingest(alarm_event("ApiDown", region="us-east-1", at=T0), config, store, scheduler, T0)


def test_flush_of_a_group_that_no_longer_exists_ends_the_execution(config: AlertingConfig) -> None:
    out = flush_group(FlushInput(group_key="0.5:{}", tick=3), config, MemoryAlertStore(), T0)
    assert out.done
    assert out.notifications == []


def test_a_long_lived_group_hands_over_to_a_new_execution(config: AlertingConfig) -> None:
    store, scheduler = MemoryAlertStore(), MemoryScheduler()
    ingest(alarm_event("ApiDown", at=T0), config, store, scheduler, T0)
    key = next(iter(store.groups))
    last_tick = FlushInput(group_key=key, tick=MAX_TICKS_PER_EXECUTION - 1)
    out = flush_group(last_tick, config, store, T0 + timedelta(hours=1))
    assert out.continue_as_new
    assert out.tick == MAX_TICKS_PER_EXECUTION
    assert not out.done


def test_a_retried_flush_tick_returns_the_same_notification(config: AlertingConfig) -> None:
    store, scheduler = MemoryAlertStore(), MemoryScheduler()
    ingest(alarm_event("ApiDown", at=T0), config, store, scheduler, T0)
    key = next(k for k in store.groups if k.startswith("0.6") or "slack" in store.groups[k].state.receiver)
    first = flush_group(FlushInput(group_key=key, tick=0), config, store, T0 + timedelta(minutes=1))
    retried = flush_group(FlushInput(group_key=key, tick=0), config, store, T0 + timedelta(minutes=1, seconds=3))
    assert first.notifications
    assert [n.id for n in retried.notifications] == [n.id for n in first.notifications]


def test_a_silence_created_through_the_admin_api_mutes_the_group(config: AlertingConfig) -> None:
    store, scheduler = MemoryAlertStore(), MemoryScheduler()
    admin(CreateSilence(action="create_silence", matchers=['alertname="ApiDown"'], created_by="t", comment="c"),
          config, store, T0)
    ingest(alarm_event("ApiDown", at=T0), config, store, scheduler, T0)
    later = T0 + timedelta(minutes=1)
    outs = [flush_group(FlushInput(group_key=k, tick=0), config, store, later) for k in store.groups]
    assert all(out.notifications == [] for out in outs)


def test_an_ended_group_is_kept_and_a_new_episode_starts_a_new_execution(config: AlertingConfig) -> None:
    store, scheduler = MemoryAlertStore(), MemoryScheduler()
    ingest(alarm_event("ApiDown", at=T0), config, store, scheduler, T0)
    key = next(k for k, g in store.groups.items() if g.state.receiver == "slack-platform")
    first = flush_group(FlushInput(group_key=key, tick=0), config, store, T0 + timedelta(minutes=1))
    ingest(alarm_event("ApiDown", "OK", at=T0 + timedelta(minutes=2)), config, store, scheduler, T0)
    resolved = flush_group(FlushInput(group_key=key, tick=1), config, store, T0 + timedelta(minutes=6))
    # WHEN the group has ended
    assert resolved.done
    assert [n.status for n in first.notifications + resolved.notifications] == ["firing", "resolved"]
    # THEN it is kept, a retried last tick still returns its notification
    retried = flush_group(FlushInput(group_key=key, tick=1), config, store, T0 + timedelta(minutes=6))
    assert [n.id for n in retried.notifications] == [n.id for n in resolved.notifications]
    # AND when the alarm fires again, a new execution (a new name) starts the next episode
    executions = set(scheduler.started)
    again = ingest(alarm_event("ApiDown", at=T0 + timedelta(minutes=10)), config, store, scheduler,
                   T0 + timedelta(minutes=10))
    assert key in again.groups_created
    assert len(set(scheduler.started) - executions) == len(again.groups_created)


def test_only_alerts_that_can_inhibit_are_read_back_by_flushes(config: AlertingConfig) -> None:
    # GIVEN the production config (critical inhibits warning) and a storm of warnings plus one critical
    store, scheduler = MemoryAlertStore(), MemoryScheduler()
    for n in range(20):
        ingest(alarm_event(f"Warn{n}", severity="warning", at=T0), config, store, scheduler, T0)
    ingest(alarm_event("ApiDown", severity="critical", at=T0), config, store, scheduler, T0)
    # THEN only the critical alert is recorded as an inhibitor: a flush reads one alert, not twenty-one
    assert [a.labels.alertname for a in store.firing_inhibitors()] == ["ApiDown"]
