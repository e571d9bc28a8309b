"""The deploy workflow's models: the execution input (`DeployRequest`), the preflight report, and the ledger record.

The execution input is strict: an unknown field, an image by tag, a canary that does not end at 100%, or an
all-at-once release to production are refused before any side effect, with an error that names the field and the fix.
docs/workflows/deploy.md shows an example.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import pairwise
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from safejob_ops.deploy.canary import CanaryConfigError, Verdict, validation_problems
from safejob_ops.migrate.models import DIGEST_FIX, Environment, check_image_reference

Service = Literal["backend", "frontend"]
ImageByDigest = Annotated[str, AfterValidator(check_image_reference)]
# all_at_once skips the canary: only where nobody but us is hurt by a bad release.
ALL_AT_ONCE_ENVIRONMENTS: frozenset[str] = frozenset({"local", "staging"})
Outcome = Literal["in_progress", "succeeded", "rolled_back", "failed", "refused"]
FINAL_OUTCOMES: frozenset[str] = frozenset({"succeeded", "rolled_back", "failed", "refused"})


class DeployInputError(CanaryConfigError):
    """An execution input that is not a valid `DeployRequest`; `problems` holds (field path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "deploy input") -> None:
        super().__init__(problems, source)


class CanaryStrategy(BaseModel):
    """Shift traffic to the new colour in `steps` (percentages), baking `bake_seconds` and analysing after each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["canary"]
    steps: tuple[Annotated[int, Field(ge=1, le=100)], ...] = Field(min_length=1)
    bake_seconds: int = Field(ge=0, le=6 * 3600)

    @field_validator("steps")
    @classmethod
    def _increasing_to_100(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        if any(later <= earlier for earlier, later in pairwise(steps)):
            raise ValueError(f"steps must be strictly increasing, got {list(steps)}; fix: e.g. [10, 50, 100]")
        if steps[-1] != 100:
            raise ValueError(f"the last step must be 100, got {list(steps)}; fix: end the list with 100")
        return steps


class AllAtOnceStrategy(BaseModel):
    """Move 100% of the traffic at once (staging and local only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["all_at_once"]


Strategy = Annotated[CanaryStrategy | AllAtOnceStrategy, Field(discriminator="type")]


class ScanOverride(BaseModel):
    """Deploy despite one CRITICAL scan finding; the reason is recorded in the ledger."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    finding: str = Field(pattern=r"^CVE-\d{4}-\d{4,}$", description="the finding's id, e.g. CVE-2026-12345")
    reason: str = Field(min_length=10, max_length=1000, description="why it is acceptable (recorded)")


class DeployRequest(BaseModel):
    """The deploy execution input (events/deploy/execution_*.json). Anything else is refused.

    >>> request = DeployRequest.model_validate({
    ...     "environment": "staging", "services": ["backend"],
    ...     "images": {"backend": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/safejob/backend@sha256:" + "a" * 64},
    ...     "git_sha": "0123abc", "strategy": {"type": "canary", "steps": [10, 50, 100], "bake_seconds": 120},
    ...     "approval_required": False, "requested_by": "alice"})
    >>> request.strategy.type
    'canary'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: Environment
    services: tuple[Service, ...] = Field(min_length=1, max_length=2)
    images: dict[Service, ImageByDigest] = Field(description="per service, the image: <repository>@sha256:<64 hex>")
    git_sha: str = Field(pattern=r"^[0-9a-f]{7,40}$")
    strategy: Strategy
    approval_required: bool
    requested_by: str = Field(min_length=1, max_length=256)
    scan_override: ScanOverride | None = None

    @field_validator("services")
    @classmethod
    def _unique_services(cls, services: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(services)) != len(services):
            raise ValueError(f"services must not repeat, got {list(services)}")
        return services

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if set(self.images) != set(self.services):
            raise ValueError(
                f"images must have exactly one entry per service: services {sorted(self.services)}, "
                f"images {sorted(self.images)}; fix: give each deployed service its image, and only those"
            )
        if self.strategy.type == "all_at_once" and self.environment not in ALL_AT_ONCE_ENVIRONMENTS:
            raise ValueError(
                f"strategy: all_at_once is not allowed in {self.environment} (only in "
                f"{', '.join(sorted(ALL_AT_ONCE_ENVIRONMENTS))}); fix: use "
                '{"type": "canary", "steps": [10, 50, 100], "bake_seconds": 120}'
            )
        return self

    @property
    def digests(self) -> dict[str, str]:
        """Per service, the bare digest (`sha256:...`)."""
        return {service: image.partition("@")[2] for service, image in self.images.items()}


def parse_deploy_request(data: Any) -> DeployRequest:
    """Validate an execution input; raises DeployInputError naming each field (`images.backend: a tag is ...`).

    >>> parse_deploy_request({"environment": "production"})
    Traceback (most recent call last):
    ...
    safejob_ops.deploy.models.DeployInputError: invalid deploy input (6 problems):
    ...
    """
    try:
        return DeployRequest.model_validate(data)
    except ValidationError as exc:
        raise DeployInputError(validation_problems(exc)) from None


def image_parts(image: str) -> tuple[str | None, str, str]:
    """(registry host or None, repository, digest) of an image by digest.

    >>> image_parts("123456789012.dkr.ecr.eu-west-1.amazonaws.com/safejob/backend@sha256:" + "b" * 8)[:2]
    ('123456789012.dkr.ecr.eu-west-1.amazonaws.com', 'safejob/backend')
    """
    name, _, digest = image.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest, digest
    return None, name, digest


# ------------------------------------------------------------------------------------------- preflight
class PreflightCheck(BaseModel):
    """One preflight check's result: e.g. `image:backend`, passed, and what was seen (or the fix)."""

    model_config = ConfigDict(frozen=True)

    name: str
    passed: bool
    detail: str


class PreflightReport(BaseModel):
    """Every preflight check, in order; the deploy is refused when any failed."""

    model_config = ConfigDict(frozen=True)

    checks: tuple[PreflightCheck, ...]
    scan_override: ScanOverride | None = Field(default=None, description="the override used, recorded as given")

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> tuple[PreflightCheck, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def summary(self) -> str:
        if self.passed:
            return f"preflight passed: all {len(self.checks)} checks"
        return "preflight refused: " + "; ".join(f"{check.name}: {check.detail}" for check in self.failures)


class PreflightRefusedError(RuntimeError):
    """Preflight failed: nothing was changed. The message lists each failed check and its fix."""

    def __init__(self, report: PreflightReport) -> None:
        super().__init__(report.summary())
        self.report = report


# ------------------------------------------------------------------------------------------- the ledger
def stamp(at: datetime) -> str:
    """A sortable, fixed-width UTC timestamp (string order is time order).

    >>> stamp(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    '2026-03-01T12:00:00.000000Z'
    """
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StepRecord(BaseModel):
    """One traffic step: the new colour's weight, the verdict of its analysis, and when it ran."""

    model_config = ConfigDict(frozen=True)

    weight: int = Field(ge=0, le=100, description="the new colour's share of the traffic, in percent")
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    verdict: Verdict | None = None
    extensions: int = Field(default=0, ge=0)
    reasons: tuple[str, ...] = ()


class ContainerExit(BaseModel):
    """How one container of a stopped task ended (exit code None: it never ran or was never reported)."""

    model_config = ConfigDict(frozen=True)

    name: str
    exit_code: int | None = None
    reason: str | None = None


class StoppedTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_arn: str
    reason: str
    last_log_lines: tuple[str, ...] = ()
    service: str | None = None
    stop_code: str | None = None
    containers: tuple[ContainerExit, ...] = ()


class RollbackDiagnostics(BaseModel):
    """What was captured when the deploy rolled back: why, stopped tasks, alarm states and metric summaries."""

    model_config = ConfigDict(frozen=True)

    reason: str
    failed_step: str | None = None
    stopped_tasks: tuple[StoppedTask, ...] = ()
    alarm_states: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float | None] = Field(default_factory=dict)
    notes: tuple[str, ...] = Field(default=(), description="what could not be captured, and why (best-effort)")


class DeployRecord(BaseModel):
    """One deploy in the ledger (pk = environment, sk = `<started_at>#<execution id>`)."""

    model_config = ConfigDict(frozen=True)

    environment: Environment
    execution_id: str = Field(min_length=1)
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    requested_by: str
    git_sha: str
    services: tuple[Service, ...]
    images: dict[Service, str]
    strategy: Strategy
    live_colour: Literal["blue", "green"] | None = None
    scan_override: ScanOverride | None = None
    preflight: tuple[PreflightCheck, ...] = ()
    migrations_applied: tuple[str, ...] = ()
    steps: tuple[StepRecord, ...] = ()
    outcome: Outcome = "in_progress"
    rollback: RollbackDiagnostics | None = None

    @property
    def sort_key(self) -> str:
        return f"{stamp(self.started_at)}#{self.execution_id}"

    @property
    def final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES

    @classmethod
    def started(cls, request: DeployRequest, execution_id: str, started_at: datetime,
                extra: Mapping[str, Any] | None = None) -> DeployRecord:
        """The first record of an execution, from its input.

        >>> DeployRecord.started(DeployRequest.model_validate({
        ...     "environment": "local", "services": ["frontend"], "images": {"frontend": "web@sha256:" + "c" * 64},
        ...     "git_sha": "abcdef0", "strategy": {"type": "all_at_once"}, "approval_required": False,
        ...     "requested_by": "ci"}), "exec-1", datetime(2026, 3, 1, tzinfo=UTC)).sort_key
        '2026-03-01T00:00:00.000000Z#exec-1'
        """
        return cls.model_validate({
            "environment": request.environment, "execution_id": execution_id, "started_at": started_at,
            "requested_by": request.requested_by, "git_sha": request.git_sha, "services": request.services,
            "images": request.images, "strategy": request.strategy, "scan_override": request.scan_override,
            **(extra or {}),
        })


__all__ = [
    "DIGEST_FIX",
    "AllAtOnceStrategy",
    "CanaryStrategy",
    "ContainerExit",
    "DeployInputError",
    "DeployRecord",
    "DeployRequest",
    "Environment",
    "PreflightCheck",
    "PreflightRefusedError",
    "PreflightReport",
    "RollbackDiagnostics",
    "ScanOverride",
    "Service",
    "StepRecord",
    "StoppedTask",
    "Strategy",
    "image_parts",
    "parse_deploy_request",
    "stamp",
]
