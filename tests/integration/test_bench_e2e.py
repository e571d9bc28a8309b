"""The end-to-end benchmark's counting, on a tiny storm through the test session's emulator."""

from __future__ import annotations

import pytest

from safejob_ops.alerting.config import load_config
from safejob_ops.alerting.normalise import normalise
from safejob_ops.alerting.routing import match_routes
from safejob_ops.settings import config_file
from safejob_tools.bench import e2e
from safejob_tools.bench.storm import event_counts, make_alarms
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.seed import LOCAL_CONFIG
from safejob_tools.localaws.sink import HttpSink

TINY_E2E = e2e.E2EParams(alarms=6, events=24, threads=3, drain_timeout_seconds=60.0)


@pytest.mark.emulator
@pytest.mark.slow
def test_end_to_end_counts_agree_with_each_other(stack: DeployedStack, sink: HttpSink) -> None:
    # WHEN a tiny storm runs through the emulator of the test session
    report = e2e.run(TINY_E2E, stack=stack, sink=sink)
    # THEN every event was sent and ingested, the out-of-order redeliveries were ignored as stale
    counts = event_counts(TINY_E2E.events, TINY_E2E.alarms, seed=TINY_E2E.seed)
    assert report.storm_events == TINY_E2E.events
    assert report.resolve_events == sum(1 for c in counts if c % 2)
    assert report.redeliveries == round(TINY_E2E.events * TINY_E2E.redelivery_fraction)
    assert report.ingest_errors == 0
    assert report.stale_ignored == report.redeliveries
    # AND every group episode had its execution, and each one finished (or waits, muted, for its time interval)
    assert sum(report.executions.values()) == report.groups_created
    assert set(report.executions) <= {"SUCCEEDED", "IDLE"}
    assert report.distinct_groups <= report.groups_created
    # AND the notification log, the receivers and the flushes' decisions agree
    assert sum(report.notifications_by_receiver.values()) == report.notifications
    assert report.distinct_groups_notified <= report.distinct_groups
    assert report.duplicate_sink_requests == 0
    assert report.missing_sink_requests == 0
    assert sum(report.sink_requests.values()) == report.requests_logged  # email goes to SNS: in neither
    assert report.consistent, report.problems
    # AND each (alert, receiver) pair that fired is accounted for: notified, excused or lost
    assert report.alerts_expected == _routes_of_the_storm(TINY_E2E)
    assert report.alerts_expected == (report.alerts_notified + report.excused_short + report.excused_inhibited
                                      + report.excused_time_muted + report.lost_alerts)
    assert len(report.lost) == report.lost_alerts
    assert report.notifications > 0
    assert report.max_notifications_per_group_interval >= 1
    assert report.passed == (not report.lost_alerts and report.max_notifications_per_group_interval <= 1
                             and not report.duplicate_notification_ids)


def _routes_of_the_storm(params: e2e.E2EParams) -> int:
    """(alert, receiver) pairs of the storm's alarms, computed here from the local config."""
    config = load_config(config_file(LOCAL_CONFIG))
    total = 0
    for alarm in make_alarms(params.alarms, prefix="Any-", seed=params.seed):
        [alert] = normalise(alarm.event("ALARM"), config.global_)
        total += len(match_routes(config, alert.labels.as_dict()))
    return total
