"""The canary section of config/deploy.yaml: defaults, per-service overrides, alarm name placeholders, and errors
that name the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from canary_support import DEPLOY_CONFIG, ROOT

from safejob_ops.deploy.canary import (
    CanaryConfig,
    CanaryConfigError,
    CanaryPolicy,
    OnInsufficientData,
    load_canary_config,
    parse_canary_config,
)


def problems(section: Any) -> list[tuple[str, str]]:
    with pytest.raises(CanaryConfigError) as caught:
        parse_canary_config(section)
    return caught.value.problems


def test_the_built_in_defaults() -> None:
    policy = CanaryConfig().policy_for()
    assert policy == CanaryPolicy(
        min_requests=100, max_extensions=3, on_insufficient_data=OnInsufficientData.ROLLBACK, significance=0.01,
        max_error_rate=0.01, max_error_rate_increase=0.001, max_error_rate_ratio=2.0, max_p95_latency_ms=2000,
        max_p95_latency_ratio=1.5, p95_latency_noise_floor_ms=100, alarms=())


def test_deploy_yaml_parses_and_resolves_every_service() -> None:
    # GIVEN the versioned config / WHEN loaded / THEN every service resolves, with its own alarms and the defaults
    config = load_canary_config(DEPLOY_CONFIG)
    assert sorted(config.services) == ["backend", "frontend"]
    backend = config.policy_for("backend", "production")
    frontend = config.policy_for("frontend", "production")
    assert backend.max_p95_latency_ms == 2000
    assert frontend.max_p95_latency_ms == 500
    assert frontend.min_requests == backend.min_requests == config.defaults.min_requests
    assert "safejob-production-backend-error-logs" in backend.alarms
    assert all(name.startswith("safejob-production-") for name in backend.alarms + frontend.alarms)


def test_every_alarm_in_deploy_yaml_exists_in_the_observability_stack() -> None:
    # GIVEN the alarm names the observability stack creates (AlarmName: !Sub safejob-${EnvironmentName}-...)
    stack = (ROOT / "stacks" / "observability.yaml").read_text()
    created = {m.replace("${EnvironmentName}", "{environment}")
               for m in re.findall(r"AlarmName: !Sub (\S+)", stack)}
    # WHEN the deploy config names alarms / THEN each one exists, or a rollback would follow "not found"
    config = load_canary_config(DEPLOY_CONFIG)
    named = set(config.defaults.alarms).union(*(p.alarms for p in config.services.values()))
    assert named
    assert named <= created, named - created


def test_a_service_overrides_only_what_it_sets() -> None:
    config = parse_canary_config({
        "defaults": {"min_requests": 300, "alarms": ["a", "b"], "significance": 0.01},
        "services": {"api": {"min_requests": 50}, "web": {"alarms": ["c"]}, "worker": None},
    })
    api, web, worker = (config.policy_for(s) for s in ("api", "web", "worker"))
    assert (api.min_requests, api.alarms, api.significance) == (50, ("a", "b"), 0.01)
    assert (web.min_requests, web.alarms) == (300, ("c",))  # a list is replaced whole
    assert worker == config.defaults


def test_placeholders_are_filled_from_service_and_environment() -> None:
    config = parse_canary_config({"defaults": {"alarms": ["safejob-{environment}-{service}-5xx", "global"]},
                                  "services": {"api": {}}})
    assert config.policy_for("api", "staging").alarms == ("safejob-staging-api-5xx", "global")
    with pytest.raises(CanaryConfigError, match=r"'safejob-\{environment\}-\{service\}-5xx' uses \{service\}"):
        config.policy_for(None, "staging")
    with pytest.raises(CanaryConfigError, match="--environment in the CLI"):
        config.policy_for("api")


def test_an_unknown_service_is_an_error_that_lists_the_known_ones() -> None:
    with pytest.raises(CanaryConfigError, match="unknown service 'api'; known: none"):
        CanaryConfig().policy_for("api")


INVALID: list[tuple[str, Any, tuple[str, str]]] = [
    ("significance 0", {"defaults": {"significance": 0}}, ("canary.defaults.significance", "must be > 0")),
    ("significance above 0.5", {"defaults": {"significance": 0.6}}, ("canary.defaults.significance", "must be <= 0.5")),
    ("negative extensions", {"defaults": {"max_extensions": -1}}, ("canary.defaults.max_extensions", "must be >= 0")),
    ("min_requests 0", {"services": {"api": {"min_requests": 0}}},
     ("canary.services.api.min_requests", "must be >= 1")),
    ("ratio below 1", {"defaults": {"max_error_rate_ratio": 0.5}}, ("canary.defaults.max_error_rate_ratio",
                                                                   "must be >= 1")),
    ("rate above 1", {"defaults": {"max_error_rate": 2}}, ("canary.defaults.max_error_rate", "must be <= 1")),
    ("a typo", {"defaults": {"min_request": 5}}, ("canary.defaults.min_request", "unknown field")),
    ("an unknown section", {"default": {}}, ("canary.default", "unknown field")),
    ("fail-safe", {"defaults": {"on_insufficient_data": "extend"}},
     ("canary.defaults.on_insufficient_data", "must be one of 'rollback' or 'promote'")),
    ("placeholder", {"defaults": {"alarms": ["x-{env}"]}},
     ("canary.defaults.alarms[0]", "unknown placeholder {env} in 'x-{env}'; fix: use {service} or {environment}")),
    ("brace", {"defaults": {"alarms": ["x-{environment"]}}, ("canary.defaults.alarms[0]", "unbalanced brace in "
                                                                                         "'x-{environment'")),
    ("empty alarm", {"defaults": {"alarms": [" "]}}, ("canary.defaults.alarms[0]", "an alarm name cannot be empty")),
    ("duplicate", {"defaults": {"alarms": ["a", "a"]}}, ("canary.defaults", "alarm listed twice: a")),
    ("a service that is not a mapping", {"services": {"api": [1]}}, ("canary.services.api", "must be an object")),
    ("NaN", {"defaults": {"max_p95_latency_ms": float("nan")}}, ("canary.defaults.max_p95_latency_ms",
                                                                 "must be a finite number")),
]


@pytest.mark.parametrize(("case", "section", "problem"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_values_are_reported_with_their_path(case: str, section: Any, problem: tuple[str, str]) -> None:
    assert problem in problems(section)


def test_invalid_defaults_are_reported_once_not_per_service() -> None:
    found = problems({"defaults": {"significance": 2}, "services": {"api": {}, "web": {"min_requests": 0}}})
    assert found == [("canary.defaults.significance", "must be <= 0.5"),
                     ("canary.services.web.min_requests", "must be >= 1")]


def test_all_problems_come_at_once_in_the_message() -> None:
    with pytest.raises(CanaryConfigError) as caught:
        parse_canary_config({"defaults": {"significance": 0, "min_requests": 0}}, source="deploy.yaml")
    assert str(caught.value) == ("invalid deploy.yaml (2 problems):\n  canary.defaults.min_requests: must be >= 1\n"
                                 "  canary.defaults.significance: must be > 0")


@pytest.mark.parametrize(
    ("text", "message"),
    [("- a\n- b\n", "expected a mapping at the top level, got list"), ("canary: [1]\n", "canary: must be a mapping"),
     ("canary: {defaults: [}\n", "not valid YAML")],
)
def test_load_reports_a_malformed_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(text)
    with pytest.raises(CanaryConfigError, match=re.escape(message)):
        load_canary_config(path)


def test_load_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CanaryConfigError, match=r"cannot read .*: No such file"):
        load_canary_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text", ["", "other: {}\n", "canary:\n", "canary:\n  defaults:\n  services:\n"])
def test_a_file_without_a_canary_section_gets_the_defaults(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(text)
    assert load_canary_config(path) == CanaryConfig()


def test_the_config_round_trips() -> None:
    config = load_canary_config(DEPLOY_CONFIG)
    dumped = yaml.safe_load(yaml.safe_dump(config.model_dump(mode="json")))
    assert parse_canary_config(dumped) == config
