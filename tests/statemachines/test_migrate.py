"""migrate end to end in the emulator: statemachines/migrate.asl.json with our real handlers, its ECS tasks run by the
local container runner (moto_gaps.bridge_ecs_run_task) as the real Django fixture project against a real PostgreSQL
database. Each test gets a fresh database; the releases are copies of the fixture project holding some migrations.

After every failure the invariants hold: the lock is released, the database holds no partial migration (what was
applied before, or what the approved reverse left), exactly one notification was sent, and the rollback options
waited for a decision exactly when the database may have changed (apply, verify)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from safejob_ops.adapters.locks import DynamoLocks
from safejob_ops.migrate.models import LockHolder
from safejob_tools.localaws import containers
from safejob_tools.localaws.containers import DjangoProjectRunner, release_project
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.driver import Inbox, wait_until

pytestmark = [pytest.mark.emulator, pytest.mark.postgres, pytest.mark.slow]

REPOSITORY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/safejob/local/backend"
INITIAL = ["accounts.0001_initial", "jobs.0001_initial"]
RELEASES = {
    "initial": INITIAL,  # CreateModel only: expand
    "index": [*INITIAL, "jobs.0002_job_title_idx"],  # AddIndexConcurrently: expand
    "contract": [*INITIAL, "accounts.0002_account_expand", "accounts.0003_account_contract"],  # contract operations
}
TIMEOUTS = {"lock_timeout_seconds": 5, "statement_timeout_seconds": 60, "task_seconds": 120,
            "snapshot_seconds": 60, "snapshot_poll_seconds": 0, "approval_seconds": 120}
PLAN, APPLY, VERIFY = "migrate --plan", "migrate --no-input", "migrate --check"
DEADLINE = 90.0


def image_of(release: str) -> str:
    return f"{REPOSITORY}@sha256:{hashlib.sha256(release.encode()).hexdigest()}"


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The project directory of each release image."""
    root = tmp_path_factory.mktemp("releases")
    return {image_of(name): release_project(root / name, migrations) for name, migrations in RELEASES.items()}


class Migrations:
    """Starts migrate executions in the deployed stack and reads what they did: the database, the lock, the
    notifications (through an SQS queue subscribed to the notification topic) and the container runs."""

    def __init__(self, stack: DeployedStack, runner: DjangoProjectRunner, dsn: str) -> None:
        self.stack, self.runner, self.dsn = stack, runner, dsn
        self.aws = stack.aws
        self.sfn = self.aws.client("stepfunctions")
        self.locks = DynamoLocks(stack.output("OpsLockTableName"), client=self.aws.client("dynamodb"))
        self.started: list[str] = []
        self.inbox = Inbox(stack)

    # ------------------------------------------------------------------ executions
    def start(self, release: str = "initial", **changes: Any) -> str:
        document = {"environment": "local", "image": image_of(release), "git_sha": "0123abc4",
                    "requested_by": "test", "timeouts": TIMEOUTS, **changes}
        started = self.sfn.start_execution(stateMachineArn=self.stack.output("MigrateStateMachineArn"),
                                           name=f"t-{uuid.uuid4().hex[:12]}", input=json.dumps(document))
        arn: str = started["executionArn"]
        self.started.append(arn)
        return arn

    def wait(self, arn: str) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=arn)
            return described if described["status"] != "RUNNING" else None

        result: dict[str, Any] = wait_until(ended, timeout=DEADLINE, what=f"execution {arn} to end")
        return result

    def run(self, release: str = "initial", **changes: Any) -> dict[str, Any]:
        return self.wait(self.start(release, **changes))

    def states(self, arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]

    # ------------------------------------------------------------------ notifications and approvals
    def notifications(self, arn: str) -> list[str]:
        name = arn.rsplit(":", 1)[-1]
        return [m for _, m in self.inbox.read() if f" {name} " in m]

    def approval_token(self, arn: str) -> str:
        """Wait for the rollback options of `arn` and read the task token from the notification, as a person would."""
        [message] = wait_until(lambda: self.notifications(arn), timeout=DEADLINE, what="the rollback options")
        assert "send-task-success" in message, message
        token: str = message.split("--task-token '", 1)[1].split("'", 1)[0]
        return token

    def answer(self, token: str, action: str) -> None:
        self.sfn.send_task_success(taskToken=token, output=json.dumps({"action": action, "decided_by": "test"}))

    def reject(self, token: str) -> None:
        self.sfn.send_task_failure(taskToken=token, error="Rejected", cause="investigating first")

    # ------------------------------------------------------------------ what the executions did
    def lock(self) -> LockHolder | None:
        return self.locks.holder("migrate/local")

    def commands(self) -> list[str]:
        return [" ".join(run.command) for run, _ in self.runner.runs]

    def applied(self) -> list[str]:
        with psycopg.connect(self.dsn) as conn:
            if conn.execute("select to_regclass('public.django_migrations')").fetchone() == (None,):
                return []
            rows = conn.execute("select app || '.' || name from django_migrations "
                                "where app in ('accounts', 'jobs') order by id").fetchall()
        return [row[0] for row in rows]

    def tables(self) -> set[str]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute("select tablename from pg_tables where schemaname = 'public'").fetchall()
        return {row[0] for row in rows}

    def cleanup(self) -> None:
        for arn in self.started:
            if self.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                self.sfn.stop_execution(executionArn=arn, error="TestCleanup")
            with contextlib.suppress(Exception):
                self.locks.release("migrate/local", arn)  # a failed test must not block the next ones
        self.inbox.close()


@pytest.fixture
def migrations(stack: DeployedStack, postgres_database: str, releases: dict[str, Path]) -> Iterator[Migrations]:
    runner = DjangoProjectRunner(database_url=postgres_database)
    runner.images.update(releases)
    with containers.installed(runner):
        driver = Migrations(stack, runner, postgres_database)
        yield driver
        driver.cleanup()


def assert_released_with_one_notification(migrations: Migrations, arn: str, step: str) -> str:
    assert migrations.lock() is None
    [message] = migrations.notifications(arn)
    assert f"failed at step '{step}'" in message
    return message


# ------------------------------------------------------------------------------------------------ happy paths
def test_expand_plans_are_applied_and_verified(migrations: Migrations) -> None:
    # GIVEN an empty database WHEN the initial release (CreateModel only) is migrated
    first = migrations.run("initial")
    # THEN it succeeds, and the database really has the new tables and records the migrations
    assert first["status"] == "SUCCEEDED", first.get("cause")
    output = json.loads(first["output"])
    assert output["applied"] == INITIAL
    assert output["previous_state"] == {"accounts": "zero", "jobs": "zero"}
    assert {"accounts_account", "accounts_loginaudit", "jobs_job", "jobs_jobtag"} <= migrations.tables()
    assert migrations.applied() == INITIAL
    # AND it planned, applied with the timeouts in PGOPTIONS, then verified; the lock is free; nobody was notified
    assert [next(k for k in (PLAN, APPLY, VERIFY) if k in c) for c in migrations.commands()] == [PLAN, APPLY, VERIFY]
    apply_run = migrations.runner.runs[1][0]
    assert apply_run.environment["PGOPTIONS"] == "-c lock_timeout=5s -c statement_timeout=60s"
    assert migrations.lock() is None
    assert migrations.notifications(first["executionArn"]) == []
    # AND WHEN the same release runs again, there is nothing to apply
    again = migrations.run("initial")
    assert again["status"] == "SUCCEEDED", again.get("cause")
    assert json.loads(again["output"])["applied"] == []
    assert "Apply" not in migrations.states(again["executionArn"])
    # AND WHEN the next release (an index built concurrently) runs with a snapshot
    second = migrations.run("index", snapshot=True)
    assert second["status"] == "SUCCEEDED", second.get("cause")
    output = json.loads(second["output"])
    # THEN only the new migration is applied, after a pre-migration snapshot
    assert output["applied"] == ["jobs.0002_job_title_idx"]
    assert output["previous_state"] == {"jobs": "0001_initial"}
    name = second["executionArn"].rsplit(":", 1)[-1]
    assert output["snapshot_id"] == f"safejob-local-premigrate-{name}"
    rds = migrations.aws.client("rds")
    [snapshot] = rds.describe_db_snapshots(DBSnapshotIdentifier=output["snapshot_id"])["DBSnapshots"]
    assert snapshot["DBInstanceIdentifier"] == migrations.stack.output("DbInstanceId")
    with psycopg.connect(migrations.dsn) as conn:
        assert conn.execute("select indexname from pg_indexes where indexname = 'jobs_job_title_idx'").fetchone()
    assert output["timings"]["apply_seconds"] is not None
    assert output["task_definition_arn"].rsplit(":", 1)[0].endswith("task-definition/safejob-local-migrate")


def test_a_contract_plan_is_refused_in_the_expand_phase(migrations: Migrations) -> None:
    # GIVEN a database serving the initial release (on an empty one, every operation acts on a new table: expand)
    assert migrations.run("initial")["status"] == "SUCCEEDED"
    tables = migrations.tables()
    runs = len(migrations.runner.runs)
    # WHEN a release holding contract operations (a NOT NULL field with a Python default, removed fields) runs in
    # the expand phase
    refused = migrations.run("contract")
    # THEN it is refused before anything is applied, and says which operations and how to fix them
    assert refused["status"] == "FAILED"
    assert refused["error"] == "MigrationRefusedError"
    assert "accounts.0002_account_expand, operation 3" in refused["cause"]
    assert "accounts.0003_account_contract, operation 1" in refused["cause"]
    assert (migrations.tables(), migrations.applied()) == (tables, INITIAL)
    assert [c for c in migrations.commands()[runs:] if PLAN not in c] == []
    message = assert_released_with_one_notification(migrations, refused["executionArn"], "classify")
    assert "Fix:" in message
    assert "send-task-success" not in message


def test_the_contract_phase_applies_a_contract_plan(migrations: Migrations) -> None:
    assert migrations.run("initial")["status"] == "SUCCEEDED"
    done = migrations.run("contract", phase="contract")
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert migrations.applied() == RELEASES["contract"]
    assert "accounts_loginaudit" not in migrations.tables()  # DeleteModel


# ------------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(("changes", "field"), [
    ({"image": f"{REPOSITORY}:1.4.2"}, "image"),
    ({"phase": "cleanup"}, "phase"),
    ({"force": True}, "force"),
])
def test_a_bad_input_fails_before_any_side_effect(migrations: Migrations, changes: dict[str, Any],
                                                  field: str) -> None:
    ecs = migrations.aws.client("ecs")
    revisions = ecs.list_task_definitions(familyPrefix="safejob-local-migrate")["taskDefinitionArns"]
    failed = migrations.run(**changes)
    assert failed["status"] == "FAILED"
    assert failed["error"] == "MigrateInputError"
    assert json.loads(failed["cause"])["errorMessage"].startswith(f"{field}: ")
    # nothing was touched: no lock, no task definition, no task, no notification
    assert migrations.states(failed["executionArn"]) == ["Validate", "InputRefused"]
    assert migrations.lock() is None
    assert ecs.list_task_definitions(familyPrefix="safejob-local-migrate")["taskDefinitionArns"] == revisions
    assert migrations.runner.runs == []
    assert migrations.notifications(failed["executionArn"]) == []


def test_a_second_concurrent_execution_is_refused_by_the_lock(migrations: Migrations) -> None:
    # GIVEN a first execution waiting for a rollback decision (its verify failed), holding the lock
    migrations.runner.inject(VERIFY, exit_code=1, output=["You have 1 unapplied migration(s)."])
    first = migrations.start("initial")
    token = migrations.approval_token(first)
    holder = migrations.lock()
    assert holder is not None
    assert holder.owner == first
    # WHEN a second execution starts
    second = migrations.run("index")
    # THEN it is refused by the lock, naming the holder, having changed nothing
    assert second["status"] == "FAILED"
    assert second["error"] == "LockHeldError"
    assert first.rsplit(":", 1)[-1] in second["cause"]
    assert migrations.states(second["executionArn"]) == ["Validate", "Lock", "LockRefused"]
    assert migrations.notifications(second["executionArn"]) == []
    assert migrations.lock() == holder
    # AND WHEN the first is answered, it releases the lock
    migrations.reject(token)
    assert migrations.wait(first)["status"] == "FAILED"
    assert migrations.lock() is None


# ------------------------------------------------------------------------------------------------ fault injection
def inject_plan_exit(m: Migrations) -> contextlib.AbstractContextManager[None]:
    m.runner.inject(PLAN, exit_code=1, output=["django.db.utils.OperationalError: connection refused"])
    return contextlib.nullcontext()


def inject_unreadable_plan(m: Migrations) -> contextlib.AbstractContextManager[None]:
    m.runner.inject(PLAN, exit_code=0, output=["System check identified some issues:", "no plan here"])
    return contextlib.nullcontext()


def function_failure(logical_id: str) -> Callable[[Migrations], contextlib.AbstractContextManager[None]]:
    def inject(m: Migrations) -> contextlib.AbstractContextManager[None]:
        return m.aws.runtime.failing(m.stack.resources[logical_id])

    return inject


@pytest.mark.parametrize(("step", "inject", "changes"), [
    ("lock", function_failure("MigrateLockFunction"), {}),
    ("register", function_failure("MigrateRegisterFunction"), {}),
    ("plan", inject_plan_exit, {}),
    ("read_plan", inject_unreadable_plan, {}),
    ("read_plan", function_failure("MigratePlanFunction"), {}),
    ("snapshot", function_failure("MigrateSnapshotFunction"), {"snapshot": True}),
], ids=["lock-lambda", "register-lambda", "plan-task-exit-1", "plan-unreadable", "plan-lambda", "snapshot-lambda"])
def test_a_failure_before_apply_is_reported_once_and_changes_nothing(
    migrations: Migrations, step: str, inject: Callable[[Migrations], contextlib.AbstractContextManager[None]],
    changes: dict[str, Any],
) -> None:
    # GIVEN one step made to fail WHEN a migration runs
    with inject(migrations):
        failed = migrations.run("initial", **changes)
    # THEN it fails at that step, nothing was applied, the lock is released, and one notification says so
    assert failed["status"] == "FAILED"
    assert failed["error"] == "MigrationFailedError"
    assert failed["cause"].startswith(f"{step} failed: ")
    assert migrations.tables() == set()
    assert [c for c in migrations.commands() if PLAN not in c] == []
    message = assert_released_with_one_notification(migrations, failed["executionArn"], step)
    assert "Nothing was applied" in message
    assert "AskRollback" not in migrations.states(failed["executionArn"])
    if step == "plan":
        assert "OperationalError: connection refused" in message  # the task's last log lines


def test_a_failed_apply_waits_for_a_decision_and_a_rejection_releases_the_lock(migrations: Migrations) -> None:
    migrations.runner.inject(APPLY, exit_code=1, output=["Applying accounts.0001_initial...",
                                                         "psycopg.errors.LockNotAvailable: canceling statement"])
    arn = migrations.start("initial")
    # THEN the rollback options wait for a decision, the lock still held, with the task's last log lines
    token = migrations.approval_token(arn)
    [message] = migrations.notifications(arn)
    assert "LockNotAvailable" in message
    assert "accounts -> zero" in message
    lock = migrations.lock()
    assert lock is not None
    assert lock.owner == arn
    # AND WHEN the decision is a rejection, the execution fails, nothing was rolled back, the lock is released
    migrations.reject(token)
    failed = migrations.wait(arn)
    assert failed["status"] == "FAILED"
    assert "apply failed: States.TaskFailed" in failed["cause"]
    assert "rollback declined (Rejected" in failed["cause"]  # (moto drops SendTaskFailure's cause)
    assert migrations.lock() is None
    assert migrations.applied() == []
    assert len(migrations.notifications(arn)) == 1


def test_a_failed_verify_is_reversed_when_approved(migrations: Migrations) -> None:
    # GIVEN the initial release applied, then a release whose verify fails after its apply
    assert migrations.run("initial")["status"] == "SUCCEEDED"
    migrations.runner.inject(VERIFY, exit_code=1, output=["unexpected: unapplied migrations"])
    arn = migrations.start("index")
    token = migrations.approval_token(arn)
    assert migrations.applied() == RELEASES["index"]  # applied, not yet verified
    # WHEN the reverse is approved
    migrations.answer(token, "reverse")
    failed = migrations.wait(arn)
    # THEN the reverse migrations ran back to the recorded previous state, and the lock is released
    assert failed["status"] == "FAILED"
    assert "reverse migrations applied back to jobs -> 0001_initial, decided by test" in failed["cause"]
    assert migrations.applied() == INITIAL
    assert "python manage.py migrate jobs 0001_initial --no-input" in migrations.commands()[-1]
    assert migrations.lock() is None
    assert len(migrations.notifications(arn)) == 1


def test_a_failed_reverse_is_reported_in_the_outcome(migrations: Migrations) -> None:
    migrations.runner.inject(VERIFY, exit_code=1)
    migrations.runner.inject("migrate accounts zero", exit_code=1, output=["IrreversibleError"])
    arn = migrations.start("initial")
    migrations.answer(migrations.approval_token(arn), "reverse")
    failed = migrations.wait(arn)
    assert failed["status"] == "FAILED"
    assert "reverse migrations FAILED (States.TaskFailed)" in failed["cause"]
    assert migrations.lock() is None
    assert len(migrations.notifications(arn)) == 1


def test_without_a_decision_the_approval_times_out_and_the_lock_is_released(migrations: Migrations) -> None:
    migrations.runner.inject(APPLY, exit_code=1)
    arn = migrations.start("initial", timeouts={**TIMEOUTS, "approval_seconds": 1})
    failed = migrations.wait(arn)
    assert failed["status"] == "FAILED"
    assert "no rollback decision before the approval timeout" in failed["cause"]
    assert "AskRollback" in migrations.states(arn)
    assert migrations.lock() is None
    assert migrations.applied() == []
    assert len(migrations.notifications(arn)) == 1


def test_a_task_that_times_out_fails_its_state_and_is_reported(migrations: Migrations) -> None:
    # GIVEN a plan task that runs longer than the task timeout
    migrations.runner.inject(PLAN, exit_code=0, output=["still planning"], delay_seconds=4)
    failed = migrations.run("initial", timeouts={**TIMEOUTS, "task_seconds": 2, "statement_timeout_seconds": 1})
    # THEN the state times out, nothing is applied, the lock is released and one notification says so
    assert failed["status"] == "FAILED"
    assert failed["cause"].startswith("plan failed: States.Timeout")
    assert migrations.applied() == []
    assert_released_with_one_notification(migrations, failed["executionArn"], "plan")


def test_a_notifier_failure_still_releases_the_lock(migrations: Migrations) -> None:
    # The one case without a notification: the notifier itself fails. The execution still fails (alarm_route's
    # workflow-failure rule pages on it) and the lock is still released.
    migrations.runner.inject(APPLY, exit_code=1)
    with migrations.aws.runtime.failing(migrations.stack.resources["MigrateNotifyFunction"]):
        failed = migrations.run("initial")
    assert failed["status"] == "FAILED"
    assert "apply failed" in failed["cause"]
    assert migrations.lock() is None
    assert migrations.notifications(failed["executionArn"]) == []
