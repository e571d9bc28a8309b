"""Fixtures for the state machine tests: the alarm_route driver, cleaned up after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.driver import AlarmDriver
from safejob_tools.localaws.sink import HttpSink


@pytest.fixture
def alarms(stack: DeployedStack, sink: HttpSink) -> Iterator[AlarmDriver]:
    driver = AlarmDriver(stack, sink)
    yield driver
    driver.cleanup()  # resolve what the test left firing, so its groups end instead of repeating forever
