"""The operator CLI against a deployed stack (the emulator here; an account in real life): same code path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from safejob_tools.cli import main
from safejob_tools.localaws.deploy import DeployedStack

pytestmark = pytest.mark.emulator
ROOT = Path(__file__).resolve().parents[2]


def test_silence_add_list_expire_through_the_cli(stack: DeployedStack, capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN a silence is added through the CLI
    assert main(["alerts", "silence", "add", "--stack-name", stack.name, "--matcher", 'alertname="CliDrill"',
                 "--duration-minutes", "30", "--comment", "cli test", "--created-by", "pytest"]) == 0
    silence_id = json.loads(capsys.readouterr().out)["silences"][0]["id"]
    # THEN it is listed, and expiring it removes it from the active list
    assert main(["alerts", "silence", "list", "--stack-name", stack.name]) == 0
    assert silence_id in capsys.readouterr().out
    assert main(["alerts", "silence", "expire", "--stack-name", stack.name, silence_id]) == 0
    capsys.readouterr()
    assert main(["alerts", "silence", "list", "--stack-name", stack.name]) == 0
    assert silence_id not in capsys.readouterr().out


def test_a_bad_matcher_is_refused_with_the_field_named(
    stack: DeployedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["alerts", "silence", "add", "--stack-name", stack.name, "--matcher", 'alertname=~"("',
                 "--comment", "bad"])
    assert code == 1
    assert "matchers" in capsys.readouterr().err


def test_replay_of_an_empty_queue_reports_nothing_to_do(
    stack: DeployedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "replay", "--stack-name", stack.name]) == 0
    assert "replayed 0" in capsys.readouterr().err


def test_an_unknown_stack_is_a_clear_error(local_aws: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "replay", "--stack-name", "no-such-stack"]) == 1
    assert "--stack-name no-such-stack" in capsys.readouterr().err


@pytest.mark.slow
def test_invoke_runs_a_handler_with_an_event_file_like_sam_local_invoke() -> None:
    # A separate process: `invoke` starts its own emulator, as it would on a laptop.
    result = subprocess.run(
        [sys.executable, "-m", "safejob_tools.cli", "invoke", "AlarmRouteIngestFunction",
         "--event", "events/alarm_route/cloudwatch_alarm_eventbridge_metric.json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["alerts"]
    assert payload["groups_created"]


def test_invoke_names_the_known_functions_when_given_a_wrong_one() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "safejob_tools.cli", "invoke", "NoSuchFunction", "--event",
         "events/alarm_route/admin_list_silences.json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2
    assert "AlarmRouteIngestFunction" in result.stderr


@pytest.mark.slow
def test_invoke_rebinds_a_deploy_event_to_the_fresh_stack_and_as_is_replays_the_capture_runs_ids() -> None:
    # GIVEN CheckGreen's captured event, whose target groups and rules moto drew for the capture run
    def invoke(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "safejob_tools.cli", "invoke", "DeployCheckGreenFunction",
             "--event", "events/deploy/check_green.json", *options],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )

    # WHEN it is invoked against a freshly deployed stack
    result = invoke()
    # THEN its topology is rebound to that stack's (said on stderr), and the handler found the stack's green colour:
    # at 0 tasks, running no release, so not healthy yet at its first check
    assert result.returncode == 0, result.stderr
    assert "invoke: state.run.topology rebound to stack safejob-local's resources" in result.stderr
    assert "services.frontend.green.target_group_arn <- FrontendGreenTargetGroupArn = arn:" in result.stderr
    payload = json.loads(result.stdout)
    assert (payload["healthy"], payload["polls"]) == (False, 1)
    assert "safejob-local-backend-green: 0/2 running" in payload["detail"]
    # AND with --as-is the event keeps the capture run's ids, which the fresh stack does not have
    as_is = invoke("--as-is")
    assert as_is.returncode == 1
    assert "TargetGroupNotFound" in as_is.stdout
    assert "rebound" not in as_is.stderr


def test_deploy_history_reads_the_ledger_of_the_stack(stack: DeployedStack,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN one record in the deployed ledger table
    from datetime import UTC, datetime

    from safejob_ops.adapters.deploy_ledger import DynamoDeployLedger
    from safejob_ops.deploy.models import DeployRecord, parse_deploy_request

    request = parse_deploy_request({
        "environment": "staging", "services": ["backend"], "git_sha": "0123abcd", "requested_by": "pytest",
        "images": {"backend": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/safejob/backend@sha256:" + "c" * 64},
        "strategy": {"type": "all_at_once"}, "approval_required": False,
    })
    ledger = DynamoDeployLedger(stack.output("DeployLedgerTableName"), client=stack.aws.client("dynamodb"))
    ledger.put(DeployRecord.started(request, "arn:aws:states:execution:cli-test", datetime.now(UTC)))
    # WHEN the history is asked for THEN the record is printed
    assert main(["deploy", "history", "--stack-name", stack.name, "--environment", "staging"]) == 0
    assert "cli-test" in capsys.readouterr().out
