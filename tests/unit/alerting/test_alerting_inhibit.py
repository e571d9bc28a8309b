"""Inhibition: Alertmanager's inhibit_rules."""

from __future__ import annotations

from alerting_support import make_alert

from safejob_ops.alerting.config import InhibitRule
from safejob_ops.alerting.inhibit import inhibited, inhibited_by
from safejob_ops.alerting.models import AlertStatus

CRITICAL_OVER_WARNING = InhibitRule(
    source_matchers=['severity="critical"'], target_matchers=['severity="warning"'], equal=["alertname", "service"]
)


def labels(**values: str) -> dict[str, str]:
    return make_alert(**values).labels.as_dict()  # type: ignore[arg-type]


def test_a_firing_source_inhibits_a_matching_target_with_equal_labels() -> None:
    source = make_alert("Latency", service="api", severity="critical", region="us-east-1")
    target = labels(alertname="Latency", service="api", severity="warning")
    assert inhibited(target, [source], [CRITICAL_OVER_WARNING])
    assert inhibited_by(target, [source], [CRITICAL_OVER_WARNING]) is source


def test_equal_labels_must_agree() -> None:
    source = make_alert("Latency", service="db", severity="critical")
    assert not inhibited(
        labels(alertname="Latency", service="api", severity="warning"), [source], [CRITICAL_OVER_WARNING]
    )


def test_absent_equal_labels_count_as_equal() -> None:
    rule = InhibitRule(source_matchers=['alertname="Down"'], target_matchers=['severity="warning"'], equal=["zone"])
    assert inhibited(labels(alertname="Slow"), [make_alert("Down")], [rule])
    assert not inhibited(labels(alertname="Slow", zone="a"), [make_alert("Down")], [rule])


def test_resolved_sources_do_not_inhibit() -> None:
    source = make_alert("Latency", severity="critical", status=AlertStatus.RESOLVED, region="us-east-1")
    assert not inhibited(labels(alertname="Latency", severity="warning"), [source], [CRITICAL_OVER_WARNING])


def test_targets_must_match_the_target_matchers() -> None:
    source = make_alert("Latency", severity="critical", region="us-east-1")
    assert not inhibited(labels(alertname="Latency", severity="info"), [source], [CRITICAL_OVER_WARNING])
    assert not inhibited(labels(alertname="Latency", severity="warning"), [source], [])


def test_an_alert_never_inhibits_itself() -> None:
    rule = InhibitRule(source_matchers=['service="api"'], target_matchers=['service="api"'])
    alert = make_alert("Down", service="api")
    assert not inhibited(alert.labels.as_dict(), [alert], [rule])


def test_two_alerts_matching_both_sides_do_not_mute_each_other() -> None:
    # As Alertmanager: when the target also matches the source side, sources matching the target side are ignored
    rule = InhibitRule(source_matchers=['team="web"'], target_matchers=['team="web"'])
    a, b = make_alert("A", team="web"), make_alert("B", team="web")
    assert not inhibited(a.labels.as_dict(), [a, b], [rule])
    # a source that does not also match the target side still inhibits
    rule2 = InhibitRule(source_matchers=['team="web"'], target_matchers=['alertname="A"'])
    assert inhibited(a.labels.as_dict(), [a, b], [rule2])


def test_firing_alerts_may_be_a_generator() -> None:
    source = make_alert("Latency", severity="critical", region="us-east-1")
    target = labels(alertname="Latency", severity="warning")
    assert inhibited(target, (a for a in [source]), [CRITICAL_OVER_WARNING, CRITICAL_OVER_WARNING])
