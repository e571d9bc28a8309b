"""Smoke tests through the test listener (safejob_ops.deploy.smoke), with a fake HTTP port, and their config."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from safejob_ops.deploy import smoke
from safejob_ops.deploy.config import DeployConfigError, load_deploy_config, parse_deploy_config
from safejob_ops.deploy.smoke import HEALTH_PATH, SmokeCheck, SmokeConfig, run_smoke_tests

ROOT = Path(__file__).resolve().parents[3]
BASE = "http://alb.internal:8080/"


class FakeHttp:
    """Answers per URL: a (status, body) pair, or an exception to raise; records every call."""

    def __init__(self, answers: dict[str, tuple[int, str] | Exception]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, float]] = []

    def get(self, url: str, timeout: float) -> tuple[int, str]:
        self.calls.append((url, timeout))
        answer = self.answers.get(url, (404, "not found"))
        if isinstance(answer, Exception):
            raise answer
        return answer


def config(checks: list[dict[str, object]], service: str = "backend") -> SmokeConfig:
    return SmokeConfig.model_validate({"services": {service: checks}})


def test_health_is_always_first_with_defaults() -> None:
    # GIVEN a config that lists only another path
    # WHEN its checks are listed
    checks = config([{"path": "/api/jobs/"}]).checks("backend")
    # THEN /health/ comes first with the defaults
    assert [check.path for check in checks] == [HEALTH_PATH, "/api/jobs/"]
    assert checks[0] == SmokeCheck(path=HEALTH_PATH, expected_status=200, timeout_seconds=5)


def test_a_listed_health_check_keeps_its_settings_and_is_not_repeated() -> None:
    checks = config([{"path": "/a/"}, {"path": HEALTH_PATH, "body_contains": "ok", "timeout_seconds": 2}]).checks(
        "backend")
    assert [check.path for check in checks] == [HEALTH_PATH, "/a/"]
    assert checks[0].body_contains == "ok"
    assert checks[0].timeout_seconds == 2


def test_a_service_without_config_still_checks_health() -> None:
    assert [check.path for check in SmokeConfig().checks("frontend")] == [HEALTH_PATH]


def test_all_checks_passing() -> None:
    # GIVEN a green service answering every check as expected
    http = FakeHttp({"http://alb.internal:8080/health/": (200, "ok"),
                     "http://alb.internal:8080/api/": (401, '{"detail": "login"}')})
    # WHEN the smoke tests run
    report = run_smoke_tests(BASE, "backend", config([{"path": "/api/", "expected_status": 401,
                                                       "body_contains": "login", "timeout_seconds": 1.5}]), http)
    # THEN each check passed, with its own timeout, and the report passed
    assert report.passed
    assert [(r.path, r.status, r.passed) for r in report.results] == [("/health/", 200, True), ("/api/", 401, True)]
    assert http.calls == [("http://alb.internal:8080/health/", 5), ("http://alb.internal:8080/api/", 1.5)]
    assert report.model_dump()["passed"] is True
    assert "passed" in report.summary()


def test_every_check_runs_and_each_failure_is_reported() -> None:
    # GIVEN health down by connection error, a wrong status and a body without the expected text
    http = FakeHttp({
        "http://alb.internal:8080/health/": ConnectionRefusedError(111, "Connection refused"),
        "http://alb.internal:8080/a/": (500, "boom"),
        "http://alb.internal:8080/b/": (200, "<html>maintenance</html>"),
        "http://alb.internal:8080/c/": (200, "fine"),
    })
    # WHEN the smoke tests run
    report = run_smoke_tests(BASE, "backend", config([{"path": "/a/"}, {"path": "/b/", "body_contains": "Jobs"},
                                                      {"path": "/c/"}]), http)
    # THEN no exception, all four ran, three failed with their reasons, and the report failed
    assert not report.passed
    assert len(http.calls) == 4
    health, a, b, c = report.results
    assert (health.status, health.passed) == (None, False)
    assert health.detail.startswith("ConnectionRefusedError")
    assert (a.passed, a.detail) == (False, "expected status 200, got 500")
    assert not b.passed
    assert "'Jobs'" in b.detail
    assert c.passed
    assert "/a/: expected status 200, got 500" in report.summary()


def test_a_timeout_is_a_failed_check() -> None:
    report = run_smoke_tests(BASE, "frontend", SmokeConfig(), FakeHttp({
        "http://alb.internal:8080/health/": TimeoutError("timed out")}))
    assert not report.passed
    assert report.results[0].detail == "TimeoutError: timed out"


@pytest.mark.parametrize("check", [
    {"path": "health/"}, {"path": "/x", "expected_status": 99}, {"path": "/x", "timeout_seconds": 0},
    {"path": "/x", "unknown": 1}, {"path": "/x", "body_contains": ""},
])
def test_invalid_checks_are_refused(check: dict[str, object]) -> None:
    with pytest.raises(DeployConfigError):
        parse_deploy_config({"smoke": {"services": {"backend": [check]}}})


def test_unknown_service_is_refused() -> None:
    with pytest.raises(DeployConfigError, match=r"smoke\.services"):
        parse_deploy_config({"smoke": {"services": {"worker": []}}})


def test_deploy_config_smoke_section_defaults_and_empty() -> None:
    assert parse_deploy_config({}).smoke == SmokeConfig()
    assert parse_deploy_config({"smoke": None}).smoke == SmokeConfig()
    assert parse_deploy_config({"smoke": {"services": {"backend": None}}}).smoke.checks("backend")[0].path == "/health/"


def test_the_repository_config_has_smoke_checks_for_both_services() -> None:
    loaded = load_deploy_config(ROOT / "config" / "deploy.yaml")
    assert set(loaded.smoke.services) == {"backend", "frontend"}
    assert loaded.freeze.windows == ()


def test_docstring_examples() -> None:
    result = doctest.testmod(smoke, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
