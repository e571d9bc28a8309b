"""What the deploy preflight needs from the outside world, as ports.

Adapters (boto3): `safejob_ops.adapters.deploy_preflight` (`EcrImages`, `SsmParameters`, `CloudWatchAlarmStates`);
the ledger's port and adapter are in `safejob_ops.deploy.ledger` and `safejob_ops.adapters.deploy_ledger`; the deploy
lock is `safejob_ops.adapters.locks.DynamoLocks` (the `safejob_ops.migrate.ports.Locks` port), taken by the state
machine, not by preflight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

ScanStatus = Literal["COMPLETE", "IN_PROGRESS", "FAILED", "NOT_FOUND", "OTHER"]


class ScanFinding(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    severity: str


class ScanResult(BaseModel):
    """An image's scan: its status and its findings (every severity, as the registry reports them)."""

    model_config = ConfigDict(frozen=True)

    status: ScanStatus
    findings: tuple[ScanFinding, ...] = ()
    description: str = ""

    @property
    def critical(self) -> tuple[str, ...]:
        return tuple(sorted({finding.name for finding in self.findings if finding.severity.upper() == "CRITICAL"}))


class ImageRegistry(Protocol):
    def image_exists(self, registry: str | None, repository: str, digest: str) -> bool:
        """Whether the repository holds an image with this digest (a missing repository: False)."""
        ...

    def scan(self, registry: str | None, repository: str, digest: str) -> ScanResult:
        """The image's scan findings (status NOT_FOUND when the image or its scan does not exist)."""
        ...


class Parameters(Protocol):
    def get(self, name: str) -> str | None:
        """A parameter's value, or None when it does not exist."""
        ...


class AlarmStates(Protocol):
    def states(self, names: Sequence[str]) -> Mapping[str, str]:
        """The state of each named alarm that exists (OK, ALARM, INSUFFICIENT_DATA); missing ones are absent."""
        ...
