"""deploy end to end in the emulator: statemachines/deploy.asl.json with our real handlers, against the core stack's
blue/green services, listeners and target groups in moto. The local fleet (tools/safejob_tools/localaws/fleet.py)
plays the tasks, the test listener and the traffic: what an image does (healthy or not, its 5xx rate, its smoke
answers) is set per image. A backend deploy runs the migrate child against the real Django fixture and PostgreSQL.

After every failure the invariants hold: 100% of the traffic on the colour that was live, the other colour at 0
tasks, the lock released, the ledger recording the rollback and why, and exactly one notification."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from safejob_tools.localaws import containers
from safejob_tools.localaws.containers import DjangoProjectRunner, release_project
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.deploys import Deploys, Snapshot
from safejob_tools.localaws.fleet import Behaviour, LocalFleet

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

TASK_TIMEOUT = 5  # config/deploy.local.yaml timings: task_timeout_seconds
APPROVAL_TIMEOUT = 8  # and approval_timeout_seconds
MIGRATE_TIMEOUT = 40  # migrate_timeout_seconds
ROLLBACK_TIMEOUT = 10  # rollback_timeout_seconds
VALIDATE_TIMEOUT = 20  # the Validate state's TimeoutSeconds (static: the timings are not read yet)
MAX_TRANSITIONS = 80  # per 3-step canary deploy (the cost target)


@pytest.fixture
def deploys(stack: DeployedStack, fleet: LocalFleet) -> Iterator[Deploys]:
    driver = Deploys(stack)
    fleet.start()
    yield driver
    driver.cleanup()


def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


def assert_rolled_back(deploys: Deploys, arn: str, before: Snapshot, step: str | None, why: str) -> dict[str, Any]:
    """The invariants after a failure: the platform as it was, the ledger and exactly one notification saying why."""
    described = deploys.sfn.describe_execution(executionArn=arn)
    assert described["status"] == "FAILED", described
    after = deploys.snapshot()
    live = before.live()
    assert after.weights == {service: {live: 100, other(live): 0} for service in after.weights}
    assert all(after.desired[service][other(live)] == 0 for service in after.desired)
    assert after.desired == {service: {**before.desired[service], other(live): 0} for service in before.desired}
    assert after.lock_owner is None
    record = deploys.record(arn)
    assert record is not None, record
    assert record.outcome == "rolled_back", record
    assert record.rollback is not None, record.rollback
    assert why in record.rollback.reason, record.rollback
    assert record.rollback.failed_step == step
    [(subject, message)] = outcomes(deploys, arn)
    assert "rolled back" in subject, message
    assert why in message, message
    return described


def outcomes(deploys: Deploys, arn: str) -> list[tuple[str, str]]:
    """The deploy's notifications of its outcome (an approval request is a question, not an outcome)."""
    return [n for n in deploys.notifications(arn) if "waits for approval" not in n[1]]


def assert_nothing_changed(deploys: Deploys, arn: str, before: Snapshot) -> dict[str, Any]:
    described = deploys.sfn.describe_execution(executionArn=arn)
    assert described["status"] == "FAILED", described
    assert deploys.snapshot() == before
    assert deploys.record(arn) is None
    assert deploys.notifications(arn) == []
    return described


# ------------------------------------------------------------------------------------------------ happy paths
def test_a_canary_deploy_is_promoted_step_by_step(deploys: Deploys) -> None:
    # GIVEN a new frontend image, and the platform as it is
    image = deploys.push("frontend", "good-1")
    before = deploys.snapshot()
    live = before.live()
    # WHEN it is deployed in three canary steps
    arn = deploys.start(deploys.request({"frontend": image}))
    result = deploys.wait(arn)
    # THEN it succeeds: the new colour is live for both services, with the live counts, and the old one is at 0
    assert result["status"] == "SUCCEEDED", result.get("cause")
    after = deploys.snapshot()
    target = other(live)
    assert after.live() == target
    assert after.desired == {s: {target: before.desired[s][live], live: 0} for s in before.desired}
    # AND the backend, not in the request, moved with its live task definition
    assert after.task_definitions["backend"][target] == before.task_definitions["backend"][live]
    assert after.task_definitions["frontend"][target] != before.task_definitions["frontend"][live]
    # AND it went through 10, 50 and 100%, each baked and analysed, in at most 80 transitions
    states = deploys.states(arn)
    assert states.count("Shift") == 3
    assert states.count("Analyse") >= 3
    assert "Migrate" not in states
    assert len(states) <= MAX_TRANSITIONS, len(states)
    # AND the ledger has the three promoted steps, the lock is free, and people were told once
    record = deploys.record(arn)
    assert record is not None
    assert record.outcome == "succeeded"
    assert record.live_colour == target
    assert [(s.weight, s.verdict) for s in record.steps] == [(10, "promote"), (50, "promote"), (100, "promote")]
    assert after.lock_owner is None
    [(subject, _)] = deploys.notifications(arn)
    assert "deployed" in subject


def test_all_at_once_moves_everything_in_one_step_without_analysis(deploys: Deploys) -> None:
    image = deploys.push("frontend", "good-2")
    before = deploys.snapshot()
    result = deploys.run(deploys.request({"frontend": image}, strategy={"type": "all_at_once"}))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert deploys.snapshot().live() == other(before.live())
    states = deploys.states(result["executionArn"])
    assert states.count("Shift") == 1
    assert "Analyse" not in states
    assert "Bake" not in states


def test_an_approved_deploy_proceeds(deploys: Deploys) -> None:
    image = deploys.push("frontend", "good-3")
    before = deploys.snapshot()
    arn = deploys.start(deploys.request({"frontend": image}, approval_required=True))
    # WHEN the approver answers yes through the command in the notification
    deploys.answer(deploys.approval_token(arn), approved=True)
    assert deploys.wait(arn)["status"] == "SUCCEEDED"
    assert deploys.snapshot().live() == other(before.live())


def test_a_rejected_deploy_rolls_back_before_any_traffic_moves(deploys: Deploys) -> None:
    image = deploys.push("frontend", "good-4")
    before = deploys.snapshot()
    arn = deploys.start(deploys.request({"frontend": image}, approval_required=True))
    deploys.answer(deploys.approval_token(arn), approved=False, reason="not during the sale")
    deploys.wait(arn)
    assert_rolled_back(deploys, arn, before, "approval", "rejected by test: not during the sale")
    assert "Shift" not in deploys.states(arn)


def test_without_an_answer_the_approval_times_out_and_rolls_back(deploys: Deploys) -> None:
    image = deploys.push("frontend", "good-5")
    before = deploys.snapshot()
    arn = deploys.start(deploys.request({"frontend": image}, approval_required=True))
    deploys.wait(arn)
    assert_rolled_back(deploys, arn, before, "approval", "approval timed out")


# ------------------------------------------------------------------------------------------------ bad releases
def test_a_release_with_errors_is_rolled_back_by_the_canary_analysis(deploys: Deploys, fleet: LocalFleet) -> None:
    # GIVEN an image that answers 30% of its requests with a 5xx
    image = deploys.push("frontend", "bad-errors")
    fleet.behave(image, Behaviour(error_rate=0.3))
    before = deploys.snapshot()
    # WHEN it is deployed
    arn = deploys.start(deploys.request({"frontend": image}))
    deploys.wait(arn)
    # THEN the analysis of the first step rolls it back: 10% is all it ever got
    assert_rolled_back(deploys, arn, before, "analyse", "canary analysis at 10%")
    assert deploys.states(arn).count("Shift") == 1
    record = deploys.record(arn)
    assert record is not None
    assert record.steps[-1].verdict == "rollback"


def test_a_release_that_never_gets_healthy_is_rolled_back_with_its_logs(deploys: Deploys, fleet: LocalFleet) -> None:
    image = deploys.push("frontend", "bad-health")
    fleet.behave(image, Behaviour(healthy=False, log_lines=("booting", "Error: cannot bind :8000")))
    before = deploys.snapshot()
    arn = deploys.start(deploys.request({"frontend": image}))
    deploys.wait(arn)
    # (the local fleet, like ECS's circuit breaker, fails the deployment of tasks that keep failing health checks)
    assert_rolled_back(deploys, arn, before, "check_green", "check_green failed: GreenUnhealthyError")
    record = deploys.record(arn)
    assert record is not None
    assert record.rollback is not None
    assert any("Error: cannot bind :8000" in task.last_log_lines for task in record.rollback.stopped_tasks)
    [(_, message)] = deploys.notifications(arn)
    assert "Error: cannot bind :8000" in message


def test_a_release_failing_its_smoke_tests_never_takes_traffic(deploys: Deploys, fleet: LocalFleet) -> None:
    image = deploys.push("frontend", "bad-smoke")
    fleet.behave(image, Behaviour(smoke={"/": (500, "Internal Server Error")}))
    before = deploys.snapshot()
    arn = deploys.start(deploys.request({"frontend": image}))
    deploys.wait(arn)
    assert_rolled_back(deploys, arn, before, "smoke", "/: expected status 200, got 500")
    assert "Shift" not in deploys.states(arn)


# ------------------------------------------------------------------------------------------------ refusals
def test_an_unknown_digest_changes_nothing(deploys: Deploys) -> None:
    # GIVEN a digest that was never pushed
    image = deploys.push("frontend", "pushed").rsplit("@", 1)[0] + "@sha256:" + "e" * 64
    before = deploys.snapshot()
    # WHEN it is deployed
    arn = deploys.start(deploys.request({"frontend": image}))
    described = deploys.wait(arn)
    # THEN preflight refuses it, naming the image and the fix, and nothing changed: no lock, ledger or notification
    assert_nothing_changed(deploys, arn, before)
    assert described["error"] == "PreflightRefusedError"
    assert "image:frontend" in described["cause"]
    assert "fix: push the image" in described["cause"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"images": {"frontend": "123456789012.dkr.ecr.us-east-1.amazonaws.com/safejob/local/frontend:latest"}},
     "images.frontend"),
    ({"surprise": True}, "surprise"),
    ({"environment": "production"}, "environment"),
    ({"strategy": {"type": "canary", "steps": [50, 10], "bake_seconds": 1}}, "strategy"),
])
def test_a_bad_input_is_refused_before_any_side_effect(deploys: Deploys, changes: dict[str, Any],
                                                       field: str) -> None:
    image = deploys.push("frontend", "good-6")
    before = deploys.snapshot()
    arn = deploys.start({**deploys.request({"frontend": image}), **changes})
    described = deploys.wait(arn)
    assert_nothing_changed(deploys, arn, before)
    assert described["error"] == "DeployInputError"
    assert field in described["cause"]
    assert deploys.states(arn) == ["Validate", "InputRefused"]


def test_a_second_concurrent_deploy_is_refused_by_the_lock(deploys: Deploys) -> None:
    # GIVEN a deploy waiting for its approval, holding the lock
    first = deploys.start(deploys.request({"frontend": deploys.push("frontend", "good-7")}, approval_required=True))
    token = deploys.approval_token(first)
    before = deploys.snapshot()
    assert before.lock_owner == first
    # WHEN a second deploy starts
    second = deploys.start(deploys.request({"frontend": deploys.push("frontend", "good-8")}))
    described = deploys.wait(second)
    # THEN it is refused, naming the holder, and changes nothing
    assert_nothing_changed(deploys, second, before)
    assert first in described["cause"]
    # AND the first goes on
    deploys.answer(token, approved=False, reason="test over")
    deploys.wait(first)
    assert deploys.snapshot().lock_owner is None


# ------------------------------------------------------------------------------------------------ fault injection
@pytest.mark.parametrize("mode", ["fails", "times out"])
@pytest.mark.parametrize(("function", "refused"), [("DeployValidateFunction", "ValidateFailed"),
                                                   ("DeployPreflightFunction", "PreflightFailed")])
def test_a_failing_check_changes_nothing(deploys: Deploys, function: str, refused: str, mode: str) -> None:
    # GIVEN the input check or the preflight crashing, or outliving its state's timeout
    image = deploys.push("frontend", f"fault-{function}-{mode}")
    before = deploys.snapshot()
    delay = VALIDATE_TIMEOUT + 2 if mode == "times out" and function == "DeployValidateFunction" else (
        TASK_TIMEOUT + 2 if mode == "times out" else 0)
    with deploys.aws.runtime.failing(deploys.stack.resources[function], delay_seconds=delay):
        arn = deploys.start(deploys.request({"frontend": image}))
        described = deploys.wait(arn, timeout=120)
    # THEN the deploy ends there, and nothing was changed, recorded or sent
    assert_nothing_changed(deploys, arn, before)
    assert deploys.states(arn)[-1] == refused
    assert described["error"] == refused
    failed = [e for e in deploys.history(arn) if e["type"] in ("TaskFailed", "TaskTimedOut")]
    assert failed[-1]["type"] == ("TaskTimedOut" if mode == "times out" else "TaskFailed")


STEPS = [  # (function logical id, the step named in the ledger, a state entered before the fault)
    ("DeployBeginFunction", "begin"),
    ("DeployRegisterFunction", "register"),
    ("DeployScaleGreenFunction", "scale_green"),
    ("DeployCheckGreenFunction", "check_green"),
    ("DeploySmokeFunction", "smoke"),
    ("DeployApprovalFunction", "approval"),
    ("DeployShiftFunction", "shift"),
    ("DeployAnalyseFunction", "analyse"),
    ("DeployFinalizeFunction", "finalize"),
]


@pytest.mark.parametrize("mode", ["fails", "times out"])
@pytest.mark.parametrize(("function", "step"), STEPS, ids=[s for _, s in STEPS])
def test_a_failing_task_is_rolled_back_and_leaves_the_platform_as_it_was(
    deploys: Deploys, function: str, step: str, mode: str,
) -> None:
    # GIVEN a task of the deploy that fails (a crash) or outlives its state's timeout
    image = deploys.push("frontend", f"fault-{step}-{mode}")
    before = deploys.snapshot()
    delay = (APPROVAL_TIMEOUT if step == "approval" else TASK_TIMEOUT) + 2 if mode == "times out" else 0
    with deploys.aws.runtime.failing(deploys.stack.resources[function], delay_seconds=delay):
        arn = deploys.start(deploys.request({"frontend": image}, approval_required=step == "approval"))
        deploys.wait(arn)
    # THEN the deploy rolled back, and every invariant holds
    why = f"{step} timed out" if mode == "times out" else f"{step} failed"
    assert_rolled_back(deploys, arn, before, step, why)


@pytest.mark.parametrize("mode", ["fails", "times out"])
def test_a_failing_retire_keeps_the_release_live_and_says_so(deploys: Deploys, mode: str) -> None:
    # GIVEN a deploy whose last task (the old colour to 0) fails, or times out, after the promotion (4 attempts)
    image = deploys.push("frontend", f"fault-retire-{mode}")
    before = deploys.snapshot()
    delay = TASK_TIMEOUT + 2 if mode == "times out" else 0
    with deploys.aws.runtime.failing(deploys.stack.resources["DeployRetireFunction"], delay_seconds=delay):
        arn = deploys.start(deploys.request({"frontend": image}))
        described = deploys.wait(arn, timeout=180)
    # THEN the execution fails (the state machine's failure alarm pages) but the release stays live and recorded
    assert described["status"] == "FAILED"
    assert described["error"] == "RetireFailed"
    after = deploys.snapshot()
    assert after.live() == other(before.live())
    record = deploys.record(arn)
    assert record is not None
    assert record.outcome == "succeeded"
    # AND the old colour still runs (nothing was lost); the lock expires by itself (released here for the next tests)
    assert after.desired["frontend"][before.live()] == before.desired["frontend"][before.live()]
    deploys.locks.release("deploy/local", arn)
    for service in ("backend", "frontend"):
        deploys.ecs.update_service(cluster=deploys.stack.output("ClusterName"),
                                   service=deploys.stack.output(f"{service.capitalize()}"
                                                                f"{before.live().capitalize()}ServiceName"),
                                   desiredCount=0)


@pytest.mark.parametrize("mode", ["fails", "times out"])
def test_a_failing_rollback_keeps_the_lock_and_fails_loudly(deploys: Deploys, fleet: LocalFleet, mode: str) -> None:
    # GIVEN a release the smoke tests reject, and a rollback task that cannot run, or never ends (4 attempts)
    image = deploys.push("frontend", f"fault-rollback-{mode}")
    fleet.behave(image, Behaviour(smoke={"/": (503, "down")}))
    delay = ROLLBACK_TIMEOUT + 2 if mode == "times out" else 0
    with deploys.aws.runtime.failing(deploys.stack.resources["DeployRollbackFunction"], delay_seconds=delay):
        arn = deploys.start(deploys.request({"frontend": image}))
        described = deploys.wait(arn, timeout=240)
    # THEN the execution fails as RollbackFailed, and the lock stays: nobody deploys over a half-rolled-back platform
    assert described["status"] == "FAILED"
    assert "RollbackFailed" in deploys.states(arn)
    assert deploys.snapshot().lock_owner == arn
    # (the runbook's manual rollback, done here so the next tests start clean)
    with contextlib.suppress(Exception):
        deploys.locks.release("deploy/local", arn)


# ------------------------------------------------------------------------------------------------ with migrations
@pytest.fixture
def backend_releases(tmp_path: Path, postgres_database: str) -> Iterator[Callable[[str], str]]:
    """Push a backend image whose migrate tasks run a copy of the Django fixture (the initial migrations)."""
    runner = DjangoProjectRunner(database_url=postgres_database)
    with containers.installed(runner):
        def release(name: str, deploys: Deploys) -> str:  # type: ignore[no-untyped-def]
            image = deploys.push("backend", name)
            runner.images[image] = release_project(tmp_path / name, ["accounts.0001_initial", "jobs.0001_initial"])
            return image

        yield release  # type: ignore[misc]


@pytest.mark.postgres
def test_a_backend_deploy_migrates_before_traffic_moves(deploys: Deploys, backend_releases: Any) -> None:
    image = backend_releases("backend-1", deploys)
    arn = deploys.start(deploys.request({"backend": image}))
    result = deploys.wait(arn)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    states = deploys.states(arn)
    assert states.index("Migrate") < states.index("ScaleGreen") < states.index("Shift")
    record = deploys.record(arn)
    assert record is not None
    assert record.migrations_applied == ("accounts.0001_initial", "jobs.0001_initial")


@pytest.mark.postgres
def test_a_failed_migration_rolls_the_deploy_back(deploys: Deploys, backend_releases: Any) -> None:
    image = backend_releases("backend-bad", deploys)
    before = deploys.snapshot()
    containers.current().inject("migrate --plan", exit_code=1, output=["OperationalError: connection refused"])  # type: ignore[attr-defined]
    arn = deploys.start(deploys.request({"backend": image}))
    deploys.wait(arn)
    assert_rolled_back(deploys, arn, before, "migrate", "migrate failed")


@pytest.mark.postgres
def test_a_migration_that_outlives_its_timeout_rolls_the_deploy_back(deploys: Deploys, backend_releases: Any) -> None:
    # GIVEN a migrate child whose plan task runs longer than the deploy's migrate timeout
    image = backend_releases("backend-slow", deploys)
    before = deploys.snapshot()
    containers.current().inject("migrate --plan", exit_code=0, output=["still planning"],  # type: ignore[attr-defined]
                                delay_seconds=MIGRATE_TIMEOUT + 5)
    arn = deploys.start(deploys.request({"backend": image}))
    deploys.wait(arn, timeout=180)
    # THEN the deploy rolls back at its timeout, whatever the child does next
    assert_rolled_back(deploys, arn, before, "migrate", "migrate timed out")
    # (and the child ends on its own: its plan finishes, it applies nothing else here; wait so that its migrate lock
    # is free for the next tests)
    migrate = deploys.stack.output("MigrateStateMachineArn")
    from safejob_tools.localaws.driver import wait_until

    wait_until(lambda: not deploys.sfn.list_executions(stateMachineArn=migrate, statusFilter="RUNNING")["executions"],
               timeout=120, what="the migrate child to end")
