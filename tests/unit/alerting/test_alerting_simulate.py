"""The simulator: whole scenarios in simulated time (tests/fixtures/alerting/simulation.yaml: group_wait 30s,
group_interval 5m, repeat_interval 1h)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from alerting_support import T0, alarm_event, sample_event

from safejob_ops.alerting.config import AlertingConfig
from safejob_ops.alerting.models import Notification
from safejob_ops.alerting.simulate import SimulationError, TimedInput, simulate

S, M = timedelta(seconds=1), timedelta(minutes=1)


def alarm(
    at: datetime,
    name: str,
    state: str = "ALARM",
    tokens: str = "severity=warning service=api",
    region: str = "eu-west-1",
) -> TimedInput:
    event = alarm_event(name, state, at, description=f"{name} {tokens}")
    event["region"] = region
    return TimedInput(at=at, event=event)


def line(at: datetime, **body: Any) -> TimedInput:
    return TimedInput.model_validate({"at": at, **body})


def summary(notifications: list[Notification]) -> list[tuple[timedelta, str, str, list[str]]]:
    return [
        (
            n.at - T0,
            n.receiver,
            n.status.value,
            sorted(f"{a.labels['alertname']}@{a.labels['region']}:{a.status.value}" for a in n.alerts),
        )
        for n in notifications
    ]


def run(config: AlertingConfig, inputs: list[TimedInput], until: datetime | None = None) -> list[Notification]:
    return list(simulate(config, inputs, until))


def test_alerts_of_one_group_are_sent_together_after_group_wait(sim_config: AlertingConfig) -> None:
    out = run(sim_config, [alarm(T0, "HighLatency"), alarm(T0 + 10 * S, "HighLatency", region="us-east-1")])
    assert summary(out) == [
        (30 * S, "chat", "firing", ["HighLatency@eu-west-1:firing", "HighLatency@us-east-1:firing"])
    ]
    assert out[0].group_key == '0:{alertname="HighLatency",service="api"}'


def test_a_late_alert_waits_for_the_group_interval(sim_config: AlertingConfig) -> None:
    out = run(sim_config, [alarm(T0, "HighLatency"), alarm(T0 + M, "HighLatency", region="us-east-1")])
    assert summary(out) == [
        (30 * S, "chat", "firing", ["HighLatency@eu-west-1:firing"]),
        (30 * S + 5 * M, "chat", "firing", ["HighLatency@eu-west-1:firing", "HighLatency@us-east-1:firing"]),
    ]


def test_different_groups_are_independent(sim_config: AlertingConfig) -> None:
    out = run(sim_config, [alarm(T0, "HighLatency"), alarm(T0 + M, "DiskFull", tokens="service=db")])
    assert [(n.at - T0, n.group_key) for n in out] == [
        (30 * S, '0:{alertname="HighLatency",service="api"}'),
        (M + 30 * S, '0:{alertname="DiskFull",service="db"}'),
    ]


def test_a_still_firing_group_repeats_after_repeat_interval(sim_config: AlertingConfig) -> None:
    out = run(sim_config, [alarm(T0, "HighLatency")], until=T0 + 3 * 60 * M)
    # repeat_interval must have strictly passed: the tick at +1h after the first send is not enough, the next is
    assert [n.at - T0 for n in out] == [30 * S, 30 * S + 65 * M, 30 * S + 130 * M]
    assert len({n.id for n in out}) == 3


def test_a_resolution_is_sent_at_the_next_tick(sim_config: AlertingConfig) -> None:
    out = run(sim_config, [alarm(T0, "HighLatency"), alarm(T0 + 8 * M, "HighLatency", "OK")])
    assert summary(out) == [
        (30 * S, "chat", "firing", ["HighLatency@eu-west-1:firing"]),
        (10 * M + 30 * S, "chat", "resolved", ["HighLatency@eu-west-1:resolved"]),
    ]


def test_fired_and_resolved_within_group_wait_is_never_sent(sim_config: AlertingConfig) -> None:
    assert run(sim_config, [alarm(T0, "Blip"), alarm(T0 + 10 * S, "Blip", "OK")]) == []


def test_critical_pages_and_continues_to_the_team_route(sim_config: AlertingConfig) -> None:
    out = run(sim_config, [alarm(T0, "DbDown", tokens="severity=critical service=db team=data")])
    assert sorted((n.receiver, n.group_key) for n in out) == [
        ("chat", '0.2:{alertname="DbDown",service="db"}'),
        ("pager", '0.0:{alertname="DbDown",service="db"}'),
    ]
    # As Alertmanager: when a `continue` route matched and no later sibling does, the parent is not used
    out = run(sim_config, [alarm(T0, "ApiDown", tokens="severity=critical service=api")])
    assert [n.receiver for n in out] == ["pager"]


def test_inhibition_mutes_warnings_while_the_database_is_down(sim_config: AlertingConfig) -> None:
    inputs = [
        alarm(T0, "DatabaseDown", tokens="severity=critical service=db"),
        alarm(T0 + 5 * S, "SlowQueries", tokens="severity=warning service=db"),
        alarm(T0 + 5 * S, "SlowPages", tokens="severity=warning service=api"),  # other service: not inhibited
        alarm(T0 + 20 * M, "DatabaseDown", "OK", tokens="severity=critical service=db"),
    ]
    out = run(sim_config, inputs)
    sent = [(n.at - T0, n.receiver, n.group_labels["alertname"], n.status.value) for n in out]
    assert (30 * S + 5 * S, "chat", "SlowPages", "firing") in sent
    slow_queries = [s for s in sent if s[2] == "SlowQueries"]
    # SlowQueries is only told once the database is back (its group's first tick after 20m)
    assert slow_queries == [(20 * M + 35 * S, "chat", "SlowQueries", "firing")]


def test_a_silence_keeps_matching_alerts_quiet_until_it_ends(sim_config: AlertingConfig) -> None:
    inputs = [
        line(T0 - M, silence={"matchers": ['service="api"'], "duration": "20m", "comment": "known issue"}),
        alarm(T0, "HighLatency"),
        alarm(T0, "DiskFull", tokens="service=db"),
    ]
    out = run(sim_config, inputs, until=T0 + 30 * M)
    assert [(n.at - T0, n.group_labels["alertname"]) for n in out] == [
        (30 * S, "DiskFull"),
        (20 * M + 30 * S, "HighLatency"),  # the first tick after the silence ended
    ]


def test_expire_on_resolve_ends_the_silence_when_its_alert_resolves(sim_config: AlertingConfig) -> None:
    inputs = [
        line(
            T0 - M,
            silence={
                "matchers": ['service="api"'],
                "ends_at": (T0 + 600 * M).isoformat(),
                "expire_on_resolve": True,
                "created_by": "oncall",
            },
        ),
        alarm(T0, "HighLatency"),
        alarm(T0 + 2 * M, "HighLatency", "OK"),  # ends the silence
        alarm(T0 + 10 * M, "ErrorRate"),  # so this one is sent
    ]
    out = run(sim_config, inputs)
    assert [(n.at - T0, n.group_labels["alertname"], n.status.value) for n in out] == [
        (10 * M + 30 * S, "ErrorRate", "firing"),
    ]


def test_a_route_outside_its_active_interval_waits(sim_config: AlertingConfig) -> None:
    evening = T0.replace(hour=16, minute=50)  # Monday, office hours end at 17:00 UTC
    out = run(
        sim_config,
        [alarm(evening, "Digest", tokens="severity=info service=api")],
        until=T0.replace(day=3, hour=9, minute=10),
    )
    # sent in office hours; muted all night, then repeated at the first tick of the next office hours
    assert [(n.at, n.receiver) for n in out] == [
        (evening + 30 * S, "mail"),
        (T0.replace(day=3, hour=9, minute=0, second=30), "mail"),
    ]
    late = T0.replace(hour=17, minute=30)
    out = run(
        sim_config,
        [alarm(late, "Digest", tokens="severity=info service=api")],
        until=T0.replace(day=3, hour=9, minute=10),
    )
    # muted all night; the first tick at or after 09:00 the next day sends it
    assert [(n.at, n.receiver) for n in out] == [(T0.replace(day=3, hour=9, minute=0, second=30), "mail")]


def test_a_mute_interval_silences_a_route(sim_config: AlertingConfig) -> None:
    last_day = T0.replace(day=31, hour=12)  # data-freeze: the last day of the month
    out = run(
        sim_config,
        [alarm(last_day, "EtlLag", tokens="team=data service=etl")],
        until=T0.replace(month=4, day=1, hour=0, minute=30),
    )
    assert [n.at for n in out] == [T0.replace(month=4, day=1, hour=0, minute=0, second=30)]


def test_a_maintenance_window_mutes_a_service_until_closed(sim_config: AlertingConfig) -> None:
    inputs = [
        line(T0, maintenance={"service": "api", "action": "open", "duration": "45m", "opened_by": "deploy-7"}),
        alarm(T0 + M, "HighLatency"),
        alarm(T0 + M, "DiskFull", tokens="service=db"),
        line(T0 + 12 * M, maintenance={"service": "api", "action": "close"}),
    ]
    out = run(sim_config, inputs)
    assert [(n.at - T0, n.group_labels["alertname"]) for n in out] == [
        (M + 30 * S, "DiskFull"),
        (M + 30 * S + 15 * M, "HighLatency"),  # the first tick after the close
    ]


def test_a_maintenance_window_expires_by_itself(sim_config: AlertingConfig) -> None:
    inputs = [line(T0, maintenance={"service": "api", "action": "open"}), alarm(T0 + M, "HighLatency")]
    out = run(sim_config, inputs, until=T0 + 30 * M)
    assert [n.at - T0 for n in out] == [M + 30 * S + 20 * M]  # default_duration 20m


def test_maintenance_longer_than_allowed_is_an_error(sim_config: AlertingConfig) -> None:
    inputs = [
        TimedInput.model_validate(
            {"at": T0, "maintenance": {"service": "api", "action": "open", "duration": "3h"}, "line": 4}
        )
    ]
    with pytest.raises(SimulationError, match=r"line 4: maintenance.duration: .*longer than the maximum"):
        run(sim_config, inputs)


def test_an_invalid_silence_is_an_error(sim_config: AlertingConfig) -> None:
    inputs = [line(T0, silence={"matchers": ['service=~".*"'], "duration": "1h"})]
    with pytest.raises(SimulationError, match="would silence every alert"):
        run(sim_config, inputs)


def test_unknown_events_go_to_the_fallback_receiver_at_once(sim_config: AlertingConfig) -> None:
    out = run(sim_config, [TimedInput(at=T0, event=sample_event("unknown"))])
    [n, resolved] = out
    assert (n.at, n.receiver, n.group_key) == (T0, "ops", 'fallback:{alertname="UnrecognisedEvent"}')
    assert "EC2 Instance State-change Notification" in n.alerts[0].annotations.summary
    # it resolves by itself after resolve_timeout (5m), like any one-shot event
    assert (resolved.at, resolved.status.value) == (T0 + 5 * M, "resolved")


def test_inputs_are_applied_in_time_order(sim_config: AlertingConfig) -> None:
    inputs = [alarm(T0 + 8 * M, "HighLatency", "OK"), alarm(T0, "HighLatency")]
    assert [n.status.value for n in run(sim_config, inputs)] == ["firing", "resolved"]


def test_until_stops_the_simulation(sim_config: AlertingConfig) -> None:
    inputs = [alarm(T0, "HighLatency"), alarm(T0 + 10 * M, "DiskFull", tokens="service=db")]
    assert [n.group_labels["alertname"] for n in run(sim_config, inputs, until=T0 + M)] == ["HighLatency"]
    assert run(sim_config, inputs, until=T0 + 29 * S) == []
    # by default: the last input + the largest group_wait + group_interval, enough for pending groups
    assert len(run(sim_config, inputs)) == 2


def test_one_shot_events_resolve_after_resolve_timeout(sim_config: AlertingConfig) -> None:
    event = sample_event("ecs_task_stopped")
    stopped = datetime.fromisoformat("2026-03-02T11:02:46.511+00:00")
    out = run(sim_config, [TimedInput(at=stopped, event=event)], until=stopped + 20 * M)
    assert [(n.at - stopped, n.status.value) for n in out] == [(30 * S, "firing"), (30 * S + 5 * M, "resolved")]


def test_timed_input_needs_exactly_one_body() -> None:
    with pytest.raises(ValueError, match="exactly one of event, silence or maintenance"):
        TimedInput.model_validate({"at": T0})
    with pytest.raises(ValueError, match="exactly one of event, silence or maintenance"):
        TimedInput.model_validate({"at": T0, "event": {}, "maintenance": {"service": "a", "action": "close"}})
    with pytest.raises(ValueError, match="exactly one of ends_at or duration"):
        TimedInput.model_validate({"at": T0, "silence": {"matchers": ['a="b"']}})
