"""One test per bridged moto gap (tools/safejob_tools/localaws/moto_gaps.py; docs/local-aws.md lists them)."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from safejob_tools.localaws import moto_gaps
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.runtime import FunctionSpec
from safejob_tools.localaws.server import LocalAws

# moto warns once per ignored resource type it meets (the CFN bridge tests create some on purpose).
pytestmark = [pytest.mark.emulator, pytest.mark.filterwarnings("ignore:Tried to parse .* moto's CloudFormation")]

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
    retrier_decl.time.sleep(10)  # type: ignore[attr-defined]  # the module's `time`, replaced by the bridge
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


# --------------------------------------------------------------------------------------------------------- CFN bridges
def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _create_stack(local_aws: LocalAws, template: dict[str, Any] | str) -> dict[str, str]:
    """Create a throwaway stack; fail unless it completes; return its outputs."""
    cfn = local_aws.client("cloudformation")
    name = _unique("gap")
    body = template if isinstance(template, str) else json.dumps(template)
    cfn.create_stack(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    described = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def _vpc_with_two_subnets() -> dict[str, Any]:
    return {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}},
        "SubnetA": {"Type": "AWS::EC2::Subnet", "Properties": {
            "VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.9.0.0/24", "AvailabilityZone": "us-east-1a"}},
        "SubnetB": {"Type": "AWS::EC2::Subnet", "Properties": {
            "VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.9.1.0/24", "AvailabilityZone": "us-east-1b"}},
    }


def test_nested_stack_outputs_answer_getatt(local_aws: LocalAws) -> None:
    # GIVEN a child template in the emulator's S3 that outputs a queue's name, and a parent that reads it twice
    s3 = local_aws.client("s3")
    bucket, queue = _unique("gap-templates"), _unique("gap-child")
    s3.create_bucket(Bucket=bucket)
    child = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": queue}}},
             "Outputs": {"QueueName": {"Value": {"Fn::GetAtt": ["Queue", "QueueName"]}}}}
    s3.put_object(Bucket=bucket, Key="child.json", Body=json.dumps(child).encode())
    parameter = f"/gaps/{_unique('nested')}"
    parent = {
        "Resources": {
            "Child": {"Type": "AWS::CloudFormation::Stack",
                      "Properties": {"TemplateURL": f"https://{bucket}.s3.amazonaws.com/child.json"}},
            "FromChild": {"Type": "AWS::SSM::Parameter", "Properties": {
                "Name": parameter, "Type": "String", "Value": {"Fn::GetAtt": ["Child", "Outputs.QueueName"]}}},
        },
        "Outputs": {"ChildQueue": {"Value": {"Fn::GetAtt": ["Child", "Outputs.QueueName"]}}},
    }
    # WHEN the parent is created
    outputs = _create_stack(local_aws, parent)
    # THEN a resource and an output of the parent both got the child's output, as CloudFormation resolves it
    assert outputs == {"ChildQueue": queue}
    assert local_aws.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"] == queue


def test_getatt_and_ref_of_ignored_types_become_emulated_placeholders(local_aws: LocalAws) -> None:
    # GIVEN resources moto ignores (ElastiCache, Secrets Manager, WAFv2), read by GetAtt and Ref elsewhere
    parameter = f"/gaps/{_unique('cache')}"
    template = {
        "Resources": {
            "Cache": {"Type": "AWS::ElastiCache::ReplicationGroup", "Properties": {
                "ReplicationGroupDescription": "ignored by moto", "Engine": "valkey",
                "CacheNodeType": "cache.t4g.small", "NumCacheClusters": 2}},
            "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"GenerateSecretString": {}}},
            "Acl": {"Type": "AWS::WAFv2::WebACL", "Properties": {
                "Scope": "REGIONAL", "DefaultAction": {"Allow": {}}, "VisibilityConfig": {
                    "SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "acl"}}},
            "CacheAddress": {"Type": "AWS::SSM::Parameter", "Properties": {
                "Name": parameter, "Type": "String",
                "Value": {"Fn::GetAtt": ["Cache", "PrimaryEndPoint.Address"]}}},
        },
        "Outputs": {
            "CacheId": {"Value": {"Ref": "Cache"}},
            "SecretArn": {"Value": {"Ref": "Secret"}},
            "AclArn": {"Value": {"Fn::GetAtt": ["Acl", "Arn"]}},
        },
    }
    # WHEN the stack is created
    outputs = _create_stack(local_aws, template)
    # THEN what depends on them deployed, with placeholders that say where they came from (ARN-shaped for ARNs)
    value = local_aws.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
    assert value == f"Cache.PrimaryEndPoint.Address.{moto_gaps.EMULATED}"
    assert outputs == {
        "CacheId": f"cache-{moto_gaps.EMULATED}",
        "SecretArn": f"arn:aws:{moto_gaps.EMULATED}:us-east-1:123456789012:secret/arn",
        "AclArn": f"arn:aws:{moto_gaps.EMULATED}:us-east-1:123456789012:acl/arn",
    }


def test_no_value_items_are_dropped_from_lists(local_aws: LocalAws) -> None:
    # GIVEN a policy whose second statement exists only under a false condition (Fn::If ... AWS::NoValue)
    queue = _unique("gap-novalue")
    template = {
        "Parameters": {"WithExtra": {"Type": "String", "Default": "false"}},
        "Conditions": {"HasExtra": {"Fn::Equals": [{"Ref": "WithExtra"}, "true"]}},
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": queue}},
            "Policy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "Send", "Effect": "Allow", "Action": "sqs:SendMessage",
                     "Resource": {"Fn::GetAtt": ["Queue", "Arn"]}},
                    {"Fn::If": ["HasExtra", {"Sid": "Purge", "Effect": "Allow", "Action": "sqs:PurgeQueue",
                                             "Resource": {"Fn::GetAtt": ["Queue", "Arn"]}},
                                {"Ref": "AWS::NoValue"}]},
                ]}}},
        },
        "Outputs": {"PolicyArn": {"Value": {"Ref": "Policy"}}},
    }
    # WHEN the stack is created
    outputs = _create_stack(local_aws, template)
    # THEN the policy holds the one statement, with no null left where the conditional one was
    iam = local_aws.client("iam")
    policy = iam.get_policy(PolicyArn=outputs["PolicyArn"])["Policy"]
    document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])[
        "PolicyVersion"]["Document"]
    assert [s["Sid"] for s in document["Statement"]] == ["Send"]


def test_db_instance_takes_its_parameter_and_subnet_groups_by_ref(local_aws: LocalAws) -> None:
    # GIVEN a DB instance whose parameter and subnet groups are Refs to the same template's groups
    identifier = _unique("gap-db")
    template = {
        "Resources": {
            **_vpc_with_two_subnets(),
            "Subnets": {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {
                "DBSubnetGroupName": identifier, "DBSubnetGroupDescription": "gap",
                "SubnetIds": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]}},
            "Parameters": {"Type": "AWS::RDS::DBParameterGroup", "Properties": {
                "Description": "gap", "Family": "postgres16", "Parameters": {"log_statement": "ddl"}}},
            "Db": {"Type": "AWS::RDS::DBInstance", "Properties": {
                "DBInstanceIdentifier": identifier, "Engine": "postgres", "DBInstanceClass": "db.t4g.micro",
                "AllocatedStorage": 20, "MasterUsername": "admin_user", "MasterUserPassword": "not-a-secret-1",
                "DBSubnetGroupName": {"Ref": "Subnets"}, "DBParameterGroupName": {"Ref": "Parameters"}}},
        },
        "Outputs": {"ParameterGroup": {"Value": {"Ref": "Parameters"}},
                    "SubnetGroup": {"Value": {"Ref": "Subnets"}}},
    }
    # WHEN the stack is created
    outputs = _create_stack(local_aws, template)
    # THEN the instance uses both groups, and their Refs are their names (as CloudFormation's are)
    db = local_aws.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    assert [g["DBParameterGroupName"] for g in db["DBParameterGroups"]] == [outputs["ParameterGroup"]]
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == outputs["SubnetGroup"] == identifier
    parameters = local_aws.client("rds").describe_db_parameters(DBParameterGroupName=outputs["ParameterGroup"])
    assert {p["ParameterName"]: p["ParameterValue"] for p in parameters["Parameters"]} == {"log_statement": "ddl"}


def test_listener_forwards_with_weights_from_forward_config_alone(local_aws: LocalAws) -> None:
    # GIVEN an ALB listener whose only action is a weighted forward (no TargetGroupArn), as blue/green needs
    name = _unique("gap-alb")
    group = {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
        "VpcId": {"Ref": "Vpc"}, "Protocol": "HTTP", "Port": 8000, "TargetType": "ip"}}
    template = {
        "Resources": {
            **_vpc_with_two_subnets(),
            "Alb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
                "Name": name, "Subnets": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]}},
            "Blue": group, "Green": group,
            "Listener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {
                "LoadBalancerArn": {"Ref": "Alb"}, "Protocol": "HTTP", "Port": 80,
                "DefaultActions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                    {"TargetGroupArn": {"Ref": "Blue"}, "Weight": 90},
                    {"TargetGroupArn": {"Ref": "Green"}, "Weight": 10}]}}]}},
        },
        "Outputs": {"Listener": {"Value": {"Ref": "Listener"}}, "Blue": {"Value": {"Ref": "Blue"}},
                    "Green": {"Value": {"Ref": "Green"}},
                    "FullName": {"Value": {"Fn::GetAtt": ["Alb", "LoadBalancerFullName"]}},
                    "AlbArn": {"Value": {"Ref": "Alb"}},
                    "BlueFullName": {"Value": {"Fn::GetAtt": ["Blue", "TargetGroupFullName"]}}},
    }
    # WHEN the stack is created
    outputs = _create_stack(local_aws, template)
    # THEN the listener forwards 90/10, as the API path would have created it
    listener = local_aws.client("elbv2").describe_listeners(ListenerArns=[outputs["Listener"]])["Listeners"][0]
    (action,) = listener["DefaultActions"]
    assert {t["TargetGroupArn"]: t["Weight"] for t in action["ForwardConfig"]["TargetGroups"]} == {
        outputs["Blue"]: 90, outputs["Green"]: 10}
    # (and the full name, which moto declares but cannot compute, is answered from the ARN as AWS does: bridge 20)
    assert outputs["FullName"] == "app/" + outputs["AlbArn"].split(":loadbalancer/app/", 1)[1]
    assert re.fullmatch(r"app/[\w-]+/[0-9a-f]+", outputs["FullName"])
    assert outputs["BlueFullName"] == outputs["Blue"].rsplit(":", 1)[1]
    assert outputs["BlueFullName"].startswith("targetgroup/")


def test_kms_key_with_an_object_policy_answers_describe_key(local_aws: LocalAws) -> None:
    # GIVEN a key whose KeyPolicy is an object, as CloudFormation templates write it
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "kms:*", "Resource": "*"}]}
    template = {"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {
        "Description": "gap", "EnableKeyRotation": True, "KeyPolicy": policy}}},
        "Outputs": {"KeyArn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}}}}
    # WHEN the stack is created
    outputs = _create_stack(local_aws, template)
    # THEN DescribeKey answers (no HTTP 500) and the policy reads back as the same JSON document
    kms = local_aws.client("kms")
    key_id = kms.describe_key(KeyId=outputs["KeyArn"])["KeyMetadata"]["KeyId"]
    assert json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]) == policy
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


CONDITIONS_TEMPLATE = """
Parameters:
  PerAz: {Type: String, Default: "true"}
  Zones: {Type: Number, Default: 3}
Conditions:
  IsPerAz: !Equals [!Ref PerAz, "true"]
  HasThree: !Equals [!Ref Zones, 3]
  Second: !Condition IsPerAz
  Third: !And [!Condition IsPerAz, !Condition HasThree]
  NotPerAz: !Not [!Condition IsPerAz]
  EitherWay: !Or [!Condition NotPerAz, !Condition Second]
Resources:
  Second:
    Type: AWS::SQS::Queue
    Condition: Second
    Properties: {QueueName: !Sub "${Prefix}-second"}
  Third:
    Type: AWS::SQS::Queue
    Condition: Third
    Properties: {QueueName: !Sub "${Prefix}-third"}
  Shared:
    Type: AWS::SQS::Queue
    Condition: NotPerAz
    Properties: {QueueName: !Sub "${Prefix}-shared"}
Outputs:
  Mode:
    Value: !If [EitherWay, per-az, none]
"""


def test_condition_references_evaluate_as_the_referenced_condition(local_aws: LocalAws) -> None:
    # GIVEN a YAML template (moto's own loader reads it) whose conditions refer to others with !Condition: whole
    # (Second), inside !And (Third), !Not (NotPerAz) and !Or (EitherWay), as network.yaml's NAT conditions do
    prefix = _unique("gap-cond")
    template = CONDITIONS_TEMPLATE.replace("${Prefix}", prefix).replace("!Sub ", "")
    # WHEN the stack is created
    outputs = _create_stack(local_aws, template)
    # THEN exactly the resources of the true conditions exist, and Fn::If saw the same values
    queues = local_aws.client("sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    assert sorted(url.rsplit("/", 1)[-1] for url in queues) == [f"{prefix}-second", f"{prefix}-third"]
    assert outputs == {"Mode": "per-az"}


def test_get_metric_data_answers_percentile_stats(local_aws: LocalAws) -> None:
    # GIVEN latencies 1..100 ms in one minute
    cloudwatch = local_aws.client("cloudwatch")
    namespace = f"Test/{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Latency", "Value": float(v), "Timestamp": start + timedelta(seconds=1)} for v in range(1, 101)])
    # WHEN p95 is asked for
    result = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "p95", "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": "Latency"},
                                                         "Period": 60, "Stat": "p95"}}],
        StartTime=start, EndTime=start + timedelta(minutes=1))
    # THEN the nearest-rank 95th percentile comes back
    assert result["MetricDataResults"][0]["Values"] == [95.0]


def test_a_handler_whose_cold_start_fails_reports_the_error(local_aws: LocalAws, tmp_path: Path) -> None:
    # GIVEN a function whose module fails at import (as with a missing setting)
    (tmp_path / "app.py").write_text("import os\nTABLE = os.environ['NOT_SET_ANYWHERE']\n"
                                     "def lambda_handler(event, context):\n    return TABLE\n")
    name = f"broken-{uuid.uuid4().hex[:8]}"
    local_aws.runtime.register(FunctionSpec(name=name, handler="app.lambda_handler", code_dir=tmp_path))
    # WHEN it is invoked THEN the init error is the invocation's error, named
    result = local_aws.runtime.invoke(name, {})
    assert result.error is not None
    assert result.error["errorType"] == "KeyError"
    assert "NOT_SET_ANYWHERE" in result.error["errorMessage"]


def _sfn_wait(sfn: Any, arn: str) -> dict[str, Any]:
    from safejob_tools.localaws.driver import wait_until

    described: dict[str, Any] = wait_until(
        lambda: (d if (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" else None),
        what=f"execution {arn}")
    return described


def test_a_child_execution_runs_with_sync_2_and_returns_its_output_parsed(local_aws: LocalAws) -> None:
    # GIVEN a child state machine, and a parent that starts it with startExecution.sync:2 and no Name
    sfn = local_aws.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/sfn"
    child = sfn.create_state_machine(name=f"child-{uuid.uuid4().hex[:8]}", roleArn=role, definition=json.dumps({
        "StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "Parameters": {
            "applied": ["a.0001"], "name.$": "$$.Execution.Name", "seen.$": "$"}, "End": True}}}))["stateMachineArn"]
    parent = sfn.create_state_machine(name=f"parent-{uuid.uuid4().hex[:8]}", roleArn=role, definition=json.dumps({
        "StartAt": "Child", "States": {"Child": {
            "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
            "Parameters": {"StateMachineArn": child, "Input.$": "$"},
            "ResultSelector": {"arn.$": "$.ExecutionArn", "applied.$": "$.Output.applied", "name.$": "$.Output.name"},
            "End": True}}}))["stateMachineArn"]
    # WHEN the parent runs
    run = sfn.start_execution(stateMachineArn=parent, input=json.dumps({"x": 1}))
    result = _sfn_wait(sfn, run["executionArn"])
    # THEN the child got the SFN-cased parameters (bridge 21) and a UUID name (bridge 22), and its output came back
    # parsed under PascalCase keys, as .sync:2 returns it on AWS
    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["applied"] == ["a.0001"]
    assert re.fullmatch(r"[0-9a-f-]{36}", output["name"])
    assert output["arn"].endswith(f":{output['name']}")
