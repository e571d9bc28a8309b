"""The deploy use cases (safejob_ops.deploy.service) over the in-memory twins (safejob_ops.deploy.memory): each task
of statemachines/deploy.asl.json, what it writes and what it refuses, and the rollback from any point.

(Not test_service.py: tests/unit/alarm_route_service has one, and pytest needs unique basenames here.)
"""

from __future__ import annotations

import doctest
import importlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import (
    ALARMS,
    CLUSTER,
    CONFIG,
    COST_GATE,
    EXECUTION,
    EXECUTION_NAME,
    FAILING,
    GIT_SHA,
    HEALTHY,
    IMAGES,
    LIVE_COUNTS,
    LIVE_IMAGES,
    LIVE_TASK_DEFINITIONS,
    NO_WRITES,
    OTHER_EXECUTION,
    RELEASE_TASK_DEFINITIONS,
    SETUP,
    T0,
    TASK_TOKEN,
    TEST_LISTENER_URL,
    THIN,
    TIMINGS,
    TOPIC,
    TOPOLOGY,
    Fleet,
    colour_resources,
    observation,
    only,
    sample_run,
    sample_state,
    windows,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from safejob_ops.deploy.canary import AlarmState, Verdict
from safejob_ops.deploy.config import load_deploy_config
from safejob_ops.deploy.memory import MemoryMaintenance
from safejob_ops.deploy.models import ContainerExit, DeployInputError, PreflightRefusedError, Service
from safejob_ops.deploy.ports import AwsLogsLocation, ScanFinding, ScanResult, StoppedTaskInfo
from safejob_ops.deploy.service import (
    RELEASE_VARIABLE,
    GreenUnhealthyError,
    ReleaseCommittedError,
    SmokeTestsFailedError,
    analyse,
    begin,
    check_green,
    finalize,
    max_extensions,
    preflight,
    register,
    request_approval,
    retire,
    rollback,
    rollback_reason,
    scale_green,
    shift,
    smoke,
    validate_input,
)
from safejob_ops.deploy.traffic import Colour, other
from safejob_ops.deploy.workflow import (
    SERVICES,
    Analysis,
    Approval,
    DeployState,
    GreenHealth,
    Migration,
    TrafficState,
    ValidateRequest,
)
from safejob_ops.migrate.models import MigrateInput
from safejob_ops.migrate.ports import LockHeldError

ROOT = Path(__file__).resolve().parents[3]
MAX_EXTENSIONS = max_extensions(CONFIG.canary)
LATER = T0 + timedelta(minutes=20)


def walk(state: DeployState, fleet: Fleet, minutes: int = 5) -> DeployState:
    """The next Shift, as the state machine carries its result into `$.traffic`."""
    previous = state.traffic.started_at if state.traffic else T0
    traffic = shift(state, fleet.forwarding, fleet.maintenance, previous + timedelta(minutes=minutes), MAX_EXTENSIONS)
    return state.model_copy(update={"traffic": traffic})


def judged(state: DeployState, fleet: Fleet, minutes: int = 2) -> DeployState:
    """The next Analyse, `minutes` after the step began, carried into `$.analysis`."""
    assert state.traffic is not None
    result = analyse(state, CONFIG.canary, fleet.metrics, state.traffic.started_at + timedelta(minutes=minutes))
    return state.model_copy(update={"analysis": result})


def lambda_error(error: str, message: str) -> dict[str, str]:
    """A Catch's `$.failure.<step>` for a Lambda function error: its Cause is the error payload as JSON."""
    return {"Error": error, "Cause": json.dumps({"errorMessage": message, "errorType": error,
                                                 "stackTrace": ["  File \"/var/task/app.py\", line 1"]})}


# ------------------------------------------------------------------------------------------------ docstrings
@pytest.mark.parametrize("name", ["safejob_ops.deploy.service", "safejob_ops.deploy.memory"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


@pytest.mark.parametrize("path", ["config/deploy.yaml", "config/deploy.local.yaml"])
def test_max_extensions_reads_the_real_configs_whose_alarms_name_the_environment(path: str) -> None:
    # GIVEN a config whose alarm names use {environment} (the Validate and Shift handlers load it at cold start)
    config = load_deploy_config(ROOT / path)
    # WHEN the maintenance windows' extensions are read / THEN it is the largest of the services' policies
    assert max_extensions(config.canary) == max(config.canary.services[s].max_extensions for s in SERVICES)


# ------------------------------------------------------------------------------------------------ validate
def test_a_valid_input_is_resolved_into_the_run() -> None:
    # GIVEN a canary input for both services of the local stack / WHEN validated
    run = sample_run()
    # THEN it carries the stack's topology and timings, the environment's lock, and the migrate child's input
    assert (run.environment, run.lock_name, run.execution_id) == ("local", "deploy/local", EXECUTION)
    assert run.topology == TOPOLOGY
    assert run.timings == TIMINGS
    assert run.has_migrations is True
    assert run.migrate_input is not None
    migrate = MigrateInput.model_validate(run.migrate_input)  # what the migrate state machine accepts
    assert (migrate.environment, migrate.image, migrate.git_sha) == ("local", IMAGES["backend"], GIT_SHA)
    assert EXECUTION_NAME in migrate.requested_by
    assert run.lock_expires_at > T0


@pytest.mark.parametrize(("changes", "fields"), [
    ({"images": {"backend": "safejob/backend:1.4.2", "frontend": IMAGES["frontend"]}}, {"images.backend"}),
    ({"git_sha": "HEAD", "colour": "green"}, {"git_sha", "colour"}),
    ({"services": ["backend", "backend"], "images": {"backend": IMAGES["backend"]}}, {"services"}),
    ({"strategy": {"type": "canary", "steps": [50, 10], "bake_seconds": 60}}, {"strategy.canary.steps"}),
    ({"approval_required": "maybe", "requested_by": ""}, {"approval_required", "requested_by"}),
])
def test_bad_input_is_refused_naming_each_field(changes: dict[str, Any], fields: set[str]) -> None:
    # GIVEN an input with bad fields / WHEN validated
    with pytest.raises(DeployInputError) as caught:
        sample_run(**changes)
    # THEN each bad field is named, and nothing else
    assert {path for path, _ in caught.value.problems} == fields
    assert all(name in str(caught.value) for name in fields)


def test_an_input_for_another_environment_is_refused() -> None:
    # GIVEN a staging input sent to the local stack's state machine / WHEN validated
    with pytest.raises(DeployInputError) as caught:
        sample_run(environment="staging")
    # THEN the environment is named, with the fix
    [(path, message)] = caught.value.problems
    assert path == "environment"
    assert "'local' stack, not 'staging'" in message
    assert "staging account's state machine" in message


def test_all_at_once_is_refused_in_production_before_the_environment_check() -> None:
    production = SETUP.model_copy(update={"environment_name": "production"})
    with pytest.raises(DeployInputError, match="all_at_once is not allowed in production"):
        sample_run(production, environment="production", strategy={"type": "all_at_once"})


@pytest.mark.parametrize(("services", "migrates"), [(("backend",), True), (("frontend",), False),
                                                    (("backend", "frontend"), True)])
def test_migrations_run_only_with_a_backend_image(services: tuple[Service, ...], migrates: bool) -> None:
    # GIVEN a deploy of some services / WHEN validated
    run = sample_run(**only(*services))
    # THEN migrate runs (with the backend image) exactly when the backend is deployed
    assert run.has_migrations is migrates
    assert (run.migrate_input is not None) is migrates
    if run.migrate_input is not None:
        assert run.migrate_input["image"] == IMAGES["backend"]


def _lock_budget(**changes: Any) -> timedelta:
    return sample_run(**changes).lock_expires_at - T0


def test_the_lock_budget_grows_with_the_approval_and_the_steps() -> None:
    # GIVEN the same deploy without and with approval, and with more canary steps
    base = _lock_budget()
    approved = _lock_budget(approval_required=True)
    longer = _lock_budget(strategy={"type": "canary", "steps": [5, 10, 25, 50, 100], "bake_seconds": 60})
    at_once = _lock_budget(strategy={"type": "all_at_once"})
    # THEN the approval adds its whole timeout, each step its bake with every extension, and all at once the least
    assert approved - base == timedelta(seconds=TIMINGS.approval_timeout_seconds)
    assert longer - base == timedelta(seconds=2 * 60 * (MAX_EXTENSIONS + 1))
    assert at_once < base
    # AND the lock outlives the longest run: migrate, green's health, the approval, every bake and extension, retire
    worst = (TIMINGS.migrate_timeout_seconds + TIMINGS.health_timeout_seconds + TIMINGS.approval_timeout_seconds
             + 3 * 60 * (MAX_EXTENSIONS + 1) + TIMINGS.retire_grace_seconds)
    assert approved > timedelta(seconds=worst)


def test_an_empty_input_lists_every_missing_field() -> None:
    # GIVEN an input missing every field but the environment / WHEN validated / THEN each one is listed
    request = ValidateRequest(input={"environment": "local"}, execution_id=EXECUTION, execution_name="x",
                              started_at=T0)
    with pytest.raises(DeployInputError, match="6 problems"):
        validate_input(request, SETUP)


# ------------------------------------------------------------------------------------------------ preflight
def test_preflight_passes_every_check_and_reports_what_is_live() -> None:
    # GIVEN blue live at 100%, the images pushed and clean, the gate open, alarms OK, the lock free
    fleet = Fleet()
    run = sample_run()
    # WHEN preflight runs
    live = preflight(run, CONFIG, COST_GATE, fleet.preflight_ports(), T0)
    # THEN green is the target, each service's live task definition, count and image are known, and the plan is set
    assert (live.live, live.target) == ("blue", "green")
    assert {s: (v.task_definition, v.desired_count, v.image) for s, v in live.services.items()} == {
        s: (LIVE_TASK_DEFINITIONS[s], LIVE_COUNTS[s], LIVE_IMAGES[s]) for s in SERVICES}
    assert [(s.weights.blue, s.weights.green) for s in live.plan.steps] == [(90, 10), (50, 50), (0, 100)]
    assert [c.name for c in live.checks] == ["image:backend", "image:frontend", "scan:backend", "scan:frontend",
                                             "cost_gate", "freeze", "alarms:backend", "alarms:frontend", "traffic",
                                             "lock", "services"]
    assert all(c.passed for c in live.checks)
    # AND the service's alarm names were asked for, resolved for the environment; nothing was written
    assert ALARMS["backend"] in fleet.alarms.calls
    assert fleet.writes() == NO_WRITES


def test_preflight_with_green_live_targets_blue() -> None:
    fleet = Fleet(live="green")
    live = preflight(sample_run(), CONFIG, COST_GATE, fleet.preflight_ports(), T0)
    assert (live.live, live.target) == ("green", "blue")
    assert live.plan.rollback.green == 100


def _refused(fleet: Fleet, **changes: Any) -> dict[str, str]:
    with pytest.raises(PreflightRefusedError) as caught:
        preflight(sample_run(**changes), CONFIG, COST_GATE, fleet.preflight_ports(), T0)
    assert fleet.writes() == NO_WRITES  # reads only, refused or not
    assert str(caught.value).startswith("preflight refused: ")
    return {check.name: check.detail for check in caught.value.report.failures}


def test_split_traffic_is_refused_naming_both_services() -> None:
    # GIVEN an interrupted deploy left the backend at 90/10 / WHEN preflight runs
    fleet = Fleet()
    backend = TOPOLOGY.services["backend"]
    fleet.forwarding.actions[(backend.prod.kind, backend.prod.arn)] = {backend.blue.target_group_arn: 90,
                                                                       backend.green.target_group_arn: 10}
    failures = _refused(fleet)
    # THEN only the traffic check fails, naming each service's weights and the fix
    assert list(failures) == ["traffic"]
    assert "backend blue 90/green 10" in failures["traffic"]
    assert "frontend blue 100/green 0" in failures["traffic"]
    assert "put 100% back on the live colour" in failures["traffic"]


def test_services_live_on_different_colours_are_refused() -> None:
    # GIVEN the frontend 100% on green while the backend is 100% on blue
    fleet = Fleet()
    frontend = TOPOLOGY.services["frontend"]
    fleet.forwarding.actions[(frontend.prod.kind, frontend.prod.arn)] = {frontend.green.target_group_arn: 100}
    # WHEN preflight runs / THEN no live colour can be named: refused
    failures = _refused(fleet)
    assert "backend blue 100/green 0, frontend blue 0/green 100" in failures["traffic"]


def test_a_held_lock_is_refused_naming_its_holder() -> None:
    # GIVEN another deploy holds the environment's lock
    fleet = Fleet()
    fleet.take_lock(owner=OTHER_EXECUTION, requested_by="github:bob")
    writes = fleet.locks.writes
    # WHEN preflight runs / THEN it is refused, naming the holder, who asked for it and until when
    with pytest.raises(PreflightRefusedError) as caught:
        preflight(sample_run(), CONFIG, COST_GATE, fleet.preflight_ports(), T0)
    failures = {c.name: c.detail for c in caught.value.report.failures}
    assert list(failures) == ["lock"]
    assert OTHER_EXECUTION in failures["lock"]
    assert "github:bob" in failures["lock"]
    assert fleet.locks.writes == writes


def test_an_expired_lock_does_not_refuse() -> None:
    fleet = Fleet()
    fleet.take_lock(owner=OTHER_EXECUTION)
    later = fleet.locks.locks["deploy/local"].expires_at + timedelta(seconds=1)
    live = preflight(sample_run(), CONFIG, COST_GATE, fleet.preflight_ports(), later)
    assert {c.name: c.passed for c in live.checks}["lock"] is True


def test_an_unknown_digest_is_refused_and_nothing_is_written() -> None:
    # GIVEN a backend digest the registry does not hold (a rebuilt image)
    fleet = Fleet()
    unknown = IMAGES["backend"].replace("a" * 64, "e" * 64)
    # WHEN preflight runs
    failures = _refused(fleet, images={"backend": unknown, "frontend": IMAGES["frontend"]})
    # THEN the image and its scan are refused with the fix, and nothing anywhere was written (checked by _refused)
    assert list(failures) == ["image:backend", "scan:backend"]
    assert "is not in the registry; fix: push the image" in failures["image:backend"]
    assert fleet.maintenance.opened == []
    assert fleet.ledger.records == {}


def test_a_critical_finding_is_refused_unless_overridden() -> None:
    fleet = Fleet()
    fleet.registry.scans["safejob/backend"] = ScanResult(
        status="COMPLETE", findings=(ScanFinding(name="CVE-2026-12345", severity="CRITICAL"),))
    assert "CVE-2026-12345" in _refused(fleet)["scan:backend"]
    live = preflight(sample_run(scan_override={"finding": "CVE-2026-12345", "reason": "not reachable from the app"}),
                     CONFIG, COST_GATE, fleet.preflight_ports(), T0)
    assert "overridden by github:jane.doe" in {c.name: c.detail for c in live.checks}["scan:backend"]


@pytest.mark.parametrize(("state", "words"), [("ALARM", "in ALARM: safejob-local-backend-error-logs"),
                                              (None, "not found: safejob-local-backend-error-logs")])
def test_an_alarm_in_alarm_or_missing_is_refused(state: str | None, words: str) -> None:
    # GIVEN the backend's error-log alarm firing, or missing
    fleet = Fleet()
    if state is None:
        del fleet.alarms.alarm_states["safejob-local-backend-error-logs"]
    else:
        fleet.alarms.alarm_states["safejob-local-backend-error-logs"] = state
    # WHEN preflight runs / THEN the backend's alarms check fails, the frontend's passes
    failures = _refused(fleet)
    assert list(failures) == ["alarms:backend"]
    assert words in failures["alarms:backend"]


def test_a_closed_cost_gate_is_refused() -> None:
    fleet = Fleet()
    fleet.parameters.values[COST_GATE] = "closed"
    assert "closed" in _refused(fleet)["cost_gate"]


@pytest.mark.parametrize(("port", "checks"), [
    ("registry", ["image:backend", "image:frontend", "scan:backend", "scan:frontend"]),
    ("parameters", ["cost_gate"]),
    ("alarms", ["alarms:backend", "alarms:frontend"]),
    ("forwarding", ["traffic"]),
    ("locks", ["lock"]),
    ("services", ["services"]),
    ("images", ["services"]),
])
def test_a_port_that_raises_fails_its_checks_closed(port: str, checks: list[str]) -> None:
    # GIVEN one port unreachable
    fleet = Fleet()
    if port == "locks":
        def unreachable(name: str) -> None:
            raise ConnectionError("DynamoDB unreachable")
        fleet.locks.holder = unreachable  # type: ignore[method-assign]
    else:
        getattr(fleet, port).fail = True
    # WHEN preflight runs / THEN the checks that need it fail with the error, the others still run, nothing is written
    failures = _refused(fleet)
    assert list(failures) == checks
    assert all("could not" in detail and "Error" in detail for detail in failures.values())


# ------------------------------------------------------------------------------------------------ begin
def test_begin_takes_the_lock_then_records_the_deploy_in_progress() -> None:
    # GIVEN a state after preflight / WHEN the deploy begins
    fleet = Fleet()
    state = sample_state()
    holder = begin(state, fleet.locks, fleet.ledger, T0)
    # THEN this execution holds the lock until the run's budget ends
    assert (holder.name, holder.owner, holder.expires_at) == ("deploy/local", EXECUTION, state.run.lock_expires_at)
    assert holder.requested_by == "github:jane.doe"
    # AND the ledger records the deploy in progress, with the preflight checks and the live colour
    [record] = fleet.ledger.history("local")
    assert (record.outcome, record.live_colour, record.execution_id) == ("in_progress", "blue", EXECUTION)
    assert record.preflight == state.need_live().checks
    assert record.images == IMAGES


def test_begin_under_another_holder_changes_nothing() -> None:
    fleet = Fleet()
    fleet.take_lock(owner=OTHER_EXECUTION)
    with pytest.raises(LockHeldError, match=OTHER_EXECUTION):
        begin(sample_state(), fleet.locks, fleet.ledger, T0)
    assert fleet.locks.locks["deploy/local"].owner == OTHER_EXECUTION
    assert fleet.ledger.records == {}


def test_a_retried_begin_keeps_one_lock_and_one_record() -> None:
    fleet = Fleet()
    state = sample_state()
    first = begin(state, fleet.locks, fleet.ledger, T0)
    again = begin(state, fleet.locks, fleet.ledger, T0 + timedelta(seconds=3))
    assert again.owner == first.owner == EXECUTION
    assert len(fleet.ledger.records) == 1


# ------------------------------------------------------------------------------------------------ register
def test_register_derives_a_revision_only_for_the_requested_services() -> None:
    # GIVEN a deploy of the backend only / WHEN registered
    fleet = Fleet()
    state = sample_state(sample_run(**only("backend")))
    release = register(state, fleet.task_definitions)
    # THEN the backend gets one new revision of its live task definition, with the image and the release variable
    [(arn, container, image, tags)] = fleet.task_definitions.revisions
    assert release.task_definitions["backend"] == arn != LIVE_TASK_DEFINITIONS["backend"]
    assert arn.split("/")[-1].startswith("safejob-local-backend:")
    assert (container, image) == ("app", IMAGES["backend"])
    assert tags == {"safejob:release": GIT_SHA, "safejob:deploy": EXECUTION_NAME}
    assert fleet.task_definitions.environments[arn] == {RELEASE_VARIABLE: GIT_SHA}
    # AND the frontend keeps its live task definition in the new colour
    assert release.task_definitions["frontend"] == LIVE_TASK_DEFINITIONS["frontend"]


def test_register_both_services() -> None:
    fleet = Fleet()
    release = register(sample_state(), fleet.task_definitions)
    assert sorted(image for _, _, image, _ in fleet.task_definitions.revisions) == sorted(IMAGES.values())
    assert all(release.task_definitions[s] != LIVE_TASK_DEFINITIONS[s] for s in SERVICES)


def test_a_failed_registration_raises() -> None:
    fleet = Fleet()
    fleet.task_definitions.fail = True
    with pytest.raises(ConnectionError):
        register(sample_state(), fleet.task_definitions)


# ------------------------------------------------------------------------------------------------ scale green
def test_scale_green_points_the_test_listener_then_runs_the_release_with_the_live_counts() -> None:
    # GIVEN blue live and the release registered / WHEN green is scaled
    fleet = Fleet()
    state = sample_state(release=True)
    scale_green(state, fleet.services, fleet.forwarding)
    # THEN the test listener sends everything to green, production is untouched
    assert all(fleet.preview(s) == (0, 100) for s in SERVICES)
    assert all(fleet.prod(s) == (100, 0) for s in SERVICES)
    # AND each green service runs its release task definition with blue's count (also its scaling minimum)
    for service in SERVICES:
        green = colour_resources(service, "green").service_name
        assert fleet.services.services[green].desired_count == LIVE_COUNTS[service]
        assert fleet.services.services[green].task_definition == RELEASE_TASK_DEFINITIONS[service]
        assert fleet.services.minimums[green] == LIVE_COUNTS[service]
    # AND blue was not touched
    assert {u.service for u in fleet.services.updates} == {colour_resources(s, "green").service_name
                                                           for s in SERVICES}
    assert all(u.cluster == CLUSTER for u in fleet.services.updates)


def test_scale_green_without_the_release_is_a_state_error() -> None:
    with pytest.raises(ValueError, match=r"\$\.release is missing"):
        scale_green(sample_state(), Fleet().services, Fleet().forwarding)


# ------------------------------------------------------------------------------------------------ check green
def _scaled(fleet: Fleet, **parts: Any) -> DeployState:
    state = sample_state(release=True, **parts)
    scale_green(state, fleet.services, fleet.forwarding)
    return state


def test_green_is_healthy_when_every_task_runs_the_release_and_every_target_is_healthy() -> None:
    fleet = Fleet()
    state = _scaled(fleet)
    fleet.make_healthy("green")
    result = check_green(state, fleet.services, fleet.health, T0)
    assert result == GreenHealth(healthy=True, polls=1, detail="green healthy after 1 check(s)")


def test_green_not_yet_healthy_is_polled_again() -> None:
    # GIVEN green's backend with one target still starting, after two earlier checks
    fleet = Fleet()
    state = _scaled(fleet, green={"healthy": False, "polls": 2, "detail": "starting"})
    fleet.make_healthy("green")
    backend = colour_resources("backend", "green")
    fleet.health.set(backend.target_group_arn, ["healthy", "healthy", "initial"])
    # WHEN checked / THEN not healthy yet: the third check, naming what is missing
    result = check_green(state, fleet.services, fleet.health, T0)
    assert (result.healthy, result.polls) == (False, 3)
    assert result.detail == f"{backend.service_name}: 3/3 running, 2/3 healthy targets (others: initial)"


def test_green_running_another_task_definition_is_not_healthy() -> None:
    fleet = Fleet()
    state = _scaled(fleet)
    fleet.make_healthy("green")
    frontend = colour_resources("frontend", "green").service_name
    fleet.services.set(frontend, task_definition=LIVE_TASK_DEFINITIONS["frontend"])
    result = check_green(state, fleet.services, fleet.health, T0)
    assert not result.healthy
    assert f"{frontend} runs {LIVE_TASK_DEFINITIONS['frontend']}, not the release" in result.detail


def test_green_not_healthy_at_the_deadline_fails() -> None:
    # GIVEN the check before the deadline (60 s at 10 s a poll: the sixth) and green still short of tasks
    fleet = Fleet()
    state = _scaled(fleet, green={"healthy": False, "polls": 5, "detail": "starting"})
    fleet.services.set(colour_resources("backend", "green").service_name, running_count=1)
    # WHEN checked / THEN GreenUnhealthyError, with how long it waited and why
    with pytest.raises(GreenUnhealthyError, match=r"green not healthy after 60 s \(6 checks\): .*1/3 running"):
        check_green(state, fleet.services, fleet.health, T0)


def test_a_failed_ecs_rollout_fails_at_once() -> None:
    fleet = Fleet()
    state = _scaled(fleet)
    frontend = colour_resources("frontend", "green").service_name
    fleet.services.set(frontend, rollout_state="FAILED", rollout_reason="tasks failed to start")
    with pytest.raises(GreenUnhealthyError, match=f"{frontend}: its ECS deployment failed: tasks failed to start"):
        check_green(state, fleet.services, fleet.health, T0)


# ------------------------------------------------------------------------------------------------ smoke
def test_smoke_runs_every_service_s_checks_through_the_test_listener() -> None:
    fleet = Fleet()
    reports = smoke(sample_state(release=True), CONFIG, fleet.http)
    assert [(r.service, r.passed) for r in reports] == [("backend", True), ("frontend", True)]
    assert [url for url, _ in fleet.http.calls] == [f"{TEST_LISTENER_URL}/health/", f"{TEST_LISTENER_URL}/api/jobs/",
                                                    f"{TEST_LISTENER_URL}/health/", f"{TEST_LISTENER_URL}/"]


def test_a_failed_smoke_test_raises_naming_the_path() -> None:
    # GIVEN the backend's jobs API answering 502 through the test listener
    fleet = Fleet()
    fleet.http.answers[f"{TEST_LISTENER_URL}/api/jobs/"] = (502, "bad gateway")
    # WHEN the smoke tests run / THEN SmokeTestsFailedError names the service, the path and what it got
    with pytest.raises(SmokeTestsFailedError) as caught:
        smoke(sample_state(release=True), CONFIG, fleet.http)
    assert str(caught.value) == "smoke tests of backend failed: /api/jobs/: expected status 200, got 502"


def test_an_unreachable_test_listener_fails_the_smoke_tests() -> None:
    fleet = Fleet()
    fleet.http.fail = True
    with pytest.raises(SmokeTestsFailedError, match="/health/: ConnectionError"):
        smoke(sample_state(release=True), CONFIG, fleet.http)


# ------------------------------------------------------------------------------------------------ approval
def test_the_approval_request_carries_both_commands_with_the_token() -> None:
    # GIVEN a deploy that needs approval / WHEN the request is published
    fleet = Fleet()
    state = sample_state(sample_run(approval_required=True), release=True)
    message_id = request_approval(state, TASK_TOKEN, fleet.publisher, TOPIC)
    # THEN one message to the topic, whose commands answer the task token, approving or rejecting
    [(topic, subject, message)] = fleet.publisher.messages
    assert (message_id, topic) == ("message-1", TOPIC)
    assert subject == f"[local] approve deploy {GIT_SHA}?"
    approve = (f"aws stepfunctions send-task-success --task-token '{TASK_TOKEN}' "
               """--task-output '{"approved":true,"decided_by":"<you>"}'""")
    reject = (f"aws stepfunctions send-task-success --task-token '{TASK_TOKEN}' "
              """--task-output '{"approved":false,"decided_by":"<you>","reason":"<why>"}'""")
    assert f"Approve:\n  {approve}\n" in message
    assert f"Reject:\n  {reject}\n" in message
    # AND what is asked: the images, the steps, the timeout, the execution
    assert all(image in message for image in IMAGES.values())
    assert "Steps: 10% -> 50% -> 100%" in message
    assert f"in {TIMINGS.approval_timeout_seconds} s it rolls back" in message
    assert EXECUTION in message
    # AND the answer's document is what the Approved? choice and the rollback read
    answer = json.loads(approve.rsplit("--task-output ", 1)[1].strip("'"))
    assert Approval.model_validate(answer).approved is True


# ------------------------------------------------------------------------------------------------ shift
def test_shift_walks_the_steps_for_both_services() -> None:
    # GIVEN a 10/50/100 canary from blue / WHEN shifted step by step
    fleet = Fleet()
    state = sample_state(release=True)
    seen = []
    for _ in range(3):
        state = walk(state, fleet)
        assert state.traffic is not None
        seen.append((state.traffic.index, state.traffic.weight, state.traffic.last,
                     fleet.prod("backend"), fleet.prod("frontend")))
    # THEN the index, the target's share and both services' weights follow the plan, and the last step says so
    assert seen == [(0, 10, False, (90, 10), (90, 10)), (1, 50, False, (50, 50), (50, 50)),
                    (2, 100, True, (0, 100), (0, 100))]
    # AND the test listener was left alone
    assert all(fleet.preview(s) == (100, 0) for s in SERVICES)


def test_each_baked_step_opens_its_windows_and_closes_the_previous_ones() -> None:
    fleet = Fleet()
    state = walk(sample_state(release=True), fleet)
    assert state.traffic is not None
    first = state.traffic.maintenance
    # THEN one window per service, opened by this execution, long enough for the bake, its extensions and the margin
    assert set(first) == set(SERVICES)
    minutes = -(-(60 * (MAX_EXTENSIONS + 1) + TIMINGS.maintenance_margin_seconds) // 60)
    assert [(w.service, w.opened_by, w.duration_minutes) for w in fleet.maintenance.opened] == [
        ("backend", EXECUTION, minutes), ("frontend", EXECUTION, minutes)]
    # WHEN the next step starts / THEN its windows replace the first ones
    state = walk(state, fleet)
    assert state.traffic is not None
    assert fleet.maintenance.closed == list(first.values())
    assert set(fleet.maintenance.windows) == set(state.traffic.maintenance.values())
    assert not set(first.values()) & set(state.traffic.maintenance.values())


def test_all_at_once_moves_everything_without_windows() -> None:
    fleet = Fleet()
    state = walk(sample_state(sample_run(strategy={"type": "all_at_once"}), release=True), fleet)
    assert state.traffic is not None
    assert (state.traffic.index, state.traffic.weight, state.traffic.analyse, state.traffic.last) == (0, 100, False,
                                                                                                       True)
    assert state.traffic.maintenance == {}
    assert fleet.maintenance.opened == []
    assert all(fleet.prod(s) == (0, 100) for s in SERVICES)


class ThrottledMaintenance(MemoryMaintenance):
    """Opens `allowed` windows, then every open is throttled."""

    def __init__(self, allowed: int) -> None:
        super().__init__()
        self.allowed = allowed

    def open(self, service: str, opened_by: str, duration_minutes: int) -> str:
        if len(self.opened) >= self.allowed:
            raise ConnectionError("alarm-route admin API: throttled")
        return super().open(service, opened_by, duration_minutes)


def test_a_failed_shift_closes_the_windows_it_opened() -> None:
    # GIVEN the first step baking under its two windows, and the admin API throttling the next step's second one
    fleet = Fleet(maintenance=ThrottledMaintenance(allowed=3))
    state = walk(sample_state(release=True), fleet)
    assert state.traffic is not None
    previous = set(state.traffic.maintenance.values())
    # WHEN the next step starts / THEN it fails
    with pytest.raises(ConnectionError, match="throttled"):
        walk(state, fleet)
    # AND the window it opened is closed again; the previous step's, in $.traffic, are left for the rollback to close
    opened = fleet.maintenance.opened[-1].silence_id
    assert opened not in previous
    assert fleet.maintenance.closed == [opened]
    assert set(fleet.maintenance.windows) == previous


# ------------------------------------------------------------------------------------------------ analyse
def _baking(fleet: Fleet, steps: int = 1, **changes: Any) -> DeployState:
    state = sample_state(sample_run(**changes), release=True)
    for _ in range(steps):
        state = walk(state, fleet)
    return state


def _observe(fleet: Fleet, service: Service, found: Any) -> None:
    blue, green = colour_resources(service, "blue"), colour_resources(service, "green")
    fleet.metrics.set(blue.target_group, green.target_group, found)


def test_analyse_promotes_when_every_service_passes() -> None:
    # GIVEN the first step baking, both services' canaries healthy / WHEN analysed
    fleet = Fleet()
    state = judged(_baking(fleet), fleet)
    assert state.analysis is not None
    assert state.traffic is not None
    # THEN promote, with one step record, and the metrics were read blue against green, per service
    assert (state.analysis.verdict, state.analysis.index, state.analysis.extensions) == (Verdict.PROMOTE, 0, 0)
    [record] = state.analysis.steps
    assert (record.weight, record.verdict, record.started_at) == (10, Verdict.PROMOTE, state.traffic.started_at)
    assert record.ended_at == state.traffic.started_at + timedelta(minutes=2)
    assert [(b.target_group, c.target_group, names) for b, c, names, _ in fleet.metrics.calls] == [
        (colour_resources(s, "blue").target_group, colour_resources(s, "green").target_group, ALARMS[s])
        for s in SERVICES]
    assert all(w.start == state.traffic.started_at for *_, w in fleet.metrics.calls)
    assert state.analysis.summary.startswith("backend: promote")


@pytest.mark.parametrize(("backend", "frontend", "verdict"), [
    (HEALTHY, HEALTHY, Verdict.PROMOTE),
    (HEALTHY, THIN, Verdict.EXTEND),
    (THIN, FAILING, Verdict.ROLLBACK),
    (FAILING, HEALTHY, Verdict.ROLLBACK),
    (HEALTHY, observation(windows(100), alarms=AlarmState.ALARM), Verdict.ROLLBACK),
])
def test_the_verdict_is_the_worst_of_the_services(backend: Any, frontend: Any, verdict: Verdict) -> None:
    # GIVEN each service's observation / WHEN the step is analysed
    fleet = Fleet()
    _observe(fleet, "backend", backend)
    _observe(fleet, "frontend", frontend)
    state = judged(_baking(fleet), fleet)
    assert state.analysis is not None
    # THEN rollback if any service says so, else extend if any needs more data, else promote
    assert state.analysis.verdict == verdict
    if verdict == Verdict.ROLLBACK:
        [record] = state.analysis.steps
        assert record.reasons
        assert all(reason.split()[0] in SERVICES for reason in record.reasons)


def test_extensions_count_within_one_step_only() -> None:
    # GIVEN the backend with too few requests to judge
    fleet = Fleet()
    _observe(fleet, "backend", THIN)
    state = _baking(fleet)
    # WHEN the first step is analysed, then again after each extension
    verdicts = []
    for minutes in (1, 2):
        state = judged(state, fleet, minutes)
        assert state.analysis is not None
        verdicts.append((state.analysis.verdict, state.analysis.extensions))
    # THEN the count grows within the step, and one record stands for it (the latest verdict)
    assert verdicts == [(Verdict.EXTEND, 0), (Verdict.EXTEND, 1)]
    assert state.analysis is not None
    [record] = state.analysis.steps
    assert (record.verdict, record.extensions) == (Verdict.EXTEND, 1)
    # WHEN the requests come, it promotes, and the next step starts counting from 0 again
    _observe(fleet, "backend", HEALTHY)
    state = judged(state, fleet, 3)
    assert state.analysis is not None
    assert (state.analysis.verdict, state.analysis.extensions) == (Verdict.PROMOTE, 2)
    _observe(fleet, "backend", THIN)
    state = judged(walk(state, fleet), fleet)
    assert state.analysis is not None
    assert (state.analysis.verdict, state.analysis.index, state.analysis.extensions) == (Verdict.EXTEND, 1, 0)


def test_a_service_out_of_extensions_falls_back_to_its_policy() -> None:
    # GIVEN the frontend (max_extensions 1, on_insufficient_data rollback) still without enough requests
    fleet = Fleet()
    _observe(fleet, "frontend", THIN)
    state = _baking(fleet)
    state = judged(state, fleet, 1)
    # WHEN analysed after its one extension / THEN rollback, although the backend (2 extensions) could extend
    state = judged(state, fleet, 2)
    assert state.analysis is not None
    assert state.analysis.verdict == Verdict.ROLLBACK
    assert "frontend: rollback (on_insufficient_data after 1 extension)" in state.analysis.summary


def test_steps_accumulate_through_the_canary() -> None:
    fleet = Fleet()
    state = sample_state(release=True)
    for _ in range(3):
        state = judged(walk(state, fleet), fleet)
    assert state.analysis is not None
    assert [(s.weight, s.verdict) for s in state.analysis.steps] == [(10, Verdict.PROMOTE), (50, Verdict.PROMOTE),
                                                                    (100, Verdict.PROMOTE)]


def test_analyse_without_metrics_raises() -> None:
    fleet = Fleet()
    fleet.metrics.fail = True
    with pytest.raises(ConnectionError):
        judged(_baking(fleet), fleet)


# ------------------------------------------------------------------------------------------------ finalize
def _promoted(fleet: Fleet, **changes: Any) -> DeployState:
    """A whole deploy up to its last promoted step: begun, scaled, every step shifted and analysed."""
    state = sample_state(sample_run(**changes), release=True,
                         migration={"execution_arn": "arn:migrate", "applied": ["jobs.0042_add_salary"]})
    state = state.model_copy(update={"lock": begin(state, fleet.locks, fleet.ledger, T0)})
    scale_green(state, fleet.services, fleet.forwarding)
    assert state.need_live().plan.steps
    for step in state.need_live().plan.steps:
        state = walk(state, fleet)
        if step.analyse:
            state = judged(state, fleet)
    return state


def test_finalize_records_success_and_tells_people() -> None:
    # GIVEN every step promoted / WHEN finalized
    fleet = Fleet()
    state = _promoted(fleet)
    assert state.traffic is not None
    outcome = finalize(state, fleet.maintenance, fleet.ledger, fleet.notify(), LATER)
    # THEN green is live, the last windows are closed, and one notification went out
    assert (outcome.outcome, outcome.live, outcome.notified, outcome.message_id) == ("succeeded", "green", True,
                                                                                     "message-1")
    assert set(state.traffic.maintenance.values()) <= set(fleet.maintenance.closed)
    assert fleet.maintenance.windows == {}
    # AND the ledger's record is final: succeeded, green live, every step, the migrations
    [record] = fleet.ledger.history("local")
    assert (record.outcome, record.live_colour, record.finished_at) == ("succeeded", "green", LATER)
    assert [(s.weight, s.verdict) for s in record.steps] == [(10, Verdict.PROMOTE), (50, Verdict.PROMOTE),
                                                             (100, Verdict.PROMOTE)]
    assert record.migrations_applied == ("jobs.0042_add_salary",)
    [(_, subject, message)] = fleet.publisher.messages
    assert subject == f"[local] deployed {GIT_SHA}"
    assert "green is live" in message
    assert "Migrations applied: jobs.0042_add_salary" in message


def test_a_failed_notification_after_the_commit_is_reported_not_raised() -> None:
    fleet = Fleet()
    state = _promoted(fleet)
    fleet.publisher.fail = True
    outcome = finalize(state, fleet.maintenance, fleet.ledger, fleet.notify(), LATER)
    assert (outcome.outcome, outcome.notified, outcome.message_id) == ("succeeded", False, None)
    assert fleet.ledger.history("local")[0].outcome == "succeeded"


def test_a_retried_finalize_keeps_the_first_record() -> None:
    fleet = Fleet()
    state = _promoted(fleet)
    finalize(state, fleet.maintenance, fleet.ledger, fleet.notify(), LATER)
    outcome = finalize(state, fleet.maintenance, fleet.ledger, fleet.notify(), LATER + timedelta(seconds=7))
    assert outcome.outcome == "succeeded"
    [record] = fleet.ledger.history("local")
    assert record.finished_at == LATER


def test_all_at_once_records_its_one_step() -> None:
    fleet = Fleet()
    state = _promoted(fleet, strategy={"type": "all_at_once"})
    finalize(state, fleet.maintenance, fleet.ledger, fleet.notify(), LATER)
    [record] = fleet.ledger.history("local")
    assert [(s.weight, s.verdict) for s in record.steps] == [(100, None)]


# ------------------------------------------------------------------------------------------------ retire
def test_retire_stops_the_old_colour_and_releases_the_lock() -> None:
    # GIVEN green live after finalize / WHEN retired
    fleet = Fleet()
    state = _promoted(fleet)
    finalize(state, fleet.maintenance, fleet.ledger, fleet.notify(), LATER)
    released = retire(state, fleet.services, fleet.locks)
    # THEN blue runs 0 tasks (its scaling minimum too), green keeps its tasks, and the lock is free
    assert released is True
    for service in SERVICES:
        blue = colour_resources(service, "blue").service_name
        assert (fleet.desired(service, "blue"), fleet.services.minimums[blue]) == (0, 0)
        assert fleet.desired(service, "green") == LIVE_COUNTS[service]
    assert fleet.locks.holder("deploy/local") is None
    # AND a retry changes nothing more
    assert retire(state, fleet.services, fleet.locks) is False


# ------------------------------------------------------------------------------------------------ rollback
CRASHED = StoppedTaskInfo(
    task_arn="arn:aws:ecs:us-east-1:123456789012:task/safejob-local/0f1e2d3c4b5a", task_definition_arn="td:8",
    stopped_reason="Essential container in task exited", stop_code="EssentialContainerExited",
    containers=(ContainerExit(name="app", exit_code=1),))


def _failed_at_50(fleet: Fleet, **parts: Any) -> DeployState:
    """A canary whose first step (10%) was promoted and whose second (50%) is baking under its windows, when `parts`
    (a failure...) happen."""
    state = walk(judged(walk(_begun(fleet), fleet), fleet), fleet)
    return DeployState.model_validate({**state.model_dump(), **parts})


def _begun(fleet: Fleet, **changes: Any) -> DeployState:
    state = sample_state(sample_run(**changes), release=True)
    state = state.model_copy(update={"lock": begin(state, fleet.locks, fleet.ledger, T0)})
    scale_green(state, fleet.services, fleet.forwarding)
    return state


def _diagnosable(fleet: Fleet) -> None:
    green = colour_resources("backend", "green").service_name
    fleet.stopped.tasks[green] = [CRASHED]
    fleet.stopped.logs["td:8"] = {"app": AwsLogsLocation(group="/safejob/local/backend", stream_prefix="backend")}
    fleet.logs.streams[("/safejob/local/backend", "backend/app/0f1e2d3c4b5a")] = ["booting", "KeyError: 'DB_HOST'"]
    fleet.alarms.alarm_states["safejob-local-alb-5xx-rate"] = "ALARM"
    fleet.sums.sums_by_id[f"{green}.target_5xx_count"] = 12.0


def test_rollback_puts_everything_back_and_records_why() -> None:
    # GIVEN a canary at 50% whose analysis failed, with a crashed green task and a firing alarm
    fleet = Fleet()
    _diagnosable(fleet)
    state = _failed_at_50(fleet, failure={"analyse": lambda_error("ConnectionError", "CloudWatch unreachable")})
    assert state.traffic is not None
    windows_open = set(state.traffic.maintenance.values())
    # WHEN rolled back
    outcome = rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    # THEN 100% is back on blue for both services, and green runs no task
    assert all(fleet.prod(s) == (100, 0) for s in SERVICES)
    assert all(fleet.desired(s, "green") == 0 for s in SERVICES)
    assert all(fleet.desired(s, "blue") == LIVE_COUNTS[s] for s in SERVICES)
    # AND the step's windows are closed, the lock released, and the outcome says why
    assert windows_open <= set(fleet.maintenance.closed)
    assert fleet.maintenance.windows == {}
    assert fleet.locks.holder("deploy/local") is None
    assert (outcome.outcome, outcome.live, outcome.notified) == ("rolled_back", "blue", True)
    assert outcome.reason == "analyse failed: ConnectionError: CloudWatch unreachable"
    # AND the ledger's final record holds the diagnostics, and the 50% step that was never judged
    [record] = fleet.ledger.history("local")
    assert (record.outcome, record.live_colour, record.finished_at) == ("rolled_back", "blue", LATER)
    assert record.rollback is not None
    assert (record.rollback.reason, record.rollback.failed_step) == (outcome.reason, "analyse")
    [task] = record.rollback.stopped_tasks
    assert task.last_log_lines == ("booting", "KeyError: 'DB_HOST'")
    assert record.rollback.alarm_states["safejob-local-alb-5xx-rate"] == "ALARM"
    assert record.rollback.metrics[f"{colour_resources('backend', 'green').service_name}.target_5xx_count"] == 12.0
    assert [(s.weight, s.verdict) for s in record.steps] == [(10, Verdict.PROMOTE), (50, None)]
    # AND exactly one notification, with the diagnostics and the runbook
    [(topic, subject, message)] = fleet.publisher.messages
    assert (topic, subject) == (TOPIC, f"[local] deploy {GIT_SHA} rolled back")
    assert "Traffic: 100% on blue (unchanged release); green scaled to 0." in message
    assert "    | KeyError: 'DB_HOST'" in message
    assert "Runbook: https://example.test/docs/workflows/deploy.md#runbook" in message


@pytest.mark.parametrize(("parts", "step", "reason"), [
    ({"failure": {"smoke": lambda_error("SmokeTestsFailedError", "smoke tests of backend failed: /api/jobs/: 502")}},
     "smoke", "smoke failed: SmokeTestsFailedError: smoke tests of backend failed: /api/jobs/: 502"),
    ({"failure": {"check_green": {"Error": "States.Timeout", "Cause": ""}}}, "check_green", "check_green timed out"),
    ({"failure": {"migrate": {"Error": "States.TaskFailed", "Cause": "the child execution failed"}}},
     "migrate", "migrate failed: States.TaskFailed: the child execution failed"),
    ({"failure": {"approval": {"Error": "States.Timeout"}}, "approval": None}, "approval", "approval timed out"),
    ({"approval": {"approved": False, "decided_by": "alice", "reason": "not during the sale"}},
     "approval", "rejected by alice: not during the sale"),
    ({"approval": {"decided_by": "bob"}}, "approval", "rejected by bob"),
    ({}, None, "rolled back"),
])
def test_the_rollback_reason_comes_from_the_failure_the_rejection_or_the_verdict(
        parts: dict[str, Any], step: str | None, reason: str) -> None:
    # GIVEN what the state machine caught / WHEN rolled back
    fleet = Fleet()
    state = DeployState.model_validate({**_begun(fleet).model_dump(), **parts})
    outcome = rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    # THEN the outcome, the ledger and the notification give the step and the reason
    assert rollback_reason(state) == (step, reason)
    assert outcome.reason == reason
    record = fleet.ledger.history("local")[0]
    assert record.rollback is not None
    assert (record.rollback.failed_step, record.rollback.reason) == (step, reason)
    assert reason in fleet.publisher.messages[0][2]


def test_a_rollback_verdict_names_the_weight_and_the_summary() -> None:
    fleet = Fleet()
    _observe(fleet, "frontend", FAILING)
    state = judged(walk(_begun(fleet), fleet), fleet)
    outcome = rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    assert outcome.reason.startswith("canary analysis at 10%: backend: promote")
    assert "frontend: rollback" in outcome.reason
    assert rollback_reason(state)[0] == "analyse"


@pytest.mark.parametrize(("cause", "text"), [
    (json.dumps({"errorMessage": "green not healthy after 60 s", "errorType": "GreenUnhealthyError"}),
     "green not healthy after 60 s"),
    ("not json at all", "not json at all"),
    (json.dumps(["a", "list"]), '["a", "list"]'),
    (json.dumps({"message": "no errorMessage"}), '{"message": "no errorMessage"}'),
])
def test_rollback_reason_reads_a_lambda_error_cause(cause: str, text: str) -> None:
    state = sample_state(failure={"check_green": {"Error": "GreenUnhealthyError", "Cause": cause}})
    assert rollback_reason(state) == ("check_green", f"check_green failed: GreenUnhealthyError: {text}")


def test_rollback_reason_without_a_cause() -> None:
    state = sample_state(failure={"register": {"Error": "ConnectionError", "Cause": ""}})
    assert rollback_reason(state) == ("register", "register failed: ConnectionError")


def test_a_retried_rollback_after_a_failed_notification_records_once_and_notifies_once() -> None:
    # GIVEN the notification failing on the first attempt
    fleet = Fleet()
    state = _failed_at_50(fleet, failure={"shift": lambda_error("ConnectionError", "elbv2 throttled")})
    fleet.publisher.fail = True
    with pytest.raises(ConnectionError):
        rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    # (everything else was done: the environment is back, the record final, the lock free)
    assert all(fleet.prod(s) == (100, 0) for s in SERVICES)
    [first] = fleet.ledger.history("local")
    assert first.outcome == "rolled_back"
    assert fleet.locks.holder("deploy/local") is None
    writes = fleet.writes()
    # WHEN Step Functions retries it (another deploy may hold the environment by then)
    fleet.publisher.fail = False
    outcome = rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER + timedelta(seconds=5))
    # THEN one record (the first), one notification, and the retry wrote nothing else
    assert fleet.ledger.history("local") == [first]
    assert len(fleet.publisher.messages) == 1
    assert fleet.writes() == {**writes, "publisher": 1}
    assert first.rollback is not None
    assert (outcome.outcome, outcome.reason, outcome.notified) == ("rolled_back", first.rollback.reason, True)


def test_a_retry_after_another_deploy_took_the_environment_leaves_it_alone() -> None:
    # GIVEN the first rollback released the lock but its notification failed, and a new deploy is scaling green
    fleet = Fleet()
    state = _failed_at_50(fleet, failure={"analyse": lambda_error("ConnectionError", "x")})
    fleet.publisher.fail = True
    with pytest.raises(ConnectionError):
        rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    fleet.publisher.fail = False
    fleet.take_lock(owner=OTHER_EXECUTION)
    green = colour_resources("backend", "green").service_name
    fleet.services.update(CLUSTER, green, desired_count=3, task_definition="td:9")
    # WHEN the rollback is retried / THEN the new deploy's green keeps its tasks, and its lock is untouched
    rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER + timedelta(seconds=5))
    assert fleet.services.services[green].desired_count == 3
    assert fleet.locks.locks["deploy/local"].owner == OTHER_EXECUTION


def test_a_maintenance_window_that_does_not_close_becomes_a_note() -> None:
    # GIVEN the alarm-route admin API failing on close
    fleet = Fleet()
    state = _failed_at_50(fleet, failure={"analyse": lambda_error("ConnectionError", "x")})
    assert state.traffic is not None
    fleet.maintenance.fail = {"close"}
    # WHEN rolled back / THEN the rollback goes on to the end, and each window left open is a note
    outcome = rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    assert outcome.outcome == "rolled_back"
    assert all(fleet.prod(s) == (100, 0) for s in SERVICES)
    assert fleet.locks.holder("deploy/local") is None
    record = fleet.ledger.history("local")[0]
    assert record.rollback is not None
    assert [note for note in record.rollback.notes if note.startswith("maintenance window")] == [
        f"maintenance window {silence} not closed: ConnectionError: MemoryMaintenance.close: connection reset"
        for silence in state.traffic.maintenance.values()]
    assert "Note: maintenance window" in fleet.publisher.messages[0][2]


def test_failing_diagnostics_never_block_the_rollback() -> None:
    fleet = Fleet()
    state = _failed_at_50(fleet, failure={"analyse": lambda_error("ConnectionError", "x")})
    for port in (fleet.stopped, fleet.logs, fleet.sums):
        port.fail = True
    fleet.alarms.fail = True
    outcome = rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    assert outcome.outcome == "rolled_back"
    record = fleet.ledger.history("local")[0]
    assert record.rollback is not None
    assert len(record.rollback.notes) == 4  # two services' stopped tasks, the alarms, the metrics


def test_a_rollback_after_the_commit_point_leaves_the_live_release_alone() -> None:
    # GIVEN finalize recorded success, then timed out before it returned
    fleet = Fleet()
    state = _promoted(fleet)
    finalize(state, fleet.maintenance, fleet.ledger, fleet.notify(), LATER)
    state = DeployState.model_validate({**state.model_dump(), "failure": {"finalize": {"Error": "States.Timeout"}}})
    writes = fleet.writes()
    # WHEN the Catch rolls back / THEN it refuses, saying green is live, and touches nothing (the lock is kept)
    with pytest.raises(ReleaseCommittedError, match="green is live, so it is not rolled back"):
        rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    assert fleet.writes() == writes
    assert all(fleet.prod(s) == (0, 100) for s in SERVICES)
    assert fleet.ledger.history("local")[0].outcome == "succeeded"


def test_a_rollback_from_begin_under_another_holder_leaves_its_environment_alone() -> None:
    # GIVEN Begin failed (not LockHeldError) while another deploy holds the lock and scales its green
    fleet = Fleet()
    fleet.take_lock(owner=OTHER_EXECUTION)
    state = sample_state(failure={"begin": lambda_error("ConnectionError", "DynamoDB unreachable")})
    green = colour_resources("backend", "green").service_name
    fleet.services.update(CLUSTER, green, desired_count=3, task_definition="td:9")
    updates = len(fleet.services.updates)
    # WHEN rolled back
    outcome = rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    # THEN no traffic or service was changed, the other lock stands, and the record and notification say why
    assert (fleet.forwarding.forwards, len(fleet.services.updates)) == ([], updates)
    assert fleet.locks.locks["deploy/local"].owner == OTHER_EXECUTION
    assert outcome.reason == "begin failed: ConnectionError: DynamoDB unreachable"
    record = fleet.ledger.history("local")[0]
    assert record.rollback is not None
    assert record.rollback.notes == (f"deploy/local is held by {OTHER_EXECUTION}: its traffic and services were left "
                                     "as they are",)
    [(_, _, message)] = fleet.publisher.messages
    assert "Traffic and services: left as they are (deploy/local is another execution's)." in message
    assert "scaled to 0" not in message


def test_a_rollback_from_begin_before_the_lock_was_taken_still_puts_things_back() -> None:
    # GIVEN Begin failed before it took the lock (nobody holds it)
    fleet = Fleet()
    state = sample_state(failure={"begin": {"Error": "States.Timeout"}})
    outcome = rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    assert outcome.reason == "begin timed out"
    assert all(fleet.prod(s) == (100, 0) for s in SERVICES)
    assert fleet.ledger.history("local")[0].outcome == "rolled_back"


def test_a_rollback_that_cannot_put_traffic_back_raises_and_keeps_the_lock() -> None:
    # GIVEN elbv2 unreachable / WHEN rolled back / THEN it raises (Step Functions retries, then RollbackFailed pages)
    fleet = Fleet()
    state = _failed_at_50(fleet, failure={"analyse": lambda_error("ConnectionError", "x")})
    fleet.forwarding.fail = {"forward"}
    with pytest.raises(ConnectionError):
        rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    # AND the lock stays with this execution, and the record is still in progress
    assert fleet.locks.locks["deploy/local"].owner == EXECUTION
    assert fleet.ledger.history("local")[0].outcome == "in_progress"
    assert fleet.publisher.messages == []


# ------------------------------------------------------------------------------------------------ properties
strategies = st.one_of(
    st.just({"type": "all_at_once"}),
    st.builds(lambda steps, bake: {"type": "canary", "steps": [*sorted(steps), 100], "bake_seconds": bake},
              st.sets(st.integers(min_value=1, max_value=99), max_size=6), st.integers(min_value=0, max_value=900)),
)


def _weights_of(fleet: Fleet) -> list[tuple[int, int]]:
    return [fleet.prod(s) for s in SERVICES]


@settings(max_examples=40)
@given(strategy=strategies, live=st.sampled_from(["blue", "green"]))
def test_walking_every_step_ends_with_everything_on_the_target(strategy: dict[str, Any], live: Colour) -> None:
    # GIVEN any strategy, from either colour
    fleet = Fleet(live=live)
    state = sample_state(sample_run(strategy=strategy), live=live, release=True)
    target = other(live)
    plan = state.need_live().plan
    # WHEN Shift walks every step
    shares = []
    for _ in plan.steps:
        state = walk(state, fleet)
        # THEN every setting of every service sums to 100, both services move together
        assert all(blue + green == 100 for blue, green in _weights_of(fleet))
        assert len(set(_weights_of(fleet))) == 1
        shares.append(fleet.prod("backend")[0 if target == "blue" else 1])
    # AND the target's share only grows, ending at 100% on the last step
    assert shares == sorted(shares)
    assert shares[-1] == 100
    assert state.traffic is not None
    assert state.traffic.last


@settings(max_examples=40)
@given(strategy=strategies, live=st.sampled_from(["blue", "green"]), data=st.data())
def test_a_rollback_from_any_step_returns_everything_to_the_live_colour(strategy: dict[str, Any], live: Colour,
                                                                       data: st.DataObject) -> None:
    # GIVEN any strategy, from either colour, failed at any step
    fleet = Fleet(live=live)
    state = sample_state(sample_run(strategy=strategy), live=live, release=True)
    state = state.model_copy(update={"lock": begin(state, fleet.locks, fleet.ledger, T0)})
    scale_green(state, fleet.services, fleet.forwarding)
    steps = data.draw(st.integers(min_value=0, max_value=len(state.need_live().plan.steps)), label="steps taken")
    for _ in range(steps):
        state = walk(state, fleet)
    state = DeployState.model_validate({**state.model_dump(), "failure": {"shift": {"Error": "States.Timeout"}}})
    # WHEN rolled back
    rollback(state, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    # THEN 100/0 to the live colour for every service, the target at 0 tasks, no window left open, the lock free
    expected = (100, 0) if live == "blue" else (0, 100)
    assert _weights_of(fleet) == [expected, expected]
    assert all(fleet.desired(s, other(live)) == 0 for s in SERVICES)
    assert all(fleet.desired(s, live) == LIVE_COUNTS[s] for s in SERVICES)
    assert fleet.maintenance.windows == {}
    assert fleet.locks.holder("deploy/local") is None
    assert len(fleet.publisher.messages) == 1


# ------------------------------------------------------------------------------------------------ the twins
def test_the_twins_fail_on_demand_and_keep_the_adapters_contracts() -> None:
    fleet = Fleet()
    # closing an unknown or closed window is fine
    fleet.maintenance.close("silence-404")
    assert fleet.maintenance.closed == ["silence-404"]
    # an unknown service or listener is a LookupError, as the adapters raise
    with pytest.raises(LookupError):
        fleet.services.describe(CLUSTER, "safejob-local-nope-blue")
    with pytest.raises(LookupError):
        fleet.forwarding.weights("listener", "arn:nope")
    # an observation nobody configured is a LookupError
    fleet.metrics.default = None
    with pytest.raises(LookupError, match="no observation"):
        judged(_baking(fleet), fleet)
    # fail=True fails every call, a set only the named ones
    fleet.health.fail = True
    with pytest.raises(ConnectionError, match=r"MemoryTargetHealth\.states"):
        fleet.health.states("arn:tg")
    fleet.forwarding.fail = {"forward"}
    prod = TOPOLOGY.services["backend"].prod
    assert sum(fleet.forwarding.weights(prod.kind, prod.arn).values()) == 100  # reads still work
    with pytest.raises(ConnectionError):
        fleet.forwarding.forward("listener", "arn:nope", {})


def test_begin_refused_by_a_failing_ledger_keeps_the_lock_for_the_rollback_to_release() -> None:
    # GIVEN the ledger write failing after the lock was taken
    fleet = Fleet()
    state = sample_state()

    def down(record: Any) -> None:
        raise ConnectionError("DynamoDB unreachable")

    fleet.ledger.put = down  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        begin(state, fleet.locks, fleet.ledger, T0)
    # WHEN the Catch rolls back (the ledger is back) / THEN the rollback releases this execution's lock
    del fleet.ledger.put
    failed = DeployState.model_validate({**state.model_dump(), "failure": {"begin": lambda_error("ConnectionError",
                                                                                                "x")}})
    rollback(failed, fleet.rollback_ports(), fleet.notify(), CONFIG.canary, LATER)
    assert fleet.locks.holder("deploy/local") is None
    assert fleet.ledger.history("local")[0].outcome == "rolled_back"


def test_the_run_input_is_what_the_executions_send() -> None:
    # events/deploy/execution_canary.json is a production input: the local stack refuses it, naming the environment
    body = json.loads((ROOT / "events" / "deploy" / "execution_canary.json").read_text())
    with pytest.raises(DeployInputError) as caught:
        validate_input(ValidateRequest(input=body, execution_id=EXECUTION, execution_name=EXECUTION_NAME,
                                       started_at=T0), SETUP)
    assert [path for path, _ in caught.value.problems] == ["environment"]
    assert sample_run(**{**body, "environment": "local"}).request.git_sha == body["git_sha"]


def test_migration_output_reaches_the_ledger() -> None:
    fleet = Fleet()
    state = sample_state(migration=Migration(applied=("jobs.0042_add_salary",)))
    begin(state, fleet.locks, fleet.ledger, T0)
    assert fleet.ledger.history("local")[0].migrations_applied == ("jobs.0042_add_salary",)


def test_traffic_state_and_analysis_round_trip_through_json() -> None:
    # The state machine carries every result as JSON between tasks: what shift and analyse return parses back.
    fleet = Fleet()
    state = judged(_baking(fleet), fleet)
    assert state.traffic is not None
    assert state.analysis is not None
    assert TrafficState.model_validate_json(state.traffic.model_dump_json()) == state.traffic
    assert Analysis.model_validate_json(state.analysis.model_dump_json()) == state.analysis
    assert DeployState.model_validate_json(state.model_dump_json()) == state
