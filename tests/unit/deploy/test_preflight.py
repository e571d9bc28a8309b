"""Deploy preflight over in-memory fakes: every check runs and is reported, and any failure refuses the deploy."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from safejob_ops.deploy.config import DeployConfigError, load_deploy_config, parse_deploy_config
from safejob_ops.deploy.models import DeployRequest, parse_deploy_request
from safejob_ops.deploy.ports import ScanFinding, ScanResult
from safejob_ops.deploy.preflight import FreezeConfig, PreflightContext, run_preflight

ROOT = Path(__file__).resolve().parents[3]
DEPLOY_CONFIG = ROOT / "config" / "deploy.yaml"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
BACKEND_DIGEST = "sha256:" + "a" * 64
FRONTEND_DIGEST = "sha256:" + "b" * 64
GATE = "/safejob/production/cost-gate"
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday
ALARMS = {"backend": ("safejob-production-alb-5xx-rate", "safejob-production-backend-error-logs"),
          "frontend": ("safejob-production-alb-5xx-rate",)}
CHECKS = ["image:backend", "image:frontend", "scan:backend", "scan:frontend", "cost_gate", "freeze",
          "alarms:backend", "alarms:frontend"]


@dataclass
class FakeRegistry:
    images: set[tuple[str, str]] = field(default_factory=lambda: {("safejob/backend", BACKEND_DIGEST),
                                                                   ("safejob/frontend", FRONTEND_DIGEST)})
    scans: dict[str, ScanResult] = field(default_factory=dict)
    seen_registries: list[str | None] = field(default_factory=list)

    def image_exists(self, registry: str | None, repository: str, digest: str) -> bool:
        self.seen_registries.append(registry)
        return (repository, digest) in self.images

    def scan(self, registry: str | None, repository: str, digest: str) -> ScanResult:
        if (repository, digest) not in self.images:
            return ScanResult(status="NOT_FOUND", description="no such image")
        return self.scans.get(repository, ScanResult(status="COMPLETE"))


@dataclass
class FakeParameters:
    values: dict[str, str] = field(default_factory=dict)
    broken: bool = False

    def get(self, name: str) -> str | None:
        if self.broken:
            raise ConnectionError("SSM unreachable")
        return self.values.get(name)


@dataclass
class FakeAlarms:
    states_by_name: dict[str, str] = field(default_factory=lambda: {n: "OK" for names in ALARMS.values()
                                                                     for n in names})

    def states(self, names: Sequence[str]) -> Mapping[str, str]:
        return {name: self.states_by_name[name] for name in names if name in self.states_by_name}


def request(**changes: Any) -> DeployRequest:
    body: dict[str, Any] = {
        "environment": "production", "services": ["backend", "frontend"],
        "images": {"backend": f"{REGISTRY}/safejob/backend@{BACKEND_DIGEST}",
                   "frontend": f"{REGISTRY}/safejob/frontend@{FRONTEND_DIGEST}"},
        "git_sha": "abcdef0", "strategy": {"type": "canary", "steps": [10, 50, 100], "bake_seconds": 60},
        "approval_required": True, "requested_by": "alice",
    }
    body.update(changes)
    return parse_deploy_request(body)


def context(freeze: dict[str, Any] | None = None, now: datetime = NOW) -> PreflightContext:
    return PreflightContext(now=now, cost_gate_parameter=GATE, freeze=FreezeConfig.model_validate(freeze or {}),
                            alarm_names=ALARMS)


def run(req: DeployRequest | None = None, ctx: PreflightContext | None = None, registry: FakeRegistry | None = None,
        parameters: FakeParameters | None = None, alarms: FakeAlarms | None = None) -> dict[str, tuple[bool, str]]:
    report = run_preflight(req or request(), ctx or context(), registry=registry or FakeRegistry(),
                           parameters=parameters or FakeParameters(), alarms=alarms or FakeAlarms())
    checks = {c.name: (c.passed, c.detail) for c in report.checks}
    assert [c.name for c in report.checks] == CHECKS  # every check, always, in order
    assert report.passed == all(passed for passed, _ in checks.values())
    return checks


def failed(checks: dict[str, tuple[bool, str]]) -> dict[str, str]:
    return {name: detail for name, (passed, detail) in checks.items() if not passed}


def critical(*names: str) -> ScanResult:
    return ScanResult(status="COMPLETE", findings=tuple(ScanFinding(name=n, severity="CRITICAL") for n in names))


def test_everything_in_order_passes() -> None:
    # GIVEN both images pushed and scanned clean, the gate unset, no freeze, alarms OK / WHEN preflight runs
    registry = FakeRegistry()
    checks = run(registry=registry)
    # THEN it passes, and the ECR registry host reached the port
    assert failed(checks) == {}
    assert checks["cost_gate"] == (True, f"{GATE} is not set: open")
    assert set(registry.seen_registries) == {REGISTRY}


def test_an_unknown_digest_fails_its_image_and_scan_checks_and_the_rest_still_run() -> None:
    registry = FakeRegistry(images={("safejob/frontend", FRONTEND_DIGEST)})
    found = failed(run(registry=registry, parameters=FakeParameters({GATE: "closed"})))
    assert set(found) == {"image:backend", "scan:backend", "cost_gate"}
    assert "is not in the registry; fix: push the image" in found["image:backend"]
    assert "NOT_FOUND" in found["scan:backend"]


def test_a_critical_finding_refuses() -> None:
    registry = FakeRegistry(scans={"safejob/backend": critical("CVE-2026-0001", "CVE-2026-0002")})
    found = failed(run(registry=registry))
    assert list(found) == ["scan:backend"]
    assert found["scan:backend"].startswith("CRITICAL finding(s): CVE-2026-0001, CVE-2026-0002; fix:")


def test_high_findings_do_not_refuse() -> None:
    scan = ScanResult(status="COMPLETE", findings=(ScanFinding(name="CVE-2026-0003", severity="HIGH"),))
    assert failed(run(registry=FakeRegistry(scans={"safejob/backend": scan}))) == {}


def test_an_override_with_a_reason_lets_its_finding_through_and_is_recorded() -> None:
    # GIVEN one CRITICAL finding, overridden with a reason
    override = {"finding": "CVE-2026-0001", "reason": "the vulnerable code path is not reachable from our app"}
    req = request(scan_override=override)
    registry = FakeRegistry(scans={"safejob/backend": critical("CVE-2026-0001")})
    # WHEN preflight runs
    report = run_preflight(req, context(), registry=registry, parameters=FakeParameters(), alarms=FakeAlarms())
    # THEN the scan check passes, says who overrode what and why, and the report carries the override
    assert report.passed
    scan = next(c for c in report.checks if c.name == "scan:backend")
    assert scan.detail == f"CRITICAL CVE-2026-0001 overridden by alice: {override['reason']}"
    assert report.scan_override is not None
    assert report.scan_override.finding == "CVE-2026-0001"


def test_an_override_covers_only_its_own_finding() -> None:
    override = {"finding": "CVE-2026-0001", "reason": "the vulnerable code path is not reachable from our app"}
    registry = FakeRegistry(scans={"safejob/backend": critical("CVE-2026-0001", "CVE-2026-0009")})
    found = failed(run(request(scan_override=override), registry=registry))
    assert found["scan:backend"].startswith("CRITICAL finding(s): CVE-2026-0009;")


@pytest.mark.parametrize("status", ["IN_PROGRESS", "FAILED"])
def test_an_incomplete_scan_refuses(status: str) -> None:
    registry = FakeRegistry(scans={"safejob/frontend": ScanResult(status=status)})
    found = failed(run(registry=registry))
    assert list(found) == ["scan:frontend"]
    assert f"is {status}; fix: wait for the scan" in found["scan:frontend"]


@pytest.mark.parametrize(("value", "passed"), [(None, True), ("open", True), (" OPEN\n", True), ("closed", False),
                                                ("maybe", False)])
def test_the_cost_gate(value: str | None, passed: bool) -> None:
    parameters = FakeParameters({} if value is None else {GATE: value})
    assert run(parameters=parameters)["cost_gate"][0] is passed


def test_a_gate_that_cannot_be_read_fails_closed_and_names_the_error() -> None:
    found = failed(run(parameters=FakeParameters(broken=True)))
    assert found == {"cost_gate": "could not check: ConnectionError: SSM unreachable"}


def test_alarms_in_alarm_or_missing_refuse_and_insufficient_data_does_not() -> None:
    alarms = FakeAlarms({"safejob-production-alb-5xx-rate": "INSUFFICIENT_DATA",
                         "safejob-production-backend-error-logs": "ALARM"})
    found = failed(run(alarms=alarms))
    assert list(found) == ["alarms:backend"]
    assert found["alarms:backend"].startswith("in ALARM: safejob-production-backend-error-logs;")
    missing = failed(run(alarms=FakeAlarms({"safejob-production-alb-5xx-rate": "OK"})))
    assert "not found: safejob-production-backend-error-logs" in missing["alarms:backend"]


# --- freeze windows ------------------------------------------------------------------------------------------------

YEAR_END = {"reason": "year-end", "timezone": "Europe/Paris", "start": "2026-12-21T00:00", "end": "2027-01-04T09:00"}
FRIDAY_EVENING = {"reason": "no Friday-evening releases", "timezone": "Europe/Paris",
                  "weekly": {"days": ["fri"], "start": "16:00", "end": "09:00"}}


@pytest.mark.parametrize(("now", "frozen"), [
    (datetime(2026, 12, 20, 22, 59, tzinfo=UTC), False),  # 23:59 in Paris, the day before
    (datetime(2026, 12, 20, 23, 0, tzinfo=UTC), True),    # midnight in Paris: the window opens
    (datetime(2027, 1, 4, 7, 59, tzinfo=UTC), True),
    (datetime(2027, 1, 4, 8, 0, tzinfo=UTC), False),      # 09:00 in Paris: it has ended
])
def test_a_one_off_window_is_read_in_its_timezone(now: datetime, frozen: bool) -> None:
    found = failed(run(ctx=context({"windows": [YEAR_END]}, now=now)))
    assert ("freeze" in found) is frozen
    if frozen:
        assert found["freeze"].startswith("a change freeze is in force for production: year-end (2026-12-21T00:00")


@pytest.mark.parametrize(("now", "frozen"), [
    (datetime(2026, 3, 6, 14, 59, tzinfo=UTC), False),  # Friday 15:59 in Paris (UTC+1)
    (datetime(2026, 3, 6, 15, 0, tzinfo=UTC), True),    # Friday 16:00
    (datetime(2026, 3, 7, 7, 59, tzinfo=UTC), True),    # Saturday 08:59: still Friday's window
    (datetime(2026, 3, 7, 8, 0, tzinfo=UTC), False),    # Saturday 09:00
    (datetime(2026, 3, 5, 16, 0, tzinfo=UTC), False),   # Thursday 17:00
])
def test_a_weekly_window_runs_past_midnight(now: datetime, frozen: bool) -> None:
    assert ("freeze" in failed(run(ctx=context({"windows": [FRIDAY_EVENING]}, now=now)))) is frozen


def test_a_window_applies_only_to_its_environments() -> None:
    # GIVEN a production-only freeze in force / WHEN staging deploys / THEN it is not frozen
    ctx = context({"windows": [YEAR_END]}, now=datetime(2026, 12, 24, tzinfo=UTC))
    staging = request(environment="staging")
    assert "freeze" not in failed(run(staging, ctx=ctx))
    assert "freeze" in failed(run(request(), ctx=ctx))


# --- the config file -----------------------------------------------------------------------------------------------


def test_the_shipped_config_validates_with_no_freeze() -> None:
    config = load_deploy_config(DEPLOY_CONFIG)
    assert config.freeze.windows == ()
    assert "safejob-{environment}-backend-error-logs" in config.canary.services["backend"].alarms


def test_the_commented_freeze_example_is_valid() -> None:
    # GIVEN the example under `freeze:` in config/deploy.yaml, uncommented
    text = DEPLOY_CONFIG.read_text(encoding="utf-8")
    block = text[text.index("# ends the next day"):text.index("\nfreeze:")]
    example = "\n".join(re.sub(r"^# ?", "", line) for line in block.splitlines()[1:] if line.startswith("#   "))
    # WHEN validated / THEN both windows load
    config = parse_deploy_config({"freeze": yaml.safe_load(example)})
    assert [w.reason for w in config.freeze.windows] == ["year-end freeze", "no Friday-evening releases"]


@pytest.mark.parametrize(("window", "path", "message"), [
    ({**YEAR_END, "timezone": "Mars/Olympus"}, "freeze.windows[0].timezone", "unknown timezone 'Mars/Olympus'"),
    ({**YEAR_END, "end": "2026-12-01T00:00"}, "freeze.windows[0]", "must be after start"),
    ({**YEAR_END, "weekly": FRIDAY_EVENING["weekly"]}, "freeze.windows[0]", "either start and end"),
    ({"reason": "x", "start": "2026-12-01T00:00"}, "freeze.windows[0]", "needs both start and end"),
    ({**FRIDAY_EVENING, "weekly": {"days": ["friday"], "start": "16:00", "end": "09:00"}},
     "freeze.windows[0].weekly.days[0]", "must be one of"),
    ({**YEAR_END, "colour": "red"}, "freeze.windows[0].colour", "unknown field"),
])
def test_an_invalid_freeze_window_is_named_by_path(tmp_path: Path, window: dict[str, Any], path: str,
                                                    message: str) -> None:
    config = tmp_path / "deploy.yaml"
    config.write_text(yaml.safe_dump({"freeze": {"windows": [window]}}))
    with pytest.raises(DeployConfigError) as caught:
        load_deploy_config(config)
    found = dict(caught.value.problems)
    assert message in found[path], found


def test_canary_problems_are_reported_with_freeze_problems(tmp_path: Path) -> None:
    config = tmp_path / "deploy.yaml"
    config.write_text("canary: {defaults: {min_requests: 0}}\nfreeze: {windows: [{reason: ''}]}\nextra: 1\n")
    with pytest.raises(DeployConfigError) as caught:
        load_deploy_config(config)
    paths = [path for path, _ in caught.value.problems]
    assert "canary.defaults.min_requests" in paths
    assert "extra" in paths
    assert any(path.startswith("freeze.windows[0]") for path in paths)
    assert str(caught.value).startswith(f"invalid {config}")


@pytest.mark.parametrize(("body", "message"), [("[1, 2]", "expected a mapping"), ("a: [", "not valid YAML")])
def test_an_unreadable_config_is_reported(tmp_path: Path, body: str, message: str) -> None:
    config = tmp_path / "deploy.yaml"
    config.write_text(body)
    with pytest.raises(DeployConfigError, match=message):
        load_deploy_config(config)
    with pytest.raises(DeployConfigError, match="cannot read"):
        load_deploy_config(tmp_path / "missing.yaml")
