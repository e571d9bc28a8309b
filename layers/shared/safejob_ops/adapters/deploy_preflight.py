"""The deploy preflight ports on boto3: ECR (`EcrImages`), SSM (`SsmParameters`), CloudWatch (`CloudWatchAlarmStates`).

Each client is created on first use, with `botoconfig.client_config()`. An ECR registry host
(`<account>.dkr.ecr.<region>.amazonaws.com`) becomes the `registryId`; any other host is left to the default registry.
Basic scanning reports `findings`, enhanced scanning (Inspector) `enhancedFindings`: both are read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from safejob_ops.adapters.botoconfig import new_client
from safejob_ops.deploy.ports import ScanFinding, ScanResult, ScanStatus

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ssm import SSMClient

_ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$")
_NOT_FOUND = {"ImageNotFoundException", "RepositoryNotFoundException", "ScanNotFoundException"}
_STATUSES: dict[str, ScanStatus] = {"COMPLETE": "COMPLETE", "ACTIVE": "COMPLETE", "IN_PROGRESS": "IN_PROGRESS",
                                    "PENDING": "IN_PROGRESS", "FAILED": "FAILED"}
# DescribeAlarms takes at most 100 names per call.
ALARM_NAMES_PER_CALL = 100


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def registry_id(host: str | None) -> dict[str, Any]:
    """The `registryId` argument for an image's registry host (none for a host that is not ECR's).

    >>> registry_id("123456789012.dkr.ecr.eu-west-1.amazonaws.com"), registry_id(None)
    ({'registryId': '123456789012'}, {})
    """
    match = _ECR_HOST.match(host or "")
    return {"registryId": match.group(1)} if match else {}


class EcrImages:
    """`ImageRegistry` on ECR: DescribeImages and DescribeImageScanFindings, by digest."""

    def __init__(self, client: ECRClient | None = None, session: boto3.Session | None = None) -> None:
        self._client = client
        self._session = session

    @property
    def client(self) -> ECRClient:
        if self._client is None:
            self._client = new_client("ecr", self._session)
        return self._client

    def image_exists(self, registry: str | None, repository: str, digest: str) -> bool:
        arguments: dict[str, Any] = {"repositoryName": repository, **registry_id(registry)}
        try:
            details = self.client.describe_images(imageIds=[{"imageDigest": digest}], **arguments)["imageDetails"]
        except ClientError as error:
            if _code(error) in _NOT_FOUND:
                return False
            raise
        return any(detail.get("imageDigest") == digest for detail in details)

    def scan(self, registry: str | None, repository: str, digest: str) -> ScanResult:
        findings: list[ScanFinding] = []
        status: ScanStatus = "OTHER"
        description = ""
        paginator = self.client.get_paginator("describe_image_scan_findings")
        arguments: dict[str, Any] = {"repositoryName": repository, **registry_id(registry)}
        try:
            for page in paginator.paginate(imageId={"imageDigest": digest}, **arguments):
                scan_status: Mapping[str, Any] = page.get("imageScanStatus", {})
                status = _STATUSES.get(str(scan_status.get("status", "")), "OTHER")
                description = str(scan_status.get("description", ""))
                results: Mapping[str, Any] = page.get("imageScanFindings", {})
                findings += [ScanFinding(name=f["name"], severity=f.get("severity", "UNDEFINED"))
                             for f in results.get("findings", [])]
                findings += [_enhanced(f) for f in results.get("enhancedFindings", [])]
        except ClientError as error:
            if _code(error) in _NOT_FOUND:
                return ScanResult(status="NOT_FOUND", description=str(error.response.get("Error", {}).get("Message")))
            raise
        return ScanResult(status=status, findings=tuple(findings), description=description)


def _enhanced(finding: Mapping[str, Any]) -> ScanFinding:
    details = finding.get("packageVulnerabilityDetails", {})
    name = details.get("vulnerabilityId") or finding.get("title") or finding.get("findingArn", "unknown")
    return ScanFinding(name=str(name), severity=str(finding.get("severity", "UNDEFINED")))


class SsmParameters:
    """`Parameters` on SSM Parameter Store (decrypted: a SecureString gate reads the same)."""

    def __init__(self, client: SSMClient | None = None, session: boto3.Session | None = None) -> None:
        self._client = client
        self._session = session

    @property
    def client(self) -> SSMClient:
        if self._client is None:
            self._client = new_client("ssm", self._session)
        return self._client

    def get(self, name: str) -> str | None:
        try:
            return self.client.get_parameter(Name=name, WithDecryption=True)["Parameter"].get("Value")
        except ClientError as error:
            if _code(error) == "ParameterNotFound":
                return None
            raise


class CloudWatchAlarmStates:
    """`AlarmStates` on CloudWatch DescribeAlarms (metric and composite alarms)."""

    def __init__(self, client: CloudWatchClient | None = None, session: boto3.Session | None = None) -> None:
        self._client = client
        self._session = session

    @property
    def client(self) -> CloudWatchClient:
        if self._client is None:
            self._client = new_client("cloudwatch", self._session)
        return self._client

    def states(self, names: Sequence[str]) -> dict[str, str]:
        states: dict[str, str] = {}
        unique = list(dict.fromkeys(names))
        paginator = self.client.get_paginator("describe_alarms")
        for start in range(0, len(unique), ALARM_NAMES_PER_CALL):
            chunk = unique[start:start + ALARM_NAMES_PER_CALL]
            for page in paginator.paginate(AlarmNames=chunk, AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    states[alarm["AlarmName"]] = alarm["StateValue"]
        return states
