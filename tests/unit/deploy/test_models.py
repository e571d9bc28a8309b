"""The deploy execution input (DeployRequest), the ledger record, and every deploy module's docstring examples."""

from __future__ import annotations

import doctest
import importlib
from datetime import UTC, datetime
from typing import Any

import pytest

from safejob_ops.deploy.models import (
    CanaryStrategy,
    DeployInputError,
    DeployRecord,
    PreflightCheck,
    PreflightRefusedError,
    PreflightReport,
    RollbackDiagnostics,
    StepRecord,
    image_parts,
    parse_deploy_request,
)

BACKEND = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/safejob/backend@sha256:" + "a" * 64
FRONTEND = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/safejob/frontend@sha256:" + "b" * 64
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def valid(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "environment": "production",
        "services": ["backend", "frontend"],
        "images": {"backend": BACKEND, "frontend": FRONTEND},
        "git_sha": "0123456789abcdef0123456789abcdef01234567",
        "strategy": {"type": "canary", "steps": [10, 50, 100], "bake_seconds": 120},
        "approval_required": True,
        "requested_by": "alice@example.com",
    }
    body.update(changes)
    return body


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(DeployInputError) as caught:
        parse_deploy_request(data)
    return dict(caught.value.problems)


@pytest.mark.parametrize("name", ["safejob_ops.deploy.models", "safejob_ops.deploy.preflight",
                                  "safejob_ops.deploy.traffic", "safejob_ops.deploy.ledger",
                                  "safejob_ops.deploy.config", "safejob_ops.adapters.deploy_preflight"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


def test_a_valid_request_parses_with_its_digests() -> None:
    # GIVEN a production canary request for both services / WHEN parsed
    request = parse_deploy_request(valid())
    # THEN every field is kept, and the bare digests are at hand
    assert isinstance(request.strategy, CanaryStrategy)
    assert request.strategy.steps == (10, 50, 100)
    assert request.digests == {"backend": "sha256:" + "a" * 64, "frontend": "sha256:" + "b" * 64}
    assert request.scan_override is None


@pytest.mark.parametrize("image", ["safejob/backend:1.4.2", "safejob/backend:latest@sha256:" + "a" * 64,
                                   "safejob/backend", "safejob/backend@sha256:abc"])
def test_an_image_not_by_digest_is_refused_naming_the_field_and_the_fix(image: str) -> None:
    # GIVEN the backend image by tag (or with a broken digest) / WHEN parsed
    found = problems(valid(images={"backend": image, "frontend": FRONTEND}))
    # THEN the error names images.backend and says how to pass a digest
    assert list(found) == ["images.backend"]
    assert "<repository>@sha256:<64 hex digits>" in found["images.backend"]


def test_unknown_fields_are_refused() -> None:
    assert problems(valid(force=True)) == {"force": "unknown field"}


@pytest.mark.parametrize(("steps", "message"), [
    ([50, 10, 100], "strictly increasing"),
    ([10, 10, 100], "strictly increasing"),
    ([10, 50], "the last step must be 100"),
    ([0, 100], "must be >= 1"),
    ([10, 150], "must be <= 100"),
    ([], "at least 1"),
])
def test_canary_steps_increase_strictly_to_100(steps: list[int], message: str) -> None:
    # GIVEN a canary strategy with bad steps / WHEN parsed / THEN refused, with the reason
    found = problems(valid(strategy={"type": "canary", "steps": steps, "bake_seconds": 60}))
    assert any(path.startswith("strategy.canary.steps") and message in text for path, text in found.items()), found


def test_all_at_once_is_refused_in_production_with_the_fix() -> None:
    found = problems(valid(strategy={"type": "all_at_once"}))
    assert "strategy: all_at_once is not allowed in production" in found[""]
    assert '"type": "canary"' in found[""]


@pytest.mark.parametrize("environment", ["staging", "local"])
def test_all_at_once_is_allowed_in_staging_and_local(environment: str) -> None:
    request = parse_deploy_request(valid(environment=environment, strategy={"type": "all_at_once"}))
    assert request.strategy.type == "all_at_once"


def test_images_must_match_the_services() -> None:
    found = problems(valid(services=["backend"]))
    assert "exactly one entry per service" in found[""]


def test_services_are_known_and_unique() -> None:
    assert "services[0]" in problems(valid(services=["worker"], images={"backend": BACKEND}))
    assert "must not repeat" in problems(valid(services=["backend", "backend"], images={"backend": BACKEND}))[
        "services"]


def test_a_scan_override_needs_a_cve_and_a_reason() -> None:
    # GIVEN a well-formed override / WHEN parsed / THEN it is kept
    override = {"finding": "CVE-2026-12345", "reason": "not reachable: the vulnerable parser is never loaded"}
    assert parse_deploy_request(valid(scan_override=override)).scan_override is not None
    # AND a malformed one is refused field by field
    found = problems(valid(scan_override={"finding": "critical", "reason": "ok"}))
    assert set(found) == {"scan_override.finding", "scan_override.reason"}


def test_image_parts_split_registry_repository_and_digest() -> None:
    assert image_parts(BACKEND) == ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "safejob/backend",
                                    "sha256:" + "a" * 64)
    assert image_parts("safejob/backend@sha256:" + "c" * 64) == (None, "safejob/backend", "sha256:" + "c" * 64)
    assert image_parts("localhost:5000/app@sha256:" + "d" * 64)[:2] == ("localhost:5000", "app")


def test_a_record_round_trips_through_json_with_steps_and_rollback() -> None:
    # GIVEN a rolled-back deploy with a step verdict and diagnostics
    request = parse_deploy_request(valid())
    record = DeployRecord.started(request, "arn:aws:states:eu-west-1:1:execution:deploy:x", T0).model_copy(update={
        "outcome": "rolled_back",
        "migrations_applied": ("jobs.0042_add_index",),
        "steps": (StepRecord(weight=10, started_at=T0, ended_at=T0, verdict="rollback", reasons=("error_rate",)),),
        "rollback": RollbackDiagnostics(reason="analysis: rollback", alarm_states={"a": "ALARM"}, metrics={"p95": 1.0}),
    })
    # WHEN dumped to JSON and read back / THEN nothing is lost, and the record is final
    again = DeployRecord.model_validate_json(record.model_dump_json())
    assert again == record
    assert again.final
    assert again.sort_key == "2026-03-01T12:00:00.000000Z#arn:aws:states:eu-west-1:1:execution:deploy:x"


def test_a_refused_report_lists_each_failure() -> None:
    report = PreflightReport(checks=(PreflightCheck(name="image:backend", passed=True, detail="exists"),
                                     PreflightCheck(name="cost_gate", passed=False, detail="closed")))
    assert not report.passed
    assert str(PreflightRefusedError(report)) == "preflight refused: cost_gate: closed"

