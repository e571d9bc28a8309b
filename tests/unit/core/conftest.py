"""Fixtures for the static tests of the core stacks: raw templates and rendered environments."""

from __future__ import annotations

from typing import Any

import pytest
from cfn_eval import (
    REQUIRED_ROOT_PARAMETERS,
    ROOT_WIRING,
    RenderedStack,
    child_templates,
    load_template,
    render_environment,
)

STAGING = {"EnvironmentName": "staging", "AvailabilityZoneCount": "2", **REQUIRED_ROOT_PARAMETERS}
PRODUCTION_2AZ = {"EnvironmentName": "production", "AvailabilityZoneCount": "2", **REQUIRED_ROOT_PARAMETERS}
DR_PARAMETERS = {
    "DrRegion": "us-west-2",
    "DrReplicaBucketArn": "arn:aws:s3:::safejob-production-dr-replica",
    "DrReplicaKmsKeyArn": "arn:aws:kms:us-west-2:123456789012:key/11111111-2222-3333-4444-555555555555",
    "DrBackupVaultArn": "arn:aws:backup:us-west-2:123456789012:backup-vault:safejob-production-dr-1a2b3c4d",
}
PRODUCTION_3AZ = {
    "EnvironmentName": "production",
    "AvailabilityZoneCount": "3",
    "DomainName": "safejob.example.com",
    "HostedZoneId": "Z0123456789ABCDEFGHIJ",
    "EnableBackupVaultLock": "true",
    **DR_PARAMETERS,
    **REQUIRED_ROOT_PARAMETERS,
}


@pytest.fixture(scope="session")
def templates() -> dict[str, dict[str, Any]]:
    """Every child template in stacks/, by file stem (network, security, ...)."""
    return {name: load_template(path) for name, path in child_templates().items()}


@pytest.fixture(scope="session")
def root_wiring() -> dict[str, Any]:
    """The root template (template.yaml), where the core stacks are nested."""
    return load_template(ROOT_WIRING)


@pytest.fixture(scope="session")
def staging() -> dict[str, RenderedStack]:
    """The whole core rendered for staging (2 AZs)."""
    return render_environment(STAGING)


@pytest.fixture(scope="session")
def production() -> dict[str, RenderedStack]:
    """The whole core rendered for production (3 AZs, a domain, the DR region, vault lock)."""
    return render_environment(PRODUCTION_3AZ)


@pytest.fixture(scope="session")
def production_2az() -> dict[str, RenderedStack]:
    """The whole core rendered for production (2 AZs)."""
    return render_environment(PRODUCTION_2AZ)


@pytest.fixture(scope="session", params=["staging", "production", "production_2az"])
def environment(request: pytest.FixtureRequest) -> dict[str, RenderedStack]:
    """Each rendered environment in turn."""
    rendered: dict[str, RenderedStack] = request.getfixturevalue(request.param)
    return rendered
