"""Pure builders of what each receiver type is sent: Slack Block Kit, PagerDuty Events v2, an email for SNS and
the Alertmanager webhook (version 4) JSON. No I/O here; the notifier sends what these return.

Secrets never reach these builders except the PagerDuty routing key, which the Events API requires in the body.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from safejob_ops.alerting.models import AlertStatus, Notification, NotificationAlert

# Slack's documented limits (https://api.slack.com/reference/block-kit/blocks).
SLACK_MAX_BLOCKS = 50
SLACK_MAX_TEXT = 3000  # section text, context element text, and our own cap on the fallback `text`
SLACK_MAX_HEADER = 150
SLACK_MAX_FIELD = 2000
SLACK_MAX_FIELDS = 10
SLACK_MAX_BUTTON_TEXT = 75
SLACK_MAX_URL = 3000
SLACK_MAX_ALT_TEXT = 2000
SLACK_MAX_LISTED_ALERTS = 10

PAGERDUTY_MAX_SUMMARY = 1024
PAGERDUTY_CLIENT = "Safe Job alarm_route"

SNS_MAX_SUBJECT = 99  # SNS: "less than 100 characters", ASCII, no line breaks or control characters
SNS_MAX_MESSAGE_BYTES = 250_000  # SNS allows 256 KiB; keep a margin for the envelope
EMAIL_MAX_LISTED_ALERTS = 100

# Alertmanager sends Go's zero time as endsAt of an alert that has not ended.
ALERTMANAGER_ZERO_TIME = "0001-01-01T00:00:00Z"

SLACK_LABEL_FIELDS: tuple[str, ...] = ("service", "environment", "severity", "team", "region", "account")

_SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}
_PAGERDUTY_SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}
_SLACK_EMOJI = {"critical": ":rotating_light:", "error": ":red_circle:", "warning": ":warning:",
                "info": ":information_source:"}
_RESOLVED_EMOJI = ":white_check_mark:"
_ANNOTATION_FIELDS: tuple[str, ...] = ("summary", "description", "runbook_url", "dashboard_url", "metric_widget")
_ENTITY_TAIL = re.compile(r"&[a-z]{0,3}$")
_NOT_SUBJECT_SAFE = re.compile(r"[^\x20-\x7e]+")


# ---------------------------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------------------------


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, with an ellipsis when cut.

    >>> truncate("abcdef", 4)
    'abc…'
    """
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"


def common_labels(alerts: list[NotificationAlert]) -> dict[str, str]:
    """The labels every alert has with the same value (Alertmanager's CommonLabels).

    >>> from datetime import UTC, datetime
    >>> from safejob_ops.alerting.models import AlertStatus, Annotations
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> a = NotificationAlert(fingerprint="a", status=AlertStatus.FIRING, labels={"x": "1", "y": "2"},
    ...                       annotations=Annotations(), starts_at=at)
    >>> b = a.model_copy(update={"labels": {"x": "1", "y": "3"}})
    >>> common_labels([a, b])
    {'x': '1'}
    """
    if not alerts:
        return {}
    common = dict(alerts[0].labels)
    for alert in alerts[1:]:
        common = {k: v for k, v in common.items() if alert.labels.get(k) == v}
    return common


def common_annotations(alerts: list[NotificationAlert]) -> dict[str, str]:
    """The non-empty annotations every alert has with the same value (Alertmanager's CommonAnnotations)."""
    if not alerts:
        return {}
    result: dict[str, str] = {}
    for name in _ANNOTATION_FIELDS:
        first = str(getattr(alerts[0].annotations, name))
        if first and all(getattr(a.annotations, name) == first for a in alerts[1:]):
            result[name] = first
    return result


def severity_of(n: Notification) -> str:
    """The highest severity among the firing alerts (among all alerts when none fires); `warning` by default."""
    alerts = n.firing or n.alerts
    found = [a.labels.get("severity", "warning") for a in alerts]
    known = [s for s in found if s in _SEVERITY_ORDER]
    return min(known, key=_SEVERITY_ORDER.__getitem__) if known else "warning"


def title_of(n: Notification) -> str:
    """What the notification is about: the group's alertname, else the common one, else the first alert's."""
    name = n.group_labels.get("alertname") or common_labels(n.alerts).get("alertname")
    if not name and n.alerts:
        name = n.alerts[0].labels.get("alertname", "")
    return name or "alerts"


def status_tag(n: Notification) -> str:
    """Alertmanager's title prefix: `[FIRING:3]` or `[RESOLVED]`."""
    if n.status is AlertStatus.FIRING:
        return f"[FIRING:{len(n.firing)}]"
    return "[RESOLVED]"


def without_resolved(n: Notification) -> Notification | None:
    """`n` with its resolved alerts dropped, for receivers with `send_resolved: false`; None if nothing fires.

    >>> from datetime import UTC, datetime
    >>> n = Notification(id="1", at=datetime(2026, 1, 1, tzinfo=UTC), receiver="r", group_key="g", group_labels={},
    ...                  status=AlertStatus.RESOLVED, alerts=[])
    >>> without_resolved(n) is None
    True
    """
    firing = n.firing
    if not firing:
        return None
    if len(firing) == len(n.alerts):
        return n
    return n.model_copy(update={"alerts": firing, "status": AlertStatus.FIRING})


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _human_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _is_link(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) <= SLACK_MAX_URL


def _links_of(n: Notification) -> tuple[str, str]:
    """(runbook_url, dashboard_url): the common ones, else the first alert's that has one."""
    common = common_annotations(n.alerts)
    ordered = n.firing + n.resolved
    runbook = common.get("runbook_url") or next((a.annotations.runbook_url for a in ordered
                                                 if a.annotations.runbook_url), "")
    dashboard = common.get("dashboard_url") or next((a.annotations.dashboard_url for a in ordered
                                                     if a.annotations.dashboard_url), "")
    return runbook, dashboard


def _summary_of(n: Notification) -> str:
    common = common_annotations(n.alerts)
    if common.get("summary"):
        return common["summary"]
    if len(n.alerts) == 1 and n.alerts[0].annotations.summary:
        return n.alerts[0].annotations.summary
    return f"{len(n.firing)} firing, {len(n.resolved)} resolved"


def _group_text(n: Notification) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(n.group_labels.items())) or "(all)"


def _ordered(n: Notification) -> list[NotificationAlert]:
    """Firing alerts first, each part in its original order."""
    return n.firing + n.resolved


# ---------------------------------------------------------------------------------------------------------------
# Slack
# ---------------------------------------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves.

    >>> slack_escape("a < b & c")
    'a &lt; b &amp; c'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int = SLACK_MAX_TEXT) -> dict[str, str]:
    escaped = slack_escape(text)
    if len(escaped) > limit:
        # Cut, then drop a dangling half entity ("&am") so that Slack does not show garbage.
        escaped = _ENTITY_TAIL.sub("", escaped[: limit - 1]) + "…"
    return {"type": "mrkdwn", "text": escaped}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def _slack_alert_line(alert: NotificationAlert) -> str:
    firing = alert.status is AlertStatus.FIRING
    emoji = _SLACK_EMOJI.get(alert.labels.get("severity", ""), ":warning:") if firing else _RESOLVED_EMOJI
    labels = alert.labels
    where = ", ".join(v for v in (labels.get("service", ""), labels.get("environment", ""), labels.get("region", ""))
                      if v)
    head = f"{emoji} *{alert.status.value.upper()}* {labels.get('alertname', '')}" + (f" ({where})" if where else "")
    lines = [head]
    if alert.annotations.summary:
        lines.append(alert.annotations.summary)
    since = f"since {_human_time(alert.starts_at)}"
    if not firing and alert.ends_at is not None:
        since += f", resolved at {_human_time(alert.ends_at)}"
    lines.append(since)
    return "\n".join(lines)


def slack_message(n: Notification, graph_url: str | None, channel: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook message (Block Kit) for `n`, within Slack's limits: at most
    `SLACK_MAX_LISTED_ALERTS` alerts are listed, then "and N more".

    >>> from datetime import UTC, datetime
    >>> n = Notification(id="1", at=datetime(2026, 1, 1, tzinfo=UTC), receiver="r", group_key="g",
    ...                  group_labels={"alertname": "HighErrorRate"}, status=AlertStatus.FIRING, alerts=[])
    >>> slack_message(n, None, "#ops")["blocks"][0]["text"]["text"]
    ':warning: [FIRING:0] WARNING · HighErrorRate'
    """
    severity = severity_of(n)
    title = title_of(n)
    firing = n.status is AlertStatus.FIRING
    emoji = _SLACK_EMOJI.get(severity, ":warning:") if firing else _RESOLVED_EMOJI
    header = f"{emoji} {status_tag(n)} {severity.upper()} · {title}"
    summary = _summary_of(n)
    common = common_annotations(n.alerts)
    labels = common_labels(n.alerts) | {"severity": severity}
    runbook, dashboard = _links_of(n)

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(header, SLACK_MAX_HEADER)},
        {"type": "section", "text": _mrkdwn(f"*{summary}*" + (f"\n{common['description']}"
                                                                if common.get("description") else ""))},
    ]
    fields = [_mrkdwn(f"*{name}*\n{labels[name]}", SLACK_MAX_FIELD)
              for name in SLACK_LABEL_FIELDS if labels.get(name)][:SLACK_MAX_FIELDS]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    blocks.append({"type": "context", "elements": [
        _mrkdwn(f"*{len(n.firing)}* firing · *{len(n.resolved)}* resolved"),
        _mrkdwn(f"group: {_group_text(n)}"),
    ]})
    buttons = [
        {"type": "button", "action_id": action, "text": _plain(label, SLACK_MAX_BUTTON_TEXT), "url": url}
        for action, label, url in (("runbook", "Runbook", runbook), ("dashboard", "Dashboard", dashboard))
        if _is_link(url)
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    if graph_url and _is_link(graph_url):
        blocks.append({"type": "image", "image_url": graph_url,
                       "alt_text": truncate(f"graph of {title}", SLACK_MAX_ALT_TEXT),
                       # Slack refuses an empty title: a blank alert name falls back to a neutral one.
                       "title": _plain(title if title.strip() else "Metric graph", SLACK_MAX_ALT_TEXT)})
    ordered = _ordered(n)
    if ordered:
        blocks.append({"type": "divider"})
        blocks.extend({"type": "section", "text": _mrkdwn(_slack_alert_line(a))}
                      for a in ordered[:SLACK_MAX_LISTED_ALERTS])
        if len(ordered) > SLACK_MAX_LISTED_ALERTS:
            blocks.append({"type": "context",
                           "elements": [_mrkdwn(f"and {len(ordered) - SLACK_MAX_LISTED_ALERTS} more")]})

    message: dict[str, Any] = {
        "text": truncate(f"{status_tag(n)} {severity.upper()} {title}: {summary}", SLACK_MAX_TEXT),
        "blocks": blocks[:SLACK_MAX_BLOCKS],
        "unfurl_links": False,
    }
    if channel:
        message["channel"] = channel
    return message


# ---------------------------------------------------------------------------------------------------------------
# PagerDuty Events API v2
# ---------------------------------------------------------------------------------------------------------------


def _pagerduty_event(alert: NotificationAlert, n: Notification, routing_key: str) -> dict[str, Any]:
    labels = alert.labels
    if alert.status is AlertStatus.RESOLVED:
        # A resolve needs only the key and dedup_key; PagerDuty ignores any payload.
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": alert.fingerprint}
    alertname = labels.get("alertname", "alert")
    environment = labels.get("environment", "")
    summary = alert.annotations.summary or f"{alertname} on {labels.get('service', 'unknown')}"
    service = labels.get("service", "unknown")
    source = f"{environment}/{service}" if environment else service
    if labels.get("region"):
        source += f"@{labels['region']}"
    details: dict[str, Any] = dict(labels)
    if alert.annotations.description:
        details["description"] = alert.annotations.description
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.fingerprint,
        "payload": {
            "summary": truncate(f"[{environment}] {alertname}: {summary}" if environment else f"{alertname}: {summary}",
                                PAGERDUTY_MAX_SUMMARY),
            "source": source,
            "severity": _PAGERDUTY_SEVERITY.get(labels.get("severity", ""), "warning"),
            "timestamp": _rfc3339(alert.starts_at),
            "component": service,
            "group": _group_text(n),
            "class": alertname,
            "custom_details": details,
        },
        "client": PAGERDUTY_CLIENT,
    }
    links = [{"href": url, "text": text} for text, url in (("Runbook", alert.annotations.runbook_url),
                                                            ("Dashboard", alert.annotations.dashboard_url))
             if url]
    if links:
        event["links"] = links
    if alert.annotations.dashboard_url:
        event["client_url"] = alert.annotations.dashboard_url
    return event


def pagerduty_events(n: Notification, routing_key: str) -> list[dict[str, Any]]:
    """One PagerDuty Events v2 event per alert: `trigger` when firing, `resolve` when resolved, with the alert's
    fingerprint as `dedup_key`, so that a repeat never opens a second incident.

    >>> from datetime import UTC, datetime
    >>> from safejob_ops.alerting.models import Annotations
    >>> a = NotificationAlert(fingerprint="f1", status=AlertStatus.RESOLVED, labels={"alertname": "X"},
    ...                       annotations=Annotations(), starts_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> n = Notification(id="1", at=datetime(2026, 1, 1, tzinfo=UTC), receiver="r", group_key="g", group_labels={},
    ...                  status=AlertStatus.RESOLVED, alerts=[a])
    >>> [(e["event_action"], e["dedup_key"]) for e in pagerduty_events(n, "KEY")]
    [('resolve', 'f1')]
    """
    return [_pagerduty_event(a, n, routing_key) for a in n.alerts]


# ---------------------------------------------------------------------------------------------------------------
# Email (through SNS)
# ---------------------------------------------------------------------------------------------------------------


def _subject_safe(text: str) -> str:
    """ASCII printable only, whitespace collapsed: what SNS accepts as a subject."""
    return " ".join(_NOT_SUBJECT_SAFE.sub(" ", text).split())


def _email_alert(alert: NotificationAlert) -> list[str]:
    labels = alert.labels
    where = ", ".join(v for v in (labels.get("service", ""), labels.get("environment", "")) if v)
    lines = [f"{alert.status.value.upper()}  {labels.get('alertname', '')}" + (f" ({where})" if where else "")]
    ann = alert.annotations
    lines += [f"  {name}: {value}" for name, value in (("Summary", ann.summary), ("Description", ann.description))
              if value]
    lines.append(f"  Started: {_human_time(alert.starts_at)}")
    if alert.ends_at is not None and alert.status is AlertStatus.RESOLVED:
        lines.append(f"  Ended: {_human_time(alert.ends_at)}")
    lines.append("  Labels: " + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
    lines += [f"  {name}: {value}" for name, value in (("Runbook", ann.runbook_url), ("Dashboard", ann.dashboard_url))
              if value]
    lines.append(f"  Fingerprint: {alert.fingerprint}")
    return lines


def email_message(n: Notification) -> tuple[str, str]:
    """(subject, body) of a plain-text email sent through SNS. The subject is ASCII, on one line and under
    100 characters, as SNS requires.

    >>> from datetime import UTC, datetime
    >>> n = Notification(id="1", at=datetime(2026, 1, 1, tzinfo=UTC), receiver="r", group_key="g",
    ...                  group_labels={"alertname": "DiskFull"}, status=AlertStatus.RESOLVED, alerts=[])
    >>> email_message(n)[0]
    '[RESOLVED] WARNING DiskFull'
    """
    severity = severity_of(n)
    title = title_of(n)
    where = ", ".join(v for v in (common_labels(n.alerts).get("service", ""),
                                  common_labels(n.alerts).get("environment", "")) if v)
    subject = _subject_safe(f"{status_tag(n)} {severity.upper()} {title}" + (f" ({where})" if where else ""))
    subject = truncate(subject, SNS_MAX_SUBJECT).replace("…", "~")  # the ellipsis is not ASCII

    runbook, dashboard = _links_of(n)
    lines = [f"{status_tag(n)} {severity.upper()} {title}", "", _summary_of(n),
             f"{len(n.firing)} firing, {len(n.resolved)} resolved", f"Group: {_group_text(n)}"]
    lines += [f"{name}: {url}" for name, url in (("Runbook", runbook), ("Dashboard", dashboard)) if url]
    ordered = _ordered(n)
    for alert in ordered[:EMAIL_MAX_LISTED_ALERTS]:
        lines += ["", *_email_alert(alert)]
    if len(ordered) > EMAIL_MAX_LISTED_ALERTS:
        lines += ["", f"... and {len(ordered) - EMAIL_MAX_LISTED_ALERTS} more"]
    lines += ["", "--", f"Notification {n.id} to {n.receiver}, sent {_human_time(n.at)}", f"Group key: {n.group_key}"]
    body = "\n".join(lines)
    encoded = body.encode()
    if len(encoded) > SNS_MAX_MESSAGE_BYTES:
        body = encoded[: SNS_MAX_MESSAGE_BYTES - 20].decode(errors="ignore") + "\n... (truncated)"
    return subject, body


# ---------------------------------------------------------------------------------------------------------------
# Alertmanager webhook (version 4)
# ---------------------------------------------------------------------------------------------------------------


def _annotations_dict(alert: NotificationAlert) -> dict[str, str]:
    return {k: v for k, v in alert.annotations.model_dump().items() if v}


def webhook_payload(n: Notification, max_alerts: int, external_url: str = "") -> dict[str, Any]:
    """The Alertmanager webhook JSON (version 4). `max_alerts` > 0 caps the alerts sent, the rest being counted
    in `truncatedAlerts` (0 sends all, as in Alertmanager).

    >>> from datetime import UTC, datetime
    >>> n = Notification(id="1", at=datetime(2026, 1, 1, tzinfo=UTC), receiver="hook", group_key="g",
    ...                  group_labels={}, status=AlertStatus.FIRING, alerts=[])
    >>> webhook_payload(n, 0)["version"]
    '4'
    """
    alerts = n.alerts[:max_alerts] if max_alerts > 0 else n.alerts
    return {
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": len(n.alerts) - len(alerts),
        "status": n.status.value,
        "receiver": n.receiver,
        "groupLabels": dict(n.group_labels),
        "commonLabels": common_labels(n.alerts),
        "commonAnnotations": common_annotations(n.alerts),
        "externalURL": external_url,
        "alerts": [
            {
                "status": a.status.value,
                "labels": dict(a.labels),
                "annotations": _annotations_dict(a),
                "startsAt": _rfc3339(a.starts_at),
                "endsAt": _rfc3339(a.ends_at) if a.ends_at is not None else ALERTMANAGER_ZERO_TIME,
                "generatorURL": a.annotations.dashboard_url,
                "fingerprint": a.fingerprint,
            }
            for a in alerts
        ],
    }
