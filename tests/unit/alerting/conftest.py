"""Fixtures for the alerting unit tests (the helpers themselves are in alerting_support.py)."""

from __future__ import annotations

import pytest
from alerting_support import config_of

from safejob_ops.alerting.config import AlertingConfig


@pytest.fixture
def minimal_config() -> AlertingConfig:
    return config_of("minimal")


@pytest.fixture
def routing_config() -> AlertingConfig:
    return config_of("routing")


@pytest.fixture
def sim_config() -> AlertingConfig:
    return config_of("simulation")
