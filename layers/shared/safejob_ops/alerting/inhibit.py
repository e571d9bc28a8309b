"""Inhibition (Alertmanager inhibit_rules): a firing source alert mutes matching target alerts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from safejob_ops.alerting.config import InhibitRule
from safejob_ops.alerting.models import IDENTITY_LABELS, Alert, AlertStatus


def inhibited(alert_labels: Mapping[str, str], firing_alerts: Iterable[Alert], rules: Sequence[InhibitRule]) -> bool:
    """Whether some firing alert inhibits an alert with these labels.

    As Alertmanager: the target must match target_matchers, a firing source must match source_matchers and agree on
    every `equal` label (absent equals absent); an alert never inhibits itself, and when the target also matches
    source_matchers, sources that also match target_matchers are ignored (two alerts cannot mute each other).

    >>> from datetime import UTC, datetime
    >>> from safejob_ops.alerting.models import Labels
    >>> rule = InhibitRule(source_matchers=['severity="critical"'], target_matchers=['severity="warning"'],
    ...                    equal=["service"])
    >>> crit = Alert(labels=Labels(alertname="Down", service="api", severity="critical"),
    ...              starts_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> inhibited({"alertname": "Slow", "service": "api", "severity": "warning"}, [crit], [rule])
    True
    """
    return inhibited_by(alert_labels, firing_alerts, rules) is not None


def inhibited_by(
    alert_labels: Mapping[str, str], firing_alerts: Iterable[Alert], rules: Sequence[InhibitRule]
) -> Alert | None:
    """The firing alert that inhibits an alert with these labels, or None."""
    applicable = [r for r in rules if all(m.matches(alert_labels) for m in r.targets)]
    if not applicable:
        return None
    identity = tuple(alert_labels.get(k, "") for k in IDENTITY_LABELS)
    sources = [(a, a.labels.as_dict()) for a in firing_alerts if a.status is AlertStatus.FIRING]
    for rule in applicable:
        source_matchers, target_matchers = rule.sources, rule.targets
        two_sided = all(m.matches(alert_labels) for m in source_matchers)
        for alert, labels in sources:
            if tuple(labels.get(k, "") for k in IDENTITY_LABELS) == identity:
                continue
            if not all(m.matches(labels) for m in source_matchers):
                continue
            if any(labels.get(name, "") != alert_labels.get(name, "") for name in rule.equal):
                continue
            if two_sided and all(m.matches(labels) for m in target_matchers):
                continue
            return alert
    return None
