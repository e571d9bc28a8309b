"""alarm_route end to end in the emulator: EventBridge rule -> ingest -> one state machine execution per group ->
flush -> deliver (retries, dead-letter queue) -> the local receivers. Timings come from config/alerting.local.yaml
(group_wait 1 s, group_interval 2 s, repeat_interval 8 s)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from safejob_tools.commands.live import replay_dead_letters
from safejob_tools.localaws.driver import AlarmDriver, settle, wait_until

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

SLACK = "slack-platform"


def test_alerts_of_one_group_are_sent_together_once(alarms: AlarmDriver) -> None:
    # GIVEN the same alarm firing in two regions (two alerts, one group: group_by alertname, service)
    name = alarms.name("Grouping")
    alarms.fire(name, region="eu-west-1")
    alarms.ingest(alarms.event(name, "ALARM", region="eu-central-1"))
    # WHEN the group waits group_wait and flushes
    [entry] = alarms.wait_log(name, 1, SLACK)
    settle(3)
    # THEN Slack got one notification with both alerts, and nothing more while nothing changed
    assert len(entry["fingerprints"]) == 2
    assert len(alarms.log(name, SLACK)) == 1
    [slack] = alarms.sink.containing(name, "/slack/slack-platform")
    # AND the Slack message carries a graph of the alarm's metric (GetMetricWidgetImage, stored in S3)
    images = [b for b in slack.body["blocks"] if b["type"] == "image"]
    assert len(images) == 1
    assert alarms.stack.output("GraphsBucketName") in images[0]["image_url"]
    alarms.ingest(alarms.event(name, "OK", region="eu-central-1"))


def test_a_new_alert_in_a_notified_group_is_sent_at_the_next_group_interval(alarms: AlarmDriver) -> None:
    # GIVEN a group that has notified one alert
    name = alarms.name("Interval")
    alarms.fire(name, region="eu-west-1")
    alarms.wait_log(name, 1, SLACK)
    # WHEN a second alert joins the group
    alarms.ingest(alarms.event(name, "ALARM", region="ap-south-1"))
    # THEN the next flush sends an update with both
    first, second = alarms.wait_log(name, 2, SLACK)[:2]
    assert len(first["fingerprints"]) == 1
    assert len(second["fingerprints"]) == 2
    alarms.ingest(alarms.event(name, "OK", region="ap-south-1"))


def test_a_still_firing_group_repeats_after_repeat_interval(alarms: AlarmDriver) -> None:
    name = alarms.name("Repeat")
    alarms.fire(name)
    # WHEN it keeps firing past repeat_interval (8 s locally)
    first, second = alarms.wait_log(name, 2, SLACK)[:2]
    # THEN the same alert is notified again, as a new notification
    assert first["fingerprints"] == second["fingerprints"]
    assert first["sk"] != second["sk"]


def test_resolve_notifies_and_ends_the_group(alarms: AlarmDriver) -> None:
    # GIVEN a critical alert (paged through PagerDuty and posted to Slack)
    name = alarms.name("Resolve")
    alarms.fire(name, severity="critical")
    alarms.wait_log(name, 1, "pagerduty-oncall")
    # WHEN the alarm returns to OK
    alarms.resolve(name)
    # THEN PagerDuty gets a resolve with the same dedup_key, and every execution of the alert's groups ends
    entries = alarms.wait_log(name, 2, "pagerduty-oncall")
    assert [e["status"] for e in entries] == ["firing", "resolved"]
    pages = [r.body for r in alarms.sink.containing(name, "/pagerduty")]
    resolves = [b for b in alarms.sink.bodies("/pagerduty") if b.get("event_action") == "resolve"]
    dedup = pages[0]["dedup_key"]
    assert any(b["dedup_key"] == dedup for b in resolves)
    wait_until(lambda: all(e["status"] == "SUCCEEDED" for e in alarms.executions(name)), what="groups to end")


def test_a_critical_alert_inhibits_the_warning_of_the_same_alertname_and_service(alarms: AlarmDriver) -> None:
    name = alarms.name("Inhibit")
    # GIVEN a critical alert firing in one region
    alarms.fire(name, severity="critical", region="eu-west-1")
    alarms.wait_log(name, 1, "pagerduty-oncall")
    # WHEN the same alarm fires as a warning in another region (same alertname and service)
    alarms.ingest(alarms.event(name, "ALARM", severity="warning", region="us-west-2"))
    settle(4)
    # THEN the warning is never sent to Slack: only the critical alert's fingerprint appears
    slack = alarms.log(name, SLACK)
    fingerprints = {fp for entry in slack for fp in entry["fingerprints"]}
    assert len(slack) >= 1
    assert len(fingerprints) == 1
    alarms.ingest(alarms.event(name, "OK", severity="warning", region="us-west-2"))


def test_a_silence_mutes_and_expires_when_the_alert_resolves(alarms: AlarmDriver) -> None:
    name = alarms.name("Silenced")
    # GIVEN a silence created through the admin API, set to expire when the alert resolves
    created, ok = alarms.invoke("AlarmRouteAdminFunctionName", {
        "action": "create_silence", "matchers": [f'alertname="{name}"'], "duration_minutes": 60,
        "expire_on_resolve": True, "created_by": "test", "comment": "known issue",
    })
    assert ok, created
    silence_id = created["silences"][0]["id"]
    # WHEN the alarm fires and keeps firing for a few flushes
    alarms.fire(name)
    settle(4)
    # THEN nobody is notified
    assert alarms.log(name) == []
    # AND WHEN it resolves, the silence expires with it
    alarms.resolve(name)
    listed, _ = alarms.invoke("AlarmRouteAdminFunctionName", {"action": "list_silences"})
    assert silence_id not in [s["id"] for s in listed["silences"]]
    settle(3)
    assert alarms.log(name) == []  # a resolve of an alert nobody was told about is not sent


def test_a_maintenance_window_mutes_one_service_and_closing_it_unmutes(alarms: AlarmDriver) -> None:
    name = alarms.name("Bake")
    service = f"svc-{name[-8:]}"
    window, ok = alarms.invoke("AlarmRouteAdminFunctionName", {
        "action": "open_maintenance", "service": service, "opened_by": "deploy-test", "duration_minutes": 10})
    assert ok, window
    alarms.fire(name, service=service)
    settle(4)
    assert alarms.log(name) == []
    # WHEN the deploy closes the window
    closed, ok = alarms.invoke("AlarmRouteAdminFunctionName", {
        "action": "close_maintenance", "silence_id": window["silences"][0]["id"]})
    assert ok, closed
    # THEN the still-firing alert is notified at the next flush
    alarms.wait_log(name, 1, SLACK)


def test_mute_time_intervals_mute_and_active_time_intervals_allow(alarms: AlarmDriver) -> None:
    muted, active = alarms.name("DrillMuted"), alarms.name("DrillActive")
    alarms.fire(muted)
    alarms.fire(active)
    alarms.wait_log(active, 1, "email-platform")
    settle(2)
    assert alarms.log(muted) == []


def test_failed_delivery_is_retried_then_dead_lettered_then_replayed(alarms: AlarmDriver) -> None:
    name = alarms.name("Undeliverable")
    # GIVEN Slack failing every attempt for this alert (1 try + 4 retries)
    alarms.sink.fail("/slack/slack-platform", times=5, status=503, containing=name)
    alarms.fire(name)
    # WHEN the state machine gives up
    aws = alarms.aws
    queue = alarms.stack.output("DeliveryDeadLetterQueueUrl")

    def dead_lettered() -> int:
        attributes = aws.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    wait_until(dead_lettered, what="the notification in the dead-letter queue")
    # THEN Slack saw exactly the five attempts, and nothing was logged as sent
    assert [r.status for r in alarms.sink.containing(name, "/slack/slack-platform")] == [503] * 5
    assert alarms.log(name, SLACK) == []
    # AND the dead letter carries the notification and the error, but never the webhook URL (a secret)
    sqs = aws.client("sqs")
    [peeked] = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"]
    letter = json.loads(peeked["Body"])
    assert letter["notification"]["receiver"] == SLACK
    assert "503" in json.dumps(letter["error"])
    assert alarms.sink.url("/slack/") not in peeked["Body"]
    # AND WHEN the queue is replayed (Slack is healthy again)
    report = replay_dead_letters(aws.client("sqs"), aws.client("lambda"), alarms.stack.outputs)
    # THEN it is delivered exactly once, and the queue is empty
    assert report.failed == 0
    assert name in json.dumps([r.model_dump() for r in report.replayed]) or report.delivered >= 1
    assert [r.status for r in alarms.sink.containing(name, "/slack/slack-platform")][-1] == 200
    assert len(alarms.log(name, SLACK)) == 1
    assert dead_lettered() == 0


def test_duplicate_concurrent_events_notify_once(alarms: AlarmDriver) -> None:
    name = alarms.name("Duplicate")
    event = alarms.event(name, "ALARM", severity="critical")
    alarms.fired[name] = {"severity": "critical"}
    # WHEN the same event arrives eight times at once (redelivery, several invocations in parallel)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: alarms.invoke("AlarmRouteIngestFunctionArn", event), range(8)))
    assert all(ok for _, ok in results), results
    # THEN each of its groups was created exactly once
    created = [key for payload, _ in results for key in payload["groups_created"]]
    assert len(created) == len(set(created)) == 3  # audit webhook, PagerDuty, Slack
    # AND each receiver is notified exactly once
    alarms.wait_log(name, 3)
    settle(3)
    receivers = [e["receiver"] for e in alarms.log(name)]
    assert sorted(receivers) == ["pagerduty-oncall", SLACK, "webhook-audit"]
    assert len(alarms.sink.containing(name, "/pagerduty")) == 1


def test_an_unknown_event_goes_to_the_fallback_receiver(alarms: AlarmDriver) -> None:
    marker = alarms.name("Mystery")
    # (its own source: unrecognised events are one alert per source, re-sent only when something new appears)
    payload, ok = alarms.invoke("AlarmRouteIngestFunctionArn", {"source": f"custom.{marker}", "marker": marker})
    assert ok
    assert payload["unrecognised"]
    wait_until(lambda: alarms.sink.containing(marker, "/slack/slack-platform"), what="the fallback notification")


def test_a_malformed_flush_input_fails_before_any_side_effect(alarms: AlarmDriver) -> None:
    payload, ok = alarms.invoke("AlarmRouteFlushFunctionName", {"group_key": "", "tick": -1})
    assert not ok
    assert "group_key" in payload["errorMessage"]
    assert "tick" in payload["errorMessage"]
