"""Normalisers: every event shape the alarm_route workflow accepts, turned into `Alert`s.

Accepted shapes (samples in events/alarm_route/):
- EventBridge "CloudWatch Alarm State Change" (metric, metric math and composite alarms): ALARM fires, OK resolves,
  INSUFFICIENT_DATA is ignored;
- the CloudWatch alarm Lambda action (`source: aws.cloudwatch` with `alarmArn` and `alarmData`);
- CloudWatch alarm notifications through SNS (a Lambda SNS event with Records, one SNS record, an SNS envelope, or
  the parsed Message itself);
- EventBridge "ECS Task State Change" (a stopped task whose essential container exited non-zero),
  "Backup Job State Change" / "Copy Job State Change" (FAILED, ABORTED, EXPIRED),
  "Step Functions Execution Status Change" (FAILED, TIMED_OUT, ABORTED) and "AWS Health Event".

A CloudWatch alarm's description may carry `severity=critical team=data service=db runbook=https://...
dashboard=https://...` tokens anywhere: they become labels and links, the rest is the text (first line: summary).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

from safejob_ops.alerting.config import GlobalConfig
from safejob_ops.alerting.models import Alert, AlertStatus, Annotations, Labels, Source

UNRECOGNISED_ALERTNAME = "UnrecognisedEvent"
SEVERITIES = frozenset({"critical", "warning", "info"})
EXCERPT_LIMIT = 1000

ACCEPTED_SHAPES = (
    "EventBridge detail-types: "
    + ", ".join(
        repr(t)
        for t in (
            "CloudWatch Alarm State Change",
            "ECS Task State Change",
            "Backup Job State Change",
            "Copy Job State Change",
            "Step Functions Execution Status Change",
            "AWS Health Event",
        )
    ),
    "the CloudWatch alarm Lambda action (source 'aws.cloudwatch' with alarmArn and alarmData)",
    "SNS-wrapped CloudWatch alarm notifications (Records[].Sns.Message, an SNS record, or the Message itself)",
)

_TOKEN = re.compile(r"(?<!\S)(severity|team|service|runbook|dashboard)=(\S+)")
_SPACES = re.compile(r"[ \t]{2,}")
_THRESHOLD = re.compile(r'"threshold"\s*:\s*(-?[0-9][0-9.eE+-]*)')
_ARN = re.compile(r"^arn:[^:]*:[^:]*:([^:]*):([^:]*):")

# SNS alarm messages name the region for people; both the current and the older spellings are mapped.
_REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "af-south-1": "Africa (Cape Town)",
    "ap-east-1": "Asia Pacific (Hong Kong)",
    "ap-east-2": "Asia Pacific (Taipei)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-south-2": "Asia Pacific (Hyderabad)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-southeast-3": "Asia Pacific (Jakarta)",
    "ap-southeast-4": "Asia Pacific (Melbourne)",
    "ap-southeast-5": "Asia Pacific (Malaysia)",
    "ap-southeast-7": "Asia Pacific (Thailand)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-northeast-3": "Asia Pacific (Osaka)",
    "ca-central-1": "Canada (Central)",
    "ca-west-1": "Canada West (Calgary)",
    "eu-central-1": "Europe (Frankfurt)",
    "eu-central-2": "Europe (Zurich)",
    "eu-west-1": "Europe (Ireland)",
    "eu-west-2": "Europe (London)",
    "eu-west-3": "Europe (Paris)",
    "eu-south-1": "Europe (Milan)",
    "eu-south-2": "Europe (Spain)",
    "eu-north-1": "Europe (Stockholm)",
    "il-central-1": "Israel (Tel Aviv)",
    "me-south-1": "Middle East (Bahrain)",
    "me-central-1": "Middle East (UAE)",
    "mx-central-1": "Mexico (Central)",
    "sa-east-1": "South America (Sao Paulo)",
    "us-gov-east-1": "AWS GovCloud (US-East)",
    "us-gov-west-1": "AWS GovCloud (US-West)",
    "cn-north-1": "China (Beijing)",
    "cn-northwest-1": "China (Ningxia)",
}


def _region_key(name: str) -> str:
    words = re.sub(r"[^a-z0-9]+", " ", name.lower()).split()
    return " ".join("europe" if w == "eu" else w for w in words)


_REGION_BY_NAME: dict[str, str] = {}
for _code, _name in _REGION_NAMES.items():
    _REGION_BY_NAME[_region_key(_name)] = _code
    _REGION_BY_NAME[_code] = _code
# Older SNS spellings: "US - N. Virginia", "EU - Ireland", "US East - N. Virginia".
_REGION_BY_NAME.update(
    {
        "us n virginia": "us-east-1",
        "us ohio": "us-east-2",
        "us n california": "us-west-1",
        "us oregon": "us-west-2",
        "us east n virginia": "us-east-1",
        "us west oregon": "us-west-2",
    }
)


class UnknownEventError(ValueError):
    """An event none of the normalisers recognises; the message says what was seen and what is accepted."""

    def __init__(self, what: str) -> None:
        super().__init__(f"unrecognised event: {what}; accepted: " + "; ".join(ACCEPTED_SHAPES))
        self.what = what


def normalise(event: Mapping[str, Any], defaults: GlobalConfig) -> list[Alert]:
    """Turn one event into alerts ([] for a known event that needs none, e.g. INSUFFICIENT_DATA or a task that
    stopped cleanly). Raises UnknownEventError for anything else.

    >>> ev = {"detail-type": "Step Functions Execution Status Change", "source": "aws.states",
    ...       "account": "123456789012", "region": "eu-west-1", "time": "2026-01-01T10:00:00Z",
    ...       "detail": {"status": "FAILED", "name": "run-1", "error": "States.TaskFailed",
    ...                  "stateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:deploy"}}
    >>> [(a.labels.alertname, a.labels.service, a.status.value) for a in normalise(ev, GlobalConfig())]
    [('WorkflowExecutionFailed', 'deploy', 'firing')]
    """
    if not isinstance(event, dict):
        if not isinstance(event, Mapping):
            raise UnknownEventError(f"expected a JSON object, got {type(event).__name__}")
        event = _plain(event)
    detail_type = event.get("detail-type")
    if isinstance(detail_type, str):
        handler = _EVENTBRIDGE.get(detail_type)
        if handler is None:
            raise UnknownEventError(f"EventBridge detail-type {detail_type!r} from source {event.get('source')!r}")
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise UnknownEventError(f"{detail_type!r} event without a 'detail' object")
        return handler(event, detail, defaults)
    if "alarmData" in event and event.get("source") == "aws.cloudwatch":
        return _alarm_alerts(_from_lambda_action(event), defaults)
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list) or not records:
            raise UnknownEventError("'Records' that is not a non-empty list")
        return [alert for record in records for alert in _from_sns_record(record, defaults)]
    if "Sns" in event:
        return _from_sns_record(event, defaults)
    if event.get("Type") == "Notification" and "Message" in event:
        return _from_sns_message(event.get("Message"), defaults)
    if "AlarmName" in event and "NewStateValue" in event:
        return _alarm_alerts(_from_sns_alarm(event), defaults)
    keys = ", ".join(sorted(str(k) for k in event)[:8]) or "no keys"
    raise UnknownEventError(f"an object with {keys}")


def unrecognised_event_alert(
    event: object, error: Exception | str, now: datetime, defaults: GlobalConfig | None = None
) -> Alert:
    """A warning alert standing for an event nobody understood, so that nothing is dropped silently; it carries an
    excerpt of the event (at most 1000 characters) and resolves after resolve_timeout unless seen again.

    >>> a = unrecognised_event_alert({"source": "aws.ec2"}, "unrecognised event: ...", datetime(2026, 1, 1, tzinfo=UTC))
    >>> a.labels.alertname, a.labels.severity, a.labels.source.value, a.annotations.description
    ('UnrecognisedEvent', 'warning', 'unknown', '{"source": "aws.ec2"}')
    """
    g = defaults or GlobalConfig()
    try:
        excerpt = json.dumps(event, sort_keys=True, default=str)
    except (TypeError, ValueError):
        excerpt = repr(event)
    if len(excerpt) > EXCERPT_LIMIT:
        excerpt = excerpt[: EXCERPT_LIMIT - 1] + "…"
    source = event.get("source") if isinstance(event, Mapping) else None
    service = source if isinstance(source, str) and 0 < len(source) <= 64 else g.default_service
    labels = Labels(
        alertname=UNRECOGNISED_ALERTNAME,
        service=service,
        environment=g.environment,
        severity="warning",
        team=g.default_team,
        source=Source.UNKNOWN,
        region=(_str(event.get("region")) if isinstance(event, Mapping) else "") or g.region,
        account=(_str(event.get("account")) if isinstance(event, Mapping) else "") or g.account,
    )
    summary = str(error).splitlines()[0] if str(error) else "unrecognised event"
    return Alert(
        labels=labels,
        annotations=Annotations(
            summary=summary[:300],
            description=excerpt,
            runbook_url=_link(g.runbook_base_url, labels, "alertname"),
        ),
        status=AlertStatus.FIRING,
        starts_at=now,
        ends_at=now + g.resolve_timeout,
        updated_at=now,
    )


# --- CloudWatch alarms: three envelopes, one alert builder -------------------------------------------------------


@dataclass(slots=True)
class _AlarmChange:
    """What every CloudWatch alarm envelope says, in one shape."""

    name: str
    arn: str
    account: str
    region: str
    state: str
    reason: str
    time: datetime | None
    previous_state: str
    previous_time: datetime | None
    description: str
    metrics: tuple[MetricKey, ...]
    threshold: float | None
    alarm_rule: str
    tags: dict[str, str]


def _from_eventbridge_alarm(event: Mapping[str, Any], detail: Mapping[str, Any], defaults: GlobalConfig) -> list[Alert]:
    resources = event.get("resources")
    arn = resources[0] if isinstance(resources, list) and resources else ""
    return _alarm_alerts(
        _alarm_change(detail, arn, event.get("account"), event.get("region"), event.get("time")), defaults
    )


def _from_lambda_action(event: Mapping[str, Any]) -> _AlarmChange:
    data = event.get("alarmData")
    if not isinstance(data, dict):
        raise UnknownEventError("a CloudWatch alarm Lambda action without an 'alarmData' object")
    return _alarm_change(
        data, _str(event.get("alarmArn")), event.get("accountId"), event.get("region"), event.get("time")
    )


def _alarm_change(data: Mapping[str, Any], arn: str, account: object, region: object, time: object) -> _AlarmChange:
    state = data.get("state")
    if not isinstance(state, dict) or "value" not in state:
        raise UnknownEventError("a CloudWatch alarm event without state.value")
    previous = _obj(data.get("previousState"))
    config = _obj(data.get("configuration"))
    keys = [_key_from_eventbridge(m) for m in config.get("metrics") or () if isinstance(m, dict)]
    tags = data.get("alarmTags")
    return _AlarmChange(
        name=_str(data.get("alarmName")) or _arn_resource(arn) or "CloudWatchAlarm",
        arn=arn,
        account=_str(account),
        region=_str(region),
        state=_str(state.get("value")),
        reason=_str(state.get("reason")),
        time=_time(state.get("timestamp")) or _time(time),
        previous_state=_str(previous.get("value")),
        previous_time=_time(previous.get("timestamp")),
        description=_str(config.get("description")),
        metrics=tuple(k for k in keys if k is not None),
        threshold=_threshold(state.get("reasonData")),
        alarm_rule=_str(config.get("alarmRule")),
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
    )


def _from_sns_record(record: object, defaults: GlobalConfig) -> list[Alert]:
    sns = record.get("Sns") if isinstance(record, dict) else None
    if not isinstance(sns, dict):
        raise UnknownEventError("an SNS record without an 'Sns' object")
    return _from_sns_message(sns.get("Message"), defaults)


def _from_sns_message(message: object, defaults: GlobalConfig) -> list[Alert]:
    if isinstance(message, str):
        text = message
        try:
            message = json.loads(text)
        except ValueError:
            raise UnknownEventError(f"an SNS message that is not JSON: {text[:80]!r}") from None
    if not isinstance(message, dict):
        raise UnknownEventError("an SNS message that is not a JSON object")
    if "AlarmName" in message and "NewStateValue" in message:
        return _alarm_alerts(_from_sns_alarm(message), defaults)
    # An SNS topic may also carry an EventBridge event (a rule targeting the topic).
    if "detail-type" in message:
        return normalise(message, defaults)
    raise UnknownEventError("an SNS message that is not a CloudWatch alarm notification (no AlarmName/NewStateValue)")


def _from_sns_alarm(msg: Mapping[str, Any]) -> _AlarmChange:
    arn = _str(msg.get("AlarmArn"))
    trigger = _obj(msg.get("Trigger"))
    keys: list[MetricKey | None] = []
    if trigger.get("MetricName"):
        dims = tuple(
            (str(d.get("name")), str(d.get("value"))) for d in trigger.get("Dimensions") or [] if isinstance(d, dict)
        )
        stat = _SNS_STATS.get(_str(trigger.get("Statistic")), _str(trigger.get("ExtendedStatistic")) or "Average")
        keys.append(
            _metric_key(
                "", trigger.get("Namespace"), trigger.get("MetricName"), dims, stat, trigger.get("Period"), False
            )
        )
    keys += [_key_from_sns(m) for m in trigger.get("Metrics") or () if isinstance(m, dict)]
    region = _REGION_BY_NAME.get(_region_key(_str(msg.get("Region"))), "")
    return _AlarmChange(
        name=_str(msg.get("AlarmName")) or "CloudWatchAlarm",
        arn=arn,
        account=_str(msg.get("AWSAccountId")),
        region=_arn_region(arn) or region,
        state=_str(msg.get("NewStateValue")),
        reason=_str(msg.get("NewStateReason")),
        time=_time(msg.get("StateChangeTime")),
        previous_state=_str(msg.get("OldStateValue")),
        previous_time=None,
        description=_str(msg.get("AlarmDescription")),
        metrics=tuple(k for k in keys if k is not None),
        threshold=float(trigger["Threshold"]) if isinstance(trigger.get("Threshold"), int | float) else None,
        alarm_rule=_str(msg.get("AlarmRule")),
        tags={},
    )


_SNS_STATS = {
    "AVERAGE": "Average",
    "SUM": "Sum",
    "MINIMUM": "Minimum",
    "MAXIMUM": "Maximum",
    "SAMPLE_COUNT": "SampleCount",
}


def _alarm_alerts(change: _AlarmChange, defaults: GlobalConfig) -> list[Alert]:
    if change.state == "ALARM":
        status = AlertStatus.FIRING
    elif change.state == "OK":
        status = AlertStatus.RESOLVED
    elif change.state == "INSUFFICIENT_DATA":
        return []
    else:
        raise UnknownEventError(f"CloudWatch alarm state {change.state!r} (expected ALARM, OK or INSUFFICIENT_DATA)")
    now = change.time or datetime.now(UTC)
    tokens, summary, rest = parse_description(change.description or "")
    tags = change.tags or {}
    region = change.region or _arn_region(change.arn) or defaults.region
    labels = _labels(
        defaults,
        alertname=change.name,
        source=Source.CLOUDWATCH,
        region=region,
        account=change.account or _arn_account(change.arn) or defaults.account,
        overrides={**{k: v for k, v in tags.items() if k in ("severity", "team", "service", "environment")}, **tokens},
    )
    if status is AlertStatus.FIRING:
        starts_at, ends_at = now, None
    else:
        previous = change.previous_time if change.previous_state == "ALARM" else None
        starts_at, ends_at = previous or now, now
    kind = "composite alarm" if change.alarm_rule else "alarm"
    description = "\n\n".join(
        p for p in (rest, change.reason, f"Rule: {change.alarm_rule}" if change.alarm_rule else "") if p
    )
    annotations = Annotations(
        summary=summary or f"CloudWatch {kind} {change.name} is {change.state}",
        description=description,
        runbook_url=tokens.get("runbook")
        or tags.get("runbook")
        or _link(defaults.runbook_base_url, labels, "alertname"),
        dashboard_url=tokens.get("dashboard")
        or tags.get("dashboard")
        or _link(defaults.dashboard_base_url, labels, "service"),
        metric_widget=_widget(change.name, region, change.metrics, change.threshold),
    )
    return [
        Alert(
            labels=labels, annotations=annotations, status=status, starts_at=starts_at, ends_at=ends_at, updated_at=now
        )
    ]


@lru_cache(maxsize=4096)
def parse_description(text: str) -> tuple[dict[str, str], str, str]:
    """Split an alarm description into (tokens, summary, rest): `key=value` tokens for severity, team, service,
    runbook and dashboard are taken out; the first remaining line is the summary.

    >>> parse_description("API 5xx above 1% severity=critical team=web\\nCheck the ALB. runbook=https://rb/5xx")
    ({'severity': 'critical', 'team': 'web', 'runbook': 'https://rb/5xx'}, 'API 5xx above 1%', 'Check the ALB.')
    """
    tokens = {m.group(1): m.group(2) for m in _TOKEN.finditer(text)}
    cleaned = [_SPACES.sub(" ", line).strip() for line in _TOKEN.sub("", text).splitlines()]
    lines = [line for line in cleaned if line] if cleaned else []
    return tokens, (lines[0] if lines else ""), "\n".join(lines[1:])


def _labels(
    defaults: GlobalConfig,
    *,
    alertname: str,
    source: Source,
    region: str,
    account: str,
    overrides: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
    severity: str | None = None,
    service: str | None = None,
) -> Labels:
    o = overrides or {}
    sev = o.get("severity", severity or defaults.default_severity)
    return Labels(
        alertname=alertname,
        service=o.get("service") or service or defaults.default_service,
        environment=o.get("environment") or defaults.environment,
        severity=sev if sev in SEVERITIES else defaults.default_severity,
        team=o.get("team") or defaults.default_team,
        source=source,
        region=region or defaults.region,
        account=account or defaults.account,
        **(extra or {}),
    )


def _link(base: str, labels: Labels, label: str) -> str:
    """`base` as a {label} template, or base + "/" + the label's value; "" without a base."""
    if not base:
        return ""
    # The model's field values (a StrEnum formats as its value) and its extra labels, without a model_dump.
    values = _Blank(labels.__dict__)
    if labels.model_extra:
        values.update(labels.model_extra)
    if "{" in base:
        try:
            return base.format_map(values)
        except (ValueError, IndexError):
            return base
    return f"{base.rstrip('/')}/{values[label]}"


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


# --- metric widgets (CloudWatch GetMetricWidgetImage) ------------------------------------------------------------

# A metric of an alarm, as a hashable key (so that the widget JSON of an alarm is built once, then cached):
# ("e", id, expression, label) or ("m", id, namespace, name, ((dim, value), ...), stat, period, hidden).
MetricKey = tuple[Any, ...]


def _key_from_eventbridge(m: dict[str, Any]) -> MetricKey | None:
    ident = _str(m.get("id"))
    if m.get("expression"):
        return ("e", ident, _str(m["expression"]), _str(m.get("label")) or ident)
    stat = m.get("metricStat")
    metric = stat.get("metric") if isinstance(stat, dict) else None
    if not isinstance(stat, dict) or not isinstance(metric, dict):
        return None
    dims = metric.get("dimensions")
    pairs = tuple((str(k), str(v)) for k, v in dims.items()) if isinstance(dims, dict) else ()
    return _metric_key(
        ident,
        metric.get("namespace"),
        metric.get("name"),
        pairs,
        stat.get("stat"),
        stat.get("period"),
        m.get("returnData") is False,
    )


def _key_from_sns(m: dict[str, Any]) -> MetricKey | None:
    ident = _str(m.get("Id"))
    if m.get("Expression"):
        return ("e", ident, _str(m["Expression"]), _str(m.get("Label")) or ident)
    stat = m.get("MetricStat")
    metric = stat.get("Metric") if isinstance(stat, dict) else None
    if not isinstance(stat, dict) or not isinstance(metric, dict):
        return None
    pairs = tuple(
        (str(d.get("name")), str(d.get("value"))) for d in metric.get("Dimensions") or [] if isinstance(d, dict)
    )
    return _metric_key(
        ident,
        metric.get("Namespace"),
        metric.get("MetricName"),
        pairs,
        stat.get("Stat"),
        stat.get("Period"),
        m.get("ReturnData") is False,
    )


def _metric_key(
    ident: str,
    namespace: object,
    name: object,
    dims: tuple[tuple[str, str], ...],
    stat: object,
    period: object,
    hidden: bool,
) -> MetricKey | None:
    if not namespace or not name:
        return None
    seconds = period if isinstance(period, int) and not isinstance(period, bool) and period > 0 else 300
    return ("m", ident, _str(namespace), _str(name), dims, _str(stat) or "Average", seconds, hidden)


def _ident_ok(ident: str) -> bool:
    # Widget metric ids must start with a lowercase letter; EventBridge uses UUIDs for single-metric alarms.
    return bool(ident) and ident[0].islower() and ident.replace("_", "").isalnum()


def _row(key: MetricKey) -> list[Any]:
    if key[0] == "e":
        _, ident, expression, label = key
        return [{"expression": expression, "id": ident, "label": label}]
    _, ident, namespace, name, dims, stat, period, hidden = key
    row: list[Any] = [namespace, name]
    for dim, value in dims:
        row += [dim, value]
    opts: dict[str, Any] = {"stat": stat, "period": period}
    if _ident_ok(ident):
        opts["id"] = ident
    if hidden:
        opts["visible"] = False
    row.append(opts)
    return row


@lru_cache(maxsize=4096)
def _widget(title: str, region: str, metrics: tuple[MetricKey, ...], threshold: float | None) -> str:
    """The GetMetricWidgetImage widget (JSON) of an alarm: its metrics over the last 3 hours, and the threshold."""
    if not metrics:
        return ""
    widget: dict[str, Any] = {
        "metrics": [_row(key) for key in metrics],
        "view": "timeSeries",
        "stacked": False,
        "region": region,
        "title": title,
        "start": "-PT3H",
        "end": "P0D",
        "width": 600,
        "height": 300,
    }
    if threshold is not None:
        widget["annotations"] = {"horizontal": [{"label": "threshold", "value": threshold}]}
    return json.dumps(widget, separators=(",", ":"))


def _threshold(reason_data: object) -> float | None:
    """The threshold from a state's reasonData (a JSON string), without parsing all of it."""
    match = _THRESHOLD.search(reason_data) if isinstance(reason_data, str) else None
    if match is None:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


# --- other EventBridge sources ---------------------------------------------------------------------------------

_BACKUP_FAILED = frozenset({"FAILED", "ABORTED", "EXPIRED"})
_SFN_FAILED = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


def _one_shot(
    labels: Labels, summary: str, description: str, at: datetime, defaults: GlobalConfig, dashboard: str = ""
) -> list[Alert]:
    """An alert for an event that never sends an 'OK': firing, ending after resolve_timeout unless renewed."""
    annotations = Annotations(
        summary=summary,
        description=description,
        runbook_url=_link(defaults.runbook_base_url, labels, "alertname"),
        dashboard_url=dashboard or _link(defaults.dashboard_base_url, labels, "service"),
    )
    return [
        Alert(
            labels=labels,
            annotations=annotations,
            status=AlertStatus.FIRING,
            starts_at=at,
            ends_at=at + defaults.resolve_timeout,
            updated_at=at,
        )
    ]


def _from_ecs_task(event: Mapping[str, Any], detail: Mapping[str, Any], defaults: GlobalConfig) -> list[Alert]:
    if detail.get("lastStatus") != "STOPPED" or detail.get("stopCode") != "EssentialContainerExited":
        return []
    failed = [
        c
        for c in detail.get("containers") or []
        if isinstance(c, dict) and isinstance(c.get("exitCode"), int) and c["exitCode"] != 0
    ]
    if not failed:
        return []
    group = _str(detail.get("group"))
    service = group.removeprefix("service:") if group.startswith("service:") else ""
    cluster = _arn_resource(_str(detail.get("clusterArn")))
    at = (
        _time(detail.get("stoppedAt"))
        or _time(detail.get("updatedAt"))
        or _time(event.get("time"))
        or datetime.now(UTC)
    )
    labels = _labels(
        defaults,
        alertname="EcsTaskStopped",
        source=Source.ECS,
        region=_str(event.get("region")),
        account=_str(event.get("account")),
        service=service or None,
        extra={"cluster": cluster} if cluster else None,
    )
    lines = [
        f"container {c.get('name')} exited with code {c['exitCode']}" + (f" ({c['reason']})" if c.get("reason") else "")
        for c in failed
    ]
    lines.append(f"task: {_str(detail.get('taskArn'))}")
    if detail.get("taskDefinitionArn"):
        lines.append(f"task definition: {_str(detail.get('taskDefinitionArn'))}")
    summary = f"ECS task of {service or group or 'a task'} stopped: {_str(detail.get('stoppedReason')) or 'exited'}"
    return _one_shot(labels, summary, "\n".join(lines), at, defaults)


def _from_backup_job(event: Mapping[str, Any], detail: Mapping[str, Any], defaults: GlobalConfig) -> list[Alert]:
    state = _str(detail.get("state") or detail.get("status"))
    if state not in _BACKUP_FAILED:
        return []
    copy = event.get("detail-type") == "Copy Job State Change"
    resources = event.get("resources")
    resource_arn = _str(detail.get("resourceArn")) or (
        _str(resources[0]) if isinstance(resources, list) and resources else ""
    )
    resource_type = _str(detail.get("resourceType"))
    at = _time(event.get("time")) or datetime.now(UTC)
    labels = _labels(
        defaults,
        alertname="BackupCopyJobFailed" if copy else "BackupJobFailed",
        source=Source.BACKUP,
        region=_str(event.get("region")),
        account=_str(event.get("account")),
        service=_arn_resource(resource_arn) or None,
        extra={"resource_type": resource_type} if resource_type else None,
    )
    job_id = _str(detail.get("copyJobId") if copy else detail.get("backupJobId"))
    what = "copy job" if copy else "backup job"
    lines = [_str(detail.get("statusMessage")) or f"{what} {state}", f"job: {job_id}", f"resource: {resource_arn}"]
    vault = _str(detail.get("destinationBackupVaultArn") if copy else detail.get("backupVaultName"))
    if vault:
        lines.append(f"vault: {vault}")
    summary = f"AWS Backup {what} {state} for {resource_type or 'resource'} {_arn_resource(resource_arn)}".strip()
    return _one_shot(labels, summary, "\n".join(lines), at, defaults)


def _from_sfn_execution(event: Mapping[str, Any], detail: Mapping[str, Any], defaults: GlobalConfig) -> list[Alert]:
    status = _str(detail.get("status"))
    if status not in _SFN_FAILED:
        return []
    machine = _arn_resource(_str(detail.get("stateMachineArn")))
    at = _time(detail.get("stopDate")) or _time(event.get("time")) or datetime.now(UTC)
    labels = _labels(
        defaults,
        alertname="WorkflowExecutionFailed",
        source=Source.STEPFUNCTIONS,
        region=_str(event.get("region")),
        account=_str(event.get("account")),
        service=machine or None,
    )
    cause = _str(detail.get("cause"))
    lines = [f"error: {_str(detail.get('error')) or status}"]
    if cause:
        lines.append(f"cause: {cause[:500]}")
    lines.append(f"execution: {_str(detail.get('executionArn'))}")
    region = _str(event.get("region")) or defaults.region
    console = (
        (
            f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/"
            f"{_str(detail.get('executionArn'))}"
        )
        if region and detail.get("executionArn")
        else ""
    )
    summary = f"Step Functions execution {_str(detail.get('name'))} of {machine} {status}"
    return _one_shot(labels, summary, "\n".join(lines), at, defaults, dashboard=console)


def _from_health(event: Mapping[str, Any], detail: Mapping[str, Any], defaults: GlobalConfig) -> list[Alert]:
    code = _str(detail.get("eventTypeCode")) or "AwsHealthEvent"
    category = _str(detail.get("eventTypeCategory"))
    aws_service = _str(detail.get("service"))
    start = _time(detail.get("startTime")) or _time(event.get("time")) or datetime.now(UTC)
    updated = _time(detail.get("lastUpdatedTime")) or _time(event.get("time")) or start
    closed = _str(detail.get("statusCode")).lower() == "closed"
    labels = _labels(
        defaults,
        alertname=code,
        source=Source.HEALTH,
        region=_str(detail.get("eventRegion")) or _str(event.get("region")),
        account=_str(detail.get("affectedAccount")) or _str(event.get("account")),
        severity="warning" if category == "issue" else "info",
        extra={k: v for k, v in (("aws_service", aws_service), ("category", category)) if v},
    )
    descriptions = detail.get("eventDescription") or []
    text = next((_str(d.get("latestDescription")) for d in descriptions if isinstance(d, dict)), "")
    entities = [_str(e.get("entityValue")) for e in detail.get("affectedEntities") or [] if isinstance(e, dict)]
    description = text[:2000] + (f"\n\naffected: {', '.join(entities[:10])}" if entities else "")
    annotations = Annotations(
        summary=f"AWS Health: {aws_service} {category} {code}".replace("  ", " ").strip(),
        description=description,
        runbook_url=_link(defaults.runbook_base_url, labels, "alertname"),
        dashboard_url="https://health.aws.amazon.com/health/home#/account/dashboard/open-issues",
    )
    return [
        Alert(
            labels=labels,
            annotations=annotations,
            status=AlertStatus.RESOLVED if closed else AlertStatus.FIRING,
            starts_at=start,
            ends_at=(_time(detail.get("endTime")) or updated) if closed else None,
            updated_at=updated,
        )
    ]


_EVENTBRIDGE: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any], GlobalConfig], list[Alert]]] = {
    "CloudWatch Alarm State Change": _from_eventbridge_alarm,
    "ECS Task State Change": _from_ecs_task,
    "Backup Job State Change": _from_backup_job,
    "Copy Job State Change": _from_backup_job,
    "Step Functions Execution Status Change": _from_sfn_execution,
    "AWS Health Event": _from_health,
}


# --- small parsers ---------------------------------------------------------------------------------------------


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _plain(value: object) -> Any:
    """Mappings (at any depth) as plain dicts, which is what the normalisers check for (fast)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _str(value: object) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _arn_region(arn: str) -> str:
    m = _ARN.match(arn or "")
    return m.group(1) if m else ""


def _arn_account(arn: str) -> str:
    m = _ARN.match(arn or "")
    return m.group(2) if m else ""


def _arn_resource(arn: str) -> str:
    """The last name in an ARN: ...:alarm:NAME, ...:stateMachine:NAME, ...:cluster/NAME, ...:db:NAME."""
    if not arn:
        return ""
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def _time(value: object) -> datetime | None:
    """ISO 8601 (with Z, +00:00 or +0000), RFC 1123 (Health events) or epoch milliseconds (Step Functions)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
