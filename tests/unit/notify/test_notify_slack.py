"""Slack Block Kit messages: content, links, graph, truncation and escaping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from safejob_ops.alerting.models import AlertStatus, Notification, NotificationAlert
from safejob_ops.alerting.notify.payloads import slack_message

AlertFactory = Callable[..., NotificationAlert]
NotificationFactory = Callable[..., Notification]
BlockKitCheck = Callable[[dict[str, Any]], list[str]]


def _blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in message["blocks"] if b["type"] == kind]


def test_firing_alert_has_header_summary_labels_and_links(
        alert: AlertFactory, notification: NotificationFactory, check_block_kit: BlockKitCheck) -> None:
    # GIVEN one critical alert firing
    n = notification([alert()])

    # WHEN the Slack message is built
    message = slack_message(n, None, "#ops")

    # THEN it is valid Block Kit, with the status, severity and name in the header
    assert check_block_kit(message) == []
    header = message["blocks"][0]
    assert header["type"] == "header"
    assert header["text"]["text"] == ":rotating_light: [FIRING:1] CRITICAL · HighErrorRate"
    # AND the summary, the labels as fields, and the counts
    assert "5xx rate above 5%" in message["blocks"][1]["text"]["text"]
    fields = [f["text"] for f in _blocks(message, "section")[1]["fields"]]
    assert fields == ["*service*\napi", "*environment*\nproduction", "*severity*\ncritical", "*team*\nplatform",
                      "*region*\neu-west-1", "*account*\n123456789012"]
    counts = _blocks(message, "context")[0]["elements"][0]["text"]
    assert counts == "*1* firing · *0* resolved"
    # AND runbook and dashboard buttons
    buttons = {b["action_id"]: b["url"] for b in _blocks(message, "actions")[0]["elements"]}
    assert buttons == {"runbook": "https://runbooks.example/high-error-rate",
                       "dashboard": "https://console.aws.amazon.com/cloudwatch/home#dashboards:name=api"}
    # AND a fallback text and the channel, but no image without a graph
    assert message["text"].startswith("[FIRING:1] CRITICAL HighErrorRate: 5xx rate above 5%")
    assert message["channel"] == "#ops"
    assert _blocks(message, "image") == []


def test_graph_url_adds_an_image_block(alert: AlertFactory, notification: NotificationFactory,
                                       check_block_kit: BlockKitCheck) -> None:
    # GIVEN a graph URL
    url = "https://graphs.s3.amazonaws.com/graphs/abc.png?X-Amz-Signature=1"

    # WHEN the message is built with it
    message = slack_message(notification([alert()]), url, None)

    # THEN there is one image block showing it
    assert check_block_kit(message) == []
    images = _blocks(message, "image")
    assert [i["image_url"] for i in images] == [url]
    assert images[0]["alt_text"] == "graph of HighErrorRate"


def test_resolved_notification_says_so(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a notification whose only alert resolved
    n = notification([alert(status=AlertStatus.RESOLVED)])

    # WHEN the message is built
    message = slack_message(n, None, None)

    # THEN the header and counts say resolved, and no channel is forced
    assert message["blocks"][0]["text"]["text"].startswith(":white_check_mark: [RESOLVED]")
    assert _blocks(message, "context")[0]["elements"][0]["text"] == "*0* firing · *1* resolved"
    assert "channel" not in message


def test_many_alerts_list_ten_then_and_n_more(alert: AlertFactory, notification: NotificationFactory,
                                              check_block_kit: BlockKitCheck) -> None:
    # GIVEN 20 firing and 5 resolved alerts, resolved ones first
    alerts = [alert(service=f"svc{i}", status=AlertStatus.RESOLVED) for i in range(5)]
    alerts += [alert(service=f"svc{i}") for i in range(5, 25)]

    # WHEN the message is built
    message = slack_message(notification(alerts), None, None)

    # THEN ten alerts are listed, firing first, and the rest are counted
    assert check_block_kit(message) == []
    divider = next(i for i, b in enumerate(message["blocks"]) if b["type"] == "divider")
    listed = message["blocks"][divider + 1: divider + 11]
    assert all("*FIRING* HighErrorRate" in b["text"]["text"] for b in listed)
    assert message["blocks"][-1]["elements"][0]["text"] == "and 15 more"
    assert message["blocks"][0]["text"]["text"].startswith(":rotating_light: [FIRING:20]")


def test_fields_show_only_common_labels(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN two alerts of two services
    message = slack_message(notification([alert(service="api"), alert(service="worker")]), None, None)

    # THEN the service, which differs, is not a field, while the common labels are
    fields = [f["text"].split("\n")[0] for f in _blocks(message, "section")[1]["fields"]]
    assert "*service*" not in fields
    assert "*environment*" in fields


def test_long_texts_are_truncated_within_slack_limits(alert: AlertFactory, notification: NotificationFactory,
                                                      check_block_kit: BlockKitCheck) -> None:
    # GIVEN an alert whose name, summary, description and labels are far beyond Slack's limits
    huge = alert("A" * 500, summary="S&" * 4000, description="D" * 9000, team="T<" * 3000)

    # WHEN the message is built
    message = slack_message(notification([huge]), None, None)

    # THEN every text is within its limit, and cut texts end with an ellipsis
    assert check_block_kit(message) == []
    assert len(message["blocks"][0]["text"]["text"]) == 150
    assert message["blocks"][1]["text"]["text"].endswith("…")
    assert len(message["text"]) <= 3000


def test_mrkdwn_is_escaped_so_that_nobody_is_pinged(alert: AlertFactory, notification: NotificationFactory,
                                                    check_block_kit: BlockKitCheck) -> None:
    # GIVEN a summary that tries to mention the whole channel
    n = notification([alert(summary="<!channel> disk < 5% & falling", service="<@U123>")])

    # WHEN the message is built
    message = slack_message(n, None, None)

    # THEN the control characters are escaped everywhere in mrkdwn
    assert check_block_kit(message) == []
    assert "&lt;!channel&gt; disk &lt; 5% &amp; falling" in message["blocks"][1]["text"]["text"]
    assert "<!channel>" not in str(message["blocks"])


def test_links_that_are_not_http_are_dropped(alert: AlertFactory, notification: NotificationFactory) -> None:
    # GIVEN a runbook that is not a web link and no dashboard
    n = notification([alert(runbook_url="javascript:alert(1)", dashboard_url="")])

    # WHEN the message is built, THEN it has no buttons at all
    assert _blocks(slack_message(n, None, None), "actions") == []


def test_no_alerts_still_gives_a_valid_message(notification: NotificationFactory,
                                               check_block_kit: BlockKitCheck) -> None:
    # GIVEN an empty notification (nothing to list)
    message = slack_message(notification([], group_labels={}), None, None)

    # THEN the message is still valid, with a generic title
    assert check_block_kit(message) == []
    assert message["blocks"][0]["text"]["text"].endswith("· alerts")
