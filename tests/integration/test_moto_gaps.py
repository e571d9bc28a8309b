"""One test per bridged moto gap (tools/safejob_tools/localaws/moto_gaps.py; docs/local-aws.md lists them)."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path

import pytest

from safejob_tools.localaws import moto_gaps
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.runtime import FunctionSpec
from safejob_tools.localaws.server import LocalAws

pytestmark = pytest.mark.emulator

HANDLER = """
import os
def lambda_handler(event, context):
    if event.get("fail") or event.get("detail", {}).get("fail"):
        raise ValueError("asked to fail")
    return {"got": event, "greeting": os.environ["GREETING"], "function": context.function_name}
"""


@pytest.fixture
def echo_function(local_aws: LocalAws, tmp_path: Path) -> str:
    """A throwaway function created through the Lambda API, its code run in-process."""
    (tmp_path / "app.py").write_text(HANDLER)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "app.py", "app.py")
    name = f"echo-{uuid.uuid4().hex[:8]}"
    iam = local_aws.client("iam")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    fn = local_aws.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.lambda_handler",
        Code={"ZipFile": archive.getvalue()}, Environment={"Variables": {"GREETING": "hello"}},
    )
    local_aws.runtime.register(FunctionSpec(name=name, handler="app.lambda_handler", code_dir=tmp_path,
                                            environment={"GREETING": "hello"}, arn=fn["FunctionArn"]))
    return str(fn["FunctionArn"])


def test_lambda_invoke_runs_the_real_handler_in_process(local_aws: LocalAws, echo_function: str) -> None:
    # GIVEN a function deployed through the Lambda API
    lam = local_aws.client("lambda")
    # WHEN it is invoked, and invoked to fail
    ok = lam.invoke(FunctionName=echo_function, Payload=json.dumps({"n": 1}).encode())
    failed = lam.invoke(FunctionName=echo_function, Payload=json.dumps({"fail": True}).encode())
    # THEN the handler ran with the template's environment, and its exception became Lambda's error payload
    assert json.loads(ok["Payload"].read()) == {"got": {"n": 1}, "greeting": "hello",
                                                "function": echo_function.rsplit(":", 1)[-1]}
    assert "FunctionError" in failed
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "asked to fail"


def test_eventbridge_rule_invokes_lambda_targets_and_dead_letters_failures(
    local_aws: LocalAws, echo_function: str
) -> None:
    # GIVEN a rule targeting the function, with a dead-letter queue
    events, sqs = local_aws.client("events"), local_aws.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"rule-{uuid.uuid4().hex[:8]}"
    source = f"test.{rule}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": echo_function, "DeadLetterConfig": {"Arn": queue_arn}}])
    before = len(local_aws.runtime.invocations)
    # WHEN a matching event succeeds, and one makes the handler fail
    events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": json.dumps({"ok": 1})}])
    events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": json.dumps({"fail": 1})}])
    # THEN the handler ran twice, and only the failed event is in the dead-letter queue
    ran = local_aws.runtime.invocations[before:]
    assert [ok for name, ok in ran if echo_function.endswith(name)] == [True, False]
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["detail"] for m in messages] == [{"fail": 1}]


def test_retry_intervals_are_compressed_but_still_slept(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the bridge applied (the harness applies it at start)
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    moto_gaps.bridge_retry_intervals()
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    # WHEN the retrier sleeps a 10 s interval
    retrier_decl.time.sleep(10)
    # THEN it sleeps the scaled interval
    assert slept == [pytest.approx(10 * moto_gaps.RETRY_TIME_SCALE)]


def test_get_metric_widget_image_returns_a_png(local_aws: LocalAws) -> None:
    cloudwatch = local_aws.client("cloudwatch")
    widget = json.dumps({"metrics": [["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"]], "period": 60})
    image = cloudwatch.get_metric_widget_image(MetricWidget=widget, OutputFormat="png")["MetricWidgetImage"]
    assert image.startswith(b"\x89PNG")


def test_state_machines_are_registered_executable_with_substitutions(stack: DeployedStack) -> None:
    # GIVEN the deployed stack WHEN its state machine is described through the Step Functions API
    sfn = stack.aws.client("stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=stack.output("AlarmRouteStateMachineArn"))
    # THEN it is the real ASL, with every placeholder substituted by a deployed resource
    assert "${" not in described["definition"]
    assert stack.resources["AlarmRouteFlushFunction"] in described["definition"]
    assert stack.output("DeliveryDeadLetterQueueUrl") in described["definition"]
