"""`safejob-ops deploy history`: through cli.main against an in-memory ledger, and the stack lookup with moto."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from safejob_ops.deploy.ledger import DeployLedger, InMemoryDeployLedger
from safejob_ops.deploy.models import DeployRecord
from safejob_tools import cli
from safejob_tools.commands import deploy
from safejob_tools.commands.live import StackLookupError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def deploy_group_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `deploy` group in the CLI's registry (cli.py lists it once the lead wires it in; until then, here)."""
    if deploy.register not in cli.COMMAND_GROUPS:
        monkeypatch.setattr(cli, "COMMAND_GROUPS", [*cli.COMMAND_GROUPS, deploy.register])


def record(execution: str, minutes: int, environment: str = "production") -> DeployRecord:
    return DeployRecord.model_validate({
        "environment": environment, "execution_id": execution, "started_at": T0 + timedelta(minutes=minutes),
        "requested_by": "alice", "git_sha": "abcdef0", "services": ["backend"],
        "images": {"backend": "safejob/backend@sha256:" + "a" * 64}, "strategy": {"type": "all_at_once"},
        "outcome": "succeeded",
    })


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> InMemoryDeployLedger:
    memory = InMemoryDeployLedger()
    for execution, minutes, environment in [("p1", 0, "production"), ("p2", 30, "production"),
                                            ("s1", 10, "staging"), ("s2", 40, "staging")]:
        memory.put(record(execution, minutes, environment))

    def ledger_for(stack_name: str) -> DeployLedger:
        assert stack_name.startswith("safejob")
        return memory

    monkeypatch.setattr(deploy, "_boto_ledger", ledger_for)
    return memory


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    code = cli.main(["deploy", "history", *argv])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_one_environment_newest_first_as_json_lines(capsys: pytest.CaptureFixture[str],
                                                    ledger: InMemoryDeployLedger) -> None:
    # GIVEN two production deploys / WHEN their history is asked for
    code, lines, err = run(capsys, "--stack-name", "safejob-production", "--environment", "production")
    # THEN each is one JSON line (a DeployRecord), newest first
    assert (code, err) == (0, "")
    assert [line["execution_id"] for line in lines] == ["p2", "p1"]
    assert DeployRecord.model_validate(lines[0]) == record("p2", 30)


def test_every_environment_merged_by_start_time_and_limited(capsys: pytest.CaptureFixture[str],
                                                           ledger: InMemoryDeployLedger) -> None:
    code, lines, _ = run(capsys, "--stack-name", "safejob", "--limit", "3")
    assert code == 0
    assert [line["execution_id"] for line in lines] == ["s2", "p2", "s1"]


def test_an_empty_history_prints_nothing(capsys: pytest.CaptureFixture[str], ledger: InMemoryDeployLedger) -> None:
    assert run(capsys, "--stack-name", "safejob", "--environment", "local") == (0, [], "")


@pytest.mark.parametrize("argv", [["--limit", "0"], ["--limit", "x"], ["--environment", "prod"], []])
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    stack = ["--stack-name", "s"] if argv else []
    with pytest.raises(SystemExit) as caught:
        cli.main(["deploy", "history", *stack, *argv])
    assert caught.value.code == 2


def test_a_missing_stack_is_reported_with_exit_2() -> None:
    def missing(stack_name: str) -> DeployLedger:
        raise StackLookupError(f"--stack-name {stack_name}: does not exist")

    err = io.StringIO()
    args = cli.build_parser().parse_args(["deploy", "history", "--stack-name", "gone"])
    assert deploy.history_command(args, io.StringIO(), err, ledger_for=missing) == 2
    assert err.getvalue() == "--stack-name gone: does not exist\n"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


def _stack(outputs: dict[str, str]) -> None:
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    boto3.client("cloudformation").create_stack(StackName="safejob-test", TemplateBody=json.dumps(template))


def test_the_table_comes_from_the_stack_output(aws: None) -> None:
    # GIVEN a stack whose output names the ledger table / WHEN the command resolves its ledger
    _stack({"DeployLedgerTableName": "safejob-test-deploy-ledger"})
    ledger = deploy._boto_ledger("safejob-test")
    # THEN it is the DynamoDB adapter on that table
    assert getattr(ledger, "table_name", None) == "safejob-test-deploy-ledger"


def test_a_stack_without_the_output_says_so(aws: None) -> None:
    _stack({"Other": "x"})
    with pytest.raises(StackLookupError, match="no output DeployLedgerTableName"):
        deploy._boto_ledger("safejob-test")
    with pytest.raises(StackLookupError, match="--stack-name nope"):
        deploy._boto_ledger("nope")
