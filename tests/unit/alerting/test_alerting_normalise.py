"""Normalisers: every sample in events/alarm_route/ and the variants of each shape."""

from __future__ import annotations

import copy
import json
from collections import UserDict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alerting_support import EVENTS, T0, alarm_event, sample_event

from safejob_ops.alerting.config import GlobalConfig
from safejob_ops.alerting.models import AlertStatus, Source
from safejob_ops.alerting.normalise import (
    EXCERPT_LIMIT,
    UnknownEventError,
    normalise,
    parse_description,
    unrecognised_event_alert,
)

DEFAULTS = GlobalConfig(
    environment="production",
    account="999999999999",
    region="us-east-1",
    runbook_base_url="https://runbooks.example/{alertname}",
    dashboard_base_url="https://dash.example",
)
ACCOUNT, REGION = "123456789012", "eu-west-1"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# sample -> (alertname, service, severity, team, source, status, starts_at, ends_at, updated_at)
EXPECTED: dict[str, tuple[str, str, str, str, Source, AlertStatus, str, str | None, str] | None] = {
    "cloudwatch_alarm_eventbridge_metric": (
        "safejob-production-api-high-cpu",
        "api",
        "critical",
        "platform",
        Source.CLOUDWATCH,
        AlertStatus.FIRING,
        "2026-03-02T14:05:12.351+00:00",
        None,
        "2026-03-02T14:05:12.351+00:00",
    ),
    "cloudwatch_alarm_eventbridge_math": (
        "safejob-production-api-5xx-rate",
        "api",
        "warning",
        "backend",
        Source.CLOUDWATCH,
        AlertStatus.FIRING,
        "2026-03-02T14:06:02.490+00:00",
        None,
        "2026-03-02T14:06:02.490+00:00",
    ),
    "cloudwatch_alarm_eventbridge_composite": (
        "safejob-production-api-degraded",
        "api",
        "critical",
        "platform",
        Source.CLOUDWATCH,
        AlertStatus.FIRING,
        "2026-03-02T14:06:08.257+00:00",
        None,
        "2026-03-02T14:06:08.257+00:00",
    ),
    "cloudwatch_alarm_eventbridge_ok": (
        "safejob-production-api-high-cpu",
        "api",
        "critical",
        "platform",
        Source.CLOUDWATCH,
        AlertStatus.RESOLVED,
        "2026-03-02T14:05:12.351+00:00",
        "2026-03-02T14:31:40.215+00:00",
        "2026-03-02T14:31:40.215+00:00",
    ),
    "cloudwatch_alarm_eventbridge_insufficient_data": None,
    "cloudwatch_alarm_lambda_action": (
        "safejob-production-db-connections",
        "db",
        "critical",
        "data",
        Source.CLOUDWATCH,
        AlertStatus.FIRING,
        "2026-03-02T15:20:31.490+00:00",
        None,
        "2026-03-02T15:20:31.490+00:00",
    ),
    "sns_alarm": (
        "safejob-production-db-free-storage",
        "db",
        "warning",
        "data",
        Source.CLOUDWATCH,
        AlertStatus.FIRING,
        "2026-03-02T15:45:03.772+00:00",
        None,
        "2026-03-02T15:45:03.772+00:00",
    ),
    "ecs_task_stopped": (
        "EcsTaskStopped",
        "api",
        "warning",
        "platform",
        Source.ECS,
        AlertStatus.FIRING,
        "2026-03-02T11:02:46.511+00:00",
        "2026-03-02T11:07:46.511+00:00",
        "2026-03-02T11:02:46.511+00:00",
    ),
    "backup_job_failed": (
        "BackupJobFailed",
        "safejob-production",
        "warning",
        "platform",
        Source.BACKUP,
        AlertStatus.FIRING,
        "2026-03-02T05:14:27+00:00",
        "2026-03-02T05:19:27+00:00",
        "2026-03-02T05:14:27+00:00",
    ),
    "backup_copy_job_failed": (
        "BackupCopyJobFailed",
        "safejob-production",
        "warning",
        "platform",
        Source.BACKUP,
        AlertStatus.FIRING,
        "2026-03-02T06:40:09+00:00",
        "2026-03-02T06:45:09+00:00",
        "2026-03-02T06:40:09+00:00",
    ),
    "stepfunctions_execution_failed": (
        "WorkflowExecutionFailed",
        "safejob-production-deploy",
        "warning",
        "platform",
        Source.STEPFUNCTIONS,
        AlertStatus.FIRING,
        "2026-03-02T12:33:18.502+00:00",
        "2026-03-02T12:38:18.502+00:00",
        "2026-03-02T12:33:18.502+00:00",
    ),
    "health_event": (
        "AWS_RDS_OPERATIONAL_ISSUE",
        "unknown",
        "warning",
        "platform",
        Source.HEALTH,
        AlertStatus.FIRING,
        "2026-03-02T08:52:00+00:00",
        None,
        "2026-03-02T09:08:41+00:00",
    ),
}


def test_every_sample_has_an_expectation() -> None:
    # flush_*, deliver_* and admin_* are the inputs of the other alarm_route functions (tests/functional).
    samples = {p.stem for p in EVENTS.glob("*.json") if not p.stem.startswith(("flush_", "deliver_", "admin_"))}
    assert samples == set(EXPECTED) | {"unknown"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_normalises_with_its_expected_labels(name: str) -> None:
    # GIVEN a sample event WHEN normalised THEN it yields one alert with the expected labels and times
    alerts = normalise(sample_event(name), DEFAULTS)
    expected = EXPECTED[name]
    if expected is None:
        assert alerts == []
        return
    alertname, service, severity, team, source, status, starts, ends, updated = expected
    [alert] = alerts
    labels = alert.labels
    assert (labels.alertname, labels.service, labels.severity, labels.team, labels.source) == (
        alertname,
        service,
        severity,
        team,
        source,
    )
    assert (labels.environment, labels.account, labels.region) == ("production", ACCOUNT, REGION)
    assert alert.status is status
    assert (alert.starts_at, alert.ends_at, alert.updated_at) == (ts(starts), ts(ends) if ends else None, ts(updated))
    assert alert.annotations.summary
    assert alert.annotations.runbook_url


def test_unknown_sample_is_rejected_with_what_and_what_is_accepted() -> None:
    with pytest.raises(UnknownEventError) as exc:
        normalise(sample_event("unknown"), DEFAULTS)
    message = str(exc.value)
    assert "'EC2 Instance State-change Notification' from source 'aws.ec2'" in message
    assert "accepted:" in message
    assert "'CloudWatch Alarm State Change'" in message
    assert "Records[].Sns.Message" in message


def test_description_tokens_become_labels_and_links() -> None:
    [alert] = normalise(sample_event("cloudwatch_alarm_eventbridge_metric"), DEFAULTS)
    annotations = alert.annotations
    assert annotations.summary == "API tasks CPU above 85% for 3 minutes"
    assert annotations.description.startswith("Scale out the api service or find the hot endpoint in the dashboard.")
    assert "Threshold Crossed" in annotations.description  # the state reason follows the text
    assert "severity=" not in annotations.description
    assert "runbook=" not in annotations.description
    assert annotations.runbook_url == "https://github.com/safejob/platform/blob/main/docs/runbooks/api-high-cpu.md"
    assert annotations.dashboard_url == "https://dash.example/api"  # base + service


def test_links_default_from_the_global_templates() -> None:
    [alert] = normalise(sample_event("cloudwatch_alarm_eventbridge_math"), DEFAULTS)
    assert alert.annotations.runbook_url == "https://runbooks.example/safejob-production-api-5xx-rate"
    [lam] = normalise(sample_event("cloudwatch_alarm_lambda_action"), DEFAULTS)
    assert lam.annotations.dashboard_url.endswith("#dashboards/dashboard/safejob-production-db")  # the token wins
    bare = GlobalConfig()
    [plain] = normalise(sample_event("cloudwatch_alarm_eventbridge_math"), bare)
    assert (plain.annotations.runbook_url, plain.annotations.dashboard_url) == ("", "")


@pytest.mark.parametrize(
    ("text", "tokens", "summary", "rest"),
    [
        ("", {}, "", ""),
        ("Just a line", {}, "Just a line", ""),
        ("severity=info", {"severity": "info"}, "", ""),
        ("a severity=critical b\n\n  c  team=x  d \n", {"severity": "critical", "team": "x"}, "a b", "c d"),
        ("not-a-token:severity=critical", {}, "not-a-token:severity=critical", ""),
    ],
)
def test_parse_description(text: str, tokens: dict[str, str], summary: str, rest: str) -> None:
    assert parse_description(text) == (tokens, summary, rest)


def test_invalid_severity_token_falls_back_to_the_default() -> None:
    event = alarm_event("X", "ALARM", T0, description="Broken severity=urgent")
    [alert] = normalise(event, DEFAULTS)
    assert alert.labels.severity == "warning"


def test_alarm_tags_are_used_when_the_description_has_no_tokens() -> None:
    event = alarm_event(
        "X",
        "ALARM",
        T0,
        description="Tagged service=from-description",
        alarmTags={"team": "data", "severity": "critical", "service": "from-tag"},
    )
    [alert] = normalise(event, DEFAULTS)
    assert (alert.labels.team, alert.labels.severity, alert.labels.service) == ("data", "critical", "from-description")


def test_metric_widget_of_a_single_metric_alarm() -> None:
    [alert] = normalise(sample_event("cloudwatch_alarm_eventbridge_metric"), DEFAULTS)
    widget = json.loads(alert.annotations.metric_widget)
    assert widget["metrics"] == [
        [
            "AWS/ECS",
            "CPUUtilization",
            "ClusterName",
            "safejob-production",
            "ServiceName",
            "safejob-production-api",
            {"stat": "Average", "period": 60},
        ]
    ]
    assert widget["region"] == REGION
    assert widget["title"] == "safejob-production-api-high-cpu"
    assert widget["annotations"] == {"horizontal": [{"label": "threshold", "value": 85.0}]}


def test_metric_widget_of_a_metric_math_alarm() -> None:
    [alert] = normalise(sample_event("cloudwatch_alarm_eventbridge_math"), DEFAULTS)
    metrics = json.loads(alert.annotations.metric_widget)["metrics"]
    assert metrics[0] == [{"expression": "100 * m1 / m2", "id": "e1", "label": "5xx rate (%)"}]
    assert metrics[1][:2] == ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"]
    assert metrics[1][-1] == {"stat": "Sum", "period": 60, "id": "m1", "visible": False}


def test_composite_alarms_have_no_widget_and_show_their_rule() -> None:
    [alert] = normalise(sample_event("cloudwatch_alarm_eventbridge_composite"), DEFAULTS)
    assert alert.annotations.metric_widget == ""
    assert 'Rule: ALARM("safejob-production-api-5xx-rate")' in alert.annotations.description


def test_ok_resolves_from_the_alarm_start() -> None:
    [alert] = normalise(sample_event("cloudwatch_alarm_eventbridge_ok"), DEFAULTS)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.starts_at == ts("2026-03-02T14:05:12.351+00:00")  # previousState (ALARM) began then
    assert alert.ends_at == alert.updated_at == ts("2026-03-02T14:31:40.215+00:00")
    # firing and resolved versions of one alarm share the fingerprint
    [firing] = normalise(sample_event("cloudwatch_alarm_eventbridge_metric"), DEFAULTS)
    assert firing.fingerprint == alert.fingerprint


def test_lambda_action_widget_and_arn() -> None:
    [alert] = normalise(sample_event("cloudwatch_alarm_lambda_action"), DEFAULTS)
    widget = json.loads(alert.annotations.metric_widget)
    assert widget["metrics"][0][-1] == {"stat": "Maximum", "period": 60, "id": "m1"}
    assert widget["annotations"]["horizontal"][0]["value"] == 400.0


def sns_message() -> dict[str, Any]:
    message: dict[str, Any] = json.loads(sample_event("sns_alarm")["Records"][0]["Sns"]["Message"])
    return message


def test_sns_shapes_all_normalise_alike() -> None:
    # GIVEN the same alarm notification as a Lambda SNS event, one record, an SNS envelope and the bare message
    event = sample_event("sns_alarm")
    record = event["Records"][0]
    envelope = record["Sns"]
    shapes = [event, record, envelope, sns_message()]
    results = [normalise(shape, DEFAULTS) for shape in shapes]
    # THEN every shape gives the same alert
    assert all(r == results[0] for r in results)
    [alert] = results[0]
    widget = json.loads(alert.annotations.metric_widget)
    assert widget["metrics"] == [
        [
            "AWS/RDS",
            "FreeStorageSpace",
            "DBInstanceIdentifier",
            "safejob-production",
            {"stat": "Minimum", "period": 300},
        ]
    ]
    assert widget["annotations"]["horizontal"][0]["value"] == 10737418240.0


@pytest.mark.parametrize(
    ("region_name", "expected"),
    [
        ("EU (Ireland)", "eu-west-1"),
        ("Europe (Ireland)", "eu-west-1"),
        ("EU - Ireland", "eu-west-1"),
        ("US East (N. Virginia)", "us-east-1"),
        ("US - N. Virginia", "us-east-1"),
        ("Asia Pacific (Tokyo)", "ap-northeast-1"),
        ("Somewhere New", "us-east-1"),
    ],  # unknown: the configured default
)
def test_sns_region_display_names_are_mapped(region_name: str, expected: str) -> None:
    message = sns_message()
    del message["AlarmArn"]
    message["Region"] = region_name
    [alert] = normalise(message, DEFAULTS)
    assert alert.labels.region == expected


def test_sns_arn_region_wins_over_the_display_name() -> None:
    message = sns_message()
    message["Region"] = "US East (Ohio)"
    [alert] = normalise(message, DEFAULTS)
    assert alert.labels.region == "eu-west-1"


def test_sns_metric_math_trigger() -> None:
    message = sns_message()
    message["Trigger"] = {
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 5.0,
        "Metrics": [
            {"Expression": "m1+m2", "Id": "e1", "Label": "total", "ReturnData": True},
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {
                        "Dimensions": [{"value": "q1", "name": "QueueName"}],
                        "MetricName": "ApproximateNumberOfMessagesVisible",
                        "Namespace": "AWS/SQS",
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
        ],
    }
    [alert] = normalise(message, DEFAULTS)
    metrics = json.loads(alert.annotations.metric_widget)["metrics"]
    assert metrics == [
        [{"expression": "m1+m2", "id": "e1", "label": "total"}],
        [
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            "q1",
            {"stat": "Sum", "period": 60, "id": "m1", "visible": False},
        ],
    ]


def test_sns_ok_resolves_and_insufficient_data_is_ignored() -> None:
    message = sns_message()
    message["NewStateValue"] = "OK"
    [alert] = normalise(message, DEFAULTS)
    assert alert.status is AlertStatus.RESOLVED
    message["NewStateValue"] = "INSUFFICIENT_DATA"
    assert normalise(message, DEFAULTS) == []


def test_sns_can_carry_an_eventbridge_event() -> None:
    event = {"Records": [{"Sns": {"Message": json.dumps(sample_event("stepfunctions_execution_failed"))}}]}
    [alert] = normalise(event, DEFAULTS)
    assert alert.labels.alertname == "WorkflowExecutionFailed"


def test_several_sns_records_give_several_alerts() -> None:
    event = sample_event("sns_alarm")
    second = copy.deepcopy(event["Records"][0])
    msg = json.loads(second["Sns"]["Message"])
    msg["AlarmName"] = "another"
    second["Sns"]["Message"] = json.dumps(msg)
    event["Records"].append(second)
    assert [a.labels.alertname for a in normalise(event, DEFAULTS)] == ["safejob-production-db-free-storage", "another"]


@pytest.mark.parametrize(
    ("change", "alerts"),
    [
        ({}, 1),
        ({"lastStatus": "RUNNING"}, 0),
        ({"stopCode": "UserInitiated"}, 0),
        ({"stopCode": "TaskFailedToStart"}, 0),
        ({"containers": [{"name": "web", "exitCode": 0}]}, 0),
        ({"containers": [{"name": "web"}]}, 0),  # no exit code: never started
    ],
)
def test_ecs_only_essential_container_failures_fire(change: dict[str, Any], alerts: int) -> None:
    event = sample_event("ecs_task_stopped")
    event["detail"].update(change)
    assert len(normalise(event, DEFAULTS)) == alerts


def test_ecs_alert_says_which_container_failed() -> None:
    [alert] = normalise(sample_event("ecs_task_stopped"), DEFAULTS)
    assert alert.annotations.description.startswith(
        "container web exited with code 137 (OutOfMemoryError: Container killed due to memory usage)"
    )
    assert alert.labels.model_extra == {"cluster": "safejob-production"}
    assert alert.annotations.summary == "ECS task of api stopped: Essential container in task exited"


def test_ecs_task_outside_a_service_uses_the_default_service() -> None:
    event = sample_event("ecs_task_stopped")
    event["detail"]["group"] = "family:safejob-production-migrate"
    [alert] = normalise(event, DEFAULTS)
    assert alert.labels.service == "unknown"


@pytest.mark.parametrize(
    ("state", "fires"),
    [
        ("FAILED", True),
        ("ABORTED", True),
        ("EXPIRED", True),
        ("COMPLETED", False),
        ("RUNNING", False),
        ("CREATED", False),
    ],
)
def test_backup_job_states(state: str, fires: bool) -> None:
    event = sample_event("backup_job_failed")
    event["detail"]["state"] = state
    assert bool(normalise(event, DEFAULTS)) is fires


@pytest.mark.parametrize(
    ("status", "fires"),
    [("FAILED", True), ("TIMED_OUT", True), ("ABORTED", True), ("SUCCEEDED", False), ("RUNNING", False)],
)
def test_step_functions_statuses(status: str, fires: bool) -> None:
    event = sample_event("stepfunctions_execution_failed")
    event["detail"]["status"] = status
    assert bool(normalise(event, DEFAULTS)) is fires


def test_step_functions_alert_links_the_execution() -> None:
    [alert] = normalise(sample_event("stepfunctions_execution_failed"), DEFAULTS)
    assert "error: SmokeTestFailed" in alert.annotations.description
    assert alert.annotations.dashboard_url.startswith("https://eu-west-1.console.aws.amazon.com/states/home")


def test_health_event_resolves_when_closed() -> None:
    event = sample_event("health_event")
    event["detail"]["statusCode"] = "closed"
    event["detail"]["endTime"] = "Mon, 02 Mar 2026 10:15:00 GMT"
    [alert] = normalise(event, DEFAULTS)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert alert.labels.model_extra == {"aws_service": "RDS", "category": "issue"}


def test_health_scheduled_changes_are_info() -> None:
    event = sample_event("health_event")
    event["detail"]["eventTypeCategory"] = "scheduledChange"
    [alert] = normalise(event, DEFAULTS)
    assert alert.labels.severity == "info"


@pytest.mark.parametrize(
    ("event", "what"),
    [
        ({}, "an object with no keys"),
        ({"foo": 1}, "an object with foo"),
        ({"detail-type": "CloudWatch Alarm State Change"}, "without a 'detail' object"),
        ({"detail-type": "CloudWatch Alarm State Change", "detail": {"alarmName": "x"}}, "without state.value"),
        ({"detail-type": "CloudWatch Alarm State Change", "detail": {"state": {"value": "WEIRD"}}}, "state 'WEIRD'"),
        ({"source": "aws.cloudwatch", "alarmData": "nope"}, "without an 'alarmData' object"),
        ({"Records": []}, "'Records' that is not a non-empty list"),
        ({"Records": [{"foo": 1}]}, "an SNS record without an 'Sns' object"),
        ({"Records": [{"Sns": {"Message": "plain text"}}]}, "an SNS message that is not JSON"),
        ({"Records": [{"Sns": {"Message": "[1]"}}]}, "not a JSON object"),
        ({"Records": [{"Sns": {"Message": '{"x": 1}'}}]}, "not a CloudWatch alarm notification"),
    ],
)
def test_malformed_events_are_unknown(event: dict[str, Any], what: str) -> None:
    with pytest.raises(UnknownEventError, match="unrecognised event: ") as exc:
        normalise(event, DEFAULTS)
    assert what in str(exc.value)


def test_non_dict_inputs() -> None:
    with pytest.raises(UnknownEventError, match="expected a JSON object, got list"):
        normalise([1, 2], DEFAULTS)  # type: ignore[arg-type]
    # any Mapping is accepted
    wrapped = UserDict(sample_event("stepfunctions_execution_failed"))
    assert len(normalise(wrapped, DEFAULTS)) == 1


def test_defaults_fill_what_the_event_lacks() -> None:
    event = {"detail-type": "Step Functions Execution Status Change", "detail": {"status": "FAILED"}}
    [alert] = normalise(event, DEFAULTS)
    assert (alert.labels.account, alert.labels.region, alert.labels.service) == ("999999999999", "us-east-1", "unknown")


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-03-02T10:00:00Z",
        "2026-03-02T10:00:00.000+0000",
        "2026-03-02T10:00:00+00:00",
        "2026-03-02T11:00:00+01:00",
        "Mon, 02 Mar 2026 10:00:00 GMT",
        "2026-03-02T10:00:00",
    ],
)
def test_time_formats(stamp: str) -> None:
    event = alarm_event("X", "ALARM", T0)
    event["detail"]["state"]["timestamp"] = stamp
    [alert] = normalise(event, DEFAULTS)
    assert alert.starts_at == T0


def test_unrecognised_event_alert_keeps_an_excerpt() -> None:
    event = {"source": "aws.ec2", "detail": {"blob": "x" * 5000}}
    alert = unrecognised_event_alert(event, UnknownEventError("EventBridge detail-type 'Y'"), T0, DEFAULTS)
    assert alert.labels.alertname == "UnrecognisedEvent"
    assert (alert.labels.severity, alert.labels.source) == ("warning", Source.UNKNOWN)
    assert alert.labels.service == "aws.ec2"
    assert alert.labels.environment == "production"
    assert len(alert.annotations.description) == EXCERPT_LIMIT
    assert alert.annotations.description.endswith("…")
    assert alert.annotations.summary.startswith("unrecognised event: EventBridge detail-type 'Y'")
    assert alert.ends_at == T0 + timedelta(minutes=5)
    # something that is not even JSON-able still becomes an alert
    odd = unrecognised_event_alert(object(), "boom", T0)
    assert odd.annotations.summary == "boom"
    assert odd.labels.environment == "unknown"
