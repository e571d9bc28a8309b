"""Silences and maintenance windows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerting_support import T0, make_alert
from pydantic import ValidationError

from safejob_ops.alerting.models import AlertStatus
from safejob_ops.alerting.silences import (
    MaintenanceWindowError,
    Silence,
    active_silences,
    maintenance_window,
    silence_id,
    silenced_by,
    to_expire_on_resolve,
)


def silence(
    *matchers: str,
    start: timedelta = timedelta(0),
    length: timedelta = timedelta(hours=1),
    expire_on_resolve: bool = False,
) -> Silence:
    return Silence(
        id=silence_id(*matchers, str(start)),
        matchers=list(matchers),
        starts_at=T0 + start,
        ends_at=T0 + start + length,
        created_by="test",
        comment="test",
        expire_on_resolve=expire_on_resolve,
    )


def test_a_silence_is_active_from_start_until_end_exclusive() -> None:
    s = silence('service="api"')
    assert not s.is_active(T0 - timedelta(seconds=1))
    assert s.is_active(T0)
    assert not s.is_active(T0 + timedelta(hours=1))
    assert active_silences([s, silence('service="db"', start=timedelta(hours=2))], T0) == [s]


def test_silenced_by_returns_the_first_active_matching_silence() -> None:
    api, db = silence('service="api"'), silence('service=~"db.*"', 'severity!="critical"')
    assert silenced_by({"service": "api"}, [db, api], T0) is api
    assert silenced_by({"service": "db", "severity": "warning"}, [db, api], T0) is db
    assert silenced_by({"service": "db", "severity": "critical"}, [db, api], T0) is None
    assert silenced_by({"service": "api"}, [api], T0 + timedelta(hours=2)) is None


def test_silence_matchers_are_parsed_at_validation() -> None:
    with pytest.raises(ValidationError, match="invalid matcher"):
        silence("service=~(")
    with pytest.raises(ValidationError, match="at least 1 item"):
        Silence(id="x", matchers=[], starts_at=T0, ends_at=T0)
    with pytest.raises(ValidationError, match="ends_at is before starts_at"):
        Silence(id="x", matchers=['a="b"'], starts_at=T0, ends_at=T0 - timedelta(seconds=1))


def test_a_silence_matching_everything_is_refused() -> None:
    with pytest.raises(ValidationError, match="would silence every alert"):
        silence('service=~".*"')
    with pytest.raises(ValidationError, match="would silence every alert"):
        silence('team=""')


def test_silences_round_trip_through_json() -> None:
    s = silence('service="api"', expire_on_resolve=True)
    again = Silence.model_validate_json(s.model_dump_json())
    assert again == s
    assert again.matches({"service": "api"})


def test_expire_ends_a_silence_now_and_only_once() -> None:
    s = silence('service="api"')
    later = T0 + timedelta(minutes=10)
    expired = s.expire(later)
    assert expired.ends_at == later
    assert not expired.is_active(later)
    assert expired.expire(later + timedelta(minutes=5)) is expired
    pending = silence('service="api"', start=timedelta(hours=1))
    assert pending.expire(T0).ends_at == pending.expire(T0).starts_at == T0


def test_expire_on_resolve_selects_matching_silences_for_a_resolved_alert() -> None:
    keep = silence('service="api"')
    ends = silence('alertname="HighErrorRate"', expire_on_resolve=True)
    other = silence('alertname="Other"', expire_on_resolve=True)
    resolved = make_alert(status=AlertStatus.RESOLVED)
    assert to_expire_on_resolve(resolved, [keep, ends, other], T0) == [ends]
    assert to_expire_on_resolve(make_alert(), [keep, ends, other], T0) == []  # firing: nothing
    assert to_expire_on_resolve(resolved, [ends], T0 + timedelta(hours=2)) == []  # already over


def test_maintenance_window_silences_one_service() -> None:
    window = maintenance_window("api", "deploy-42", T0, timedelta(minutes=30), timedelta(hours=2))
    assert window.kind == "maintenance"
    assert window.matchers == ['service="api"']
    assert (window.starts_at, window.ends_at) == (T0, T0 + timedelta(minutes=30))
    assert window.created_by == "deploy-42"
    assert silenced_by({"service": "api"}, [window], T0 + timedelta(minutes=29))
    assert not silenced_by({"service": "api-worker"}, [window], T0)
    # the id is deterministic: a retried open creates the same window
    assert maintenance_window("api", "deploy-42", T0, timedelta(minutes=30), timedelta(hours=2)).id == window.id


@pytest.mark.parametrize("duration", [timedelta(hours=3), timedelta(0), timedelta(minutes=-5)])
def test_maintenance_windows_are_bounded(duration: timedelta) -> None:
    with pytest.raises(MaintenanceWindowError):
        maintenance_window("api", "deploy", T0, duration, timedelta(hours=2))
