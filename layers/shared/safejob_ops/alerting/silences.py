"""Silences and maintenance windows: time-boxed matchers that keep firing alerts out of notifications."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from safejob_ops.alerting.config import MatcherText
from safejob_ops.alerting.matchers import Matcher
from safejob_ops.alerting.models import Alert, AlertStatus


class MaintenanceWindowError(ValueError):
    """A maintenance window that may not be opened (too long, or not positive)."""


class Silence(BaseModel):
    """A silence: while active (starts_at <= now < ends_at), firing alerts whose labels match every matcher are
    left out of notifications. `expire_on_resolve` ends it as soon as a matching alert resolves.

    >>> from datetime import UTC
    >>> s = Silence(id="s1", matchers=['service="api"'], starts_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...             ends_at=datetime(2026, 1, 1, 1, tzinfo=UTC))
    >>> s.matches({"service": "api"}), s.is_active(datetime(2026, 1, 1, 0, 30, tzinfo=UTC))
    (True, True)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    matchers: list[MatcherText] = Field(min_length=1)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: str = ""
    comment: str = ""
    expire_on_resolve: bool = False
    kind: Literal["silence", "maintenance"] = "silence"

    _parsed: tuple[Matcher, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _check(self) -> Silence:
        if self.ends_at < self.starts_at:
            raise ValueError("ends_at is before starts_at; fix: give an end after the start")
        parsed = tuple(Matcher.parse(m) for m in self.matchers)
        if all(m.matches({}) for m in parsed):
            # As Alertmanager: a silence that also matches an empty label set would silence everything.
            raise ValueError("the matchers would silence every alert; fix: add a matcher that needs a label value")
        self._parsed = parsed
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self._parsed)

    def is_active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def expire(self, now: datetime) -> Silence:
        """This silence ended at `now` (unchanged if it had already ended)."""
        if self.ends_at <= now:
            return self
        return self.model_copy(update={"ends_at": now, "starts_at": min(self.starts_at, now)})


def active_silences(silences: Iterable[Silence], now: datetime) -> list[Silence]:
    """The silences in force at `now`.

    >>> from datetime import UTC
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> w = maintenance_window("api", "deploy", now, timedelta(minutes=30), timedelta(hours=2))
    >>> len(active_silences([w], now)), len(active_silences([w], now + timedelta(hours=1)))
    (1, 0)
    """
    return [s for s in silences if s.is_active(now)]


def silenced_by(labels: Mapping[str, str], silences: Iterable[Silence], now: datetime) -> Silence | None:
    """The first active silence matching these labels, if any.

    >>> from datetime import UTC
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> w = maintenance_window("api", "deploy", now, timedelta(minutes=30), timedelta(hours=2))
    >>> silenced_by({"service": "api"}, [w], now) is w, silenced_by({"service": "db"}, [w], now)
    (True, None)
    """
    for s in silences:
        if s.is_active(now) and s.matches(labels):
            return s
    return None


def to_expire_on_resolve(alert: Alert, silences: Iterable[Silence], now: datetime) -> list[Silence]:
    """The expire-on-resolve silences (active or pending) that a resolved alert ends; [] for a firing alert.

    >>> from datetime import UTC
    >>> from safejob_ops.alerting.models import Labels
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> s = Silence(id="s1", matchers=['alertname="Down"'], starts_at=now, ends_at=now + timedelta(hours=1),
    ...             expire_on_resolve=True)
    >>> ok = Alert(labels=Labels(alertname="Down"), status="resolved", starts_at=now, ends_at=now)
    >>> [x.id for x in to_expire_on_resolve(ok, [s], now)]
    ['s1']
    """
    if alert.status is not AlertStatus.RESOLVED:
        return []
    labels = alert.labels.as_dict()
    return [s for s in silences if s.expire_on_resolve and s.ends_at > now and s.matches(labels)]


def maintenance_window(
    service: str, opened_by: str, now: datetime, duration: timedelta, max_duration: timedelta
) -> Silence:
    """A maintenance window: a silence of kind "maintenance" on `service="<service>"` from now for `duration`.

    Raises MaintenanceWindowError when duration is not positive or longer than max_duration.

    >>> from datetime import UTC
    >>> w = maintenance_window("api", "deploy-42", datetime(2026, 1, 1, tzinfo=UTC), timedelta(minutes=30),
    ...                        timedelta(hours=2))
    >>> w.kind, w.matchers, w.ends_at.isoformat()
    ('maintenance', ['service="api"'], '2026-01-01T00:30:00+00:00')
    """
    if duration <= timedelta(0):
        raise MaintenanceWindowError(f"maintenance window duration must be positive, got {duration}")
    if duration > max_duration:
        raise MaintenanceWindowError(
            f"maintenance window of {duration} for {service!r} is longer than the maximum {max_duration}; "
            "fix: ask for a shorter window or raise maintenance.max_duration in the config"
        )
    digest = hashlib.sha256(f"{service}|{now.isoformat()}|{opened_by}".encode()).hexdigest()[:12]
    return Silence(
        id=f"maint-{digest}",
        matchers=[str(Matcher.parse(f"service={_quoted(service)}"))],
        starts_at=now,
        ends_at=now + duration,
        created_by=opened_by,
        comment=f"maintenance window for {service} opened by {opened_by}",
        kind="maintenance",
    )


def silence_id(*parts: str) -> str:
    """A deterministic silence id from its defining parts (so a retried create is idempotent).

    >>> silence_id("2026-01-01T00:00", 'service="api"') == silence_id("2026-01-01T00:00", 'service="api"')
    True
    """
    return "sil-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
