"""The deploy adapters against moto: the ledger (DynamoDeployLedger) and the preflight ports (ECR, SSM, CloudWatch),
then preflight itself through them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from safejob_ops.adapters.deploy_ledger import DynamoDeployLedger
from safejob_ops.adapters.deploy_preflight import CloudWatchAlarmStates, EcrImages, SsmParameters
from safejob_ops.deploy.ledger import LedgerConflictError
from safejob_ops.deploy.models import DeployRecord, StepRecord, parse_deploy_request
from safejob_ops.deploy.preflight import PreflightContext, run_preflight

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TABLE = "safejob-test-deploy-ledger"
REPOSITORY = "safejob/backend"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UNKNOWN = "sha256:" + "f" * 64
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7,
               "digest": "sha256:" + "1" * 64},
    "layers": [],
})


@pytest.fixture
def ledger(aws: None) -> DynamoDeployLedger:
    boto3.client("dynamodb").create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
    )
    return DynamoDeployLedger(TABLE)


@pytest.fixture
def pushed_digest(aws: None) -> str:
    """An image pushed to ECR by manifest, and scanned (moto's scan reports one HIGH finding)."""
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName=REPOSITORY)
    digest: str = ecr.put_image(repositoryName=REPOSITORY, imageManifest=MANIFEST)["image"]["imageId"]["imageDigest"]
    ecr.start_image_scan(repositoryName=REPOSITORY, imageId={"imageDigest": digest})
    return digest


def record(execution: str, started_at: datetime, environment: str = "production", **changes: Any) -> DeployRecord:
    body: dict[str, Any] = {
        "environment": environment, "execution_id": execution, "started_at": started_at, "requested_by": "alice",
        "git_sha": "abcdef0", "services": ["backend"], "images": {"backend": f"{REPOSITORY}@sha256:" + "a" * 64},
        "strategy": {"type": "canary", "steps": [10, 100], "bake_seconds": 60},
    }
    body.update(changes)
    return DeployRecord.model_validate(body)


# --- ledger --------------------------------------------------------------------------------------------------------


def test_a_record_round_trips_and_history_is_newest_first(ledger: DynamoDeployLedger) -> None:
    # GIVEN three production deploys written out of order, and one in staging
    for minutes in (10, 0, 20):
        ledger.put(record(f"exec-{minutes}", T0 + timedelta(minutes=minutes)))
    ledger.put(record("exec-staging", T0, environment="staging"))
    # WHEN production's history is read
    history = ledger.history("production", limit=10)
    # THEN it holds production's records only, newest first, equal to what was written
    assert [r.execution_id for r in history] == ["exec-20", "exec-10", "exec-0"]
    assert history[0] == record("exec-20", T0 + timedelta(minutes=20))
    assert [r.execution_id for r in ledger.history("production", limit=2)] == ["exec-20", "exec-10"]
    assert ledger.history("local") == []


def test_an_in_progress_record_is_replaced_and_a_final_one_is_not(ledger: DynamoDeployLedger) -> None:
    # GIVEN a deploy recorded in progress, then finished with a step
    started = record("exec-1", T0)
    ledger.put(started)
    finished = started.model_copy(update={"outcome": "succeeded", "finished_at": T0 + timedelta(minutes=9),
                                          "steps": (StepRecord(weight=10, started_at=T0, verdict="promote"),)})
    ledger.put(finished)
    # WHEN the same final record is written again (a retry) / THEN nothing changes and nothing fails
    ledger.put(finished)
    # AND a different write over the final record is refused, leaving it as it was
    with pytest.raises(LedgerConflictError, match="is final"):
        ledger.put(started)
    assert ledger.get("production", started.sort_key) == finished
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": "production"},
                                                                   "sk": {"S": started.sort_key}})["Item"]
    assert (item["outcome"]["S"], item["requested_by"]["S"]) == ("succeeded", "alice")


# --- ECR -----------------------------------------------------------------------------------------------------------


def test_an_image_is_found_by_its_digest_only(pushed_digest: str) -> None:
    images = EcrImages()
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    assert images.image_exists(registry, REPOSITORY, pushed_digest)
    assert images.image_exists(None, REPOSITORY, pushed_digest)
    assert not images.image_exists(registry, REPOSITORY, UNKNOWN)
    assert not images.image_exists(registry, "safejob/nothing-here", pushed_digest)


def test_scan_findings_are_read_and_a_missing_scan_is_not_found(pushed_digest: str) -> None:
    scan = EcrImages().scan(None, REPOSITORY, pushed_digest)
    assert scan.status == "COMPLETE"
    assert [(f.name, f.severity) for f in scan.findings] == [("CVE-9999-9999", "HIGH")]  # moto's canned finding
    assert scan.critical == ()
    assert EcrImages().scan(None, REPOSITORY, UNKNOWN).status == "NOT_FOUND"


# --- SSM and CloudWatch --------------------------------------------------------------------------------------------


def test_the_gate_parameter_is_read_and_a_missing_one_is_none(aws: None) -> None:
    boto3.client("ssm").put_parameter(Name="/safejob/production/cost-gate", Value="closed", Type="String")
    parameters = SsmParameters()
    assert parameters.get("/safejob/production/cost-gate") == "closed"
    assert parameters.get("/safejob/staging/cost-gate") is None


def test_alarm_states_are_read_and_missing_alarms_are_absent(aws: None) -> None:
    cloudwatch = boto3.client("cloudwatch")
    for name in ("safejob-production-alb-5xx-rate", "safejob-production-backend-error-logs"):
        cloudwatch.put_metric_alarm(AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="RequestCount",
                                    Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                    ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="safejob-production-backend-error-logs", StateValue="ALARM",
                               StateReason="test")
    cloudwatch.set_alarm_state(AlarmName="safejob-production-alb-5xx-rate", StateValue="INSUFFICIENT_DATA",
                               StateReason="test")
    states = CloudWatchAlarmStates().states(["safejob-production-alb-5xx-rate",
                                             "safejob-production-backend-error-logs", "no-such-alarm"])
    assert states == {"safejob-production-alb-5xx-rate": "INSUFFICIENT_DATA",
                      "safejob-production-backend-error-logs": "ALARM"}


# --- preflight through the adapters --------------------------------------------------------------------------------


def test_preflight_through_moto_refuses_an_unknown_digest_and_a_closed_gate(pushed_digest: str) -> None:
    # GIVEN a pushed, scanned image, a closed cost gate, and no alarm configured
    boto3.client("ssm").put_parameter(Name="/gate", Value="closed", Type="String")
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"

    def preflight(digest: str) -> dict[str, bool]:
        request = parse_deploy_request({
            "environment": "staging", "services": ["backend"],
            "images": {"backend": f"{registry}/{REPOSITORY}@{digest}"},
            "git_sha": "abcdef0", "strategy": {"type": "all_at_once"}, "approval_required": False,
            "requested_by": "ci"})
        report = run_preflight(request, PreflightContext(now=T0, cost_gate_parameter="/gate"), registry=EcrImages(),
                               parameters=SsmParameters(), alarms=CloudWatchAlarmStates())
        return {check.name: check.passed for check in report.checks}

    # WHEN preflight runs for the pushed digest, then for an unknown one / THEN each check reports what moto holds
    assert preflight(pushed_digest) == {"image:backend": True, "scan:backend": True, "cost_gate": False,
                                        "freeze": True, "alarms:backend": True}
    assert preflight(UNKNOWN) == {"image:backend": False, "scan:backend": False, "cost_gate": False,
                                  "freeze": True, "alarms:backend": True}
