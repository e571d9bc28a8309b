"""pytest fixtures of the local AWS harness (registered from tests/conftest.py).

- `local_aws`: the moto server, once per session;
- `stack`: template.yaml deployed into it once per session (tests isolate themselves by unique names);
- `sink`: the local HTTP sink that records what receivers were sent, with the receivers' secrets pointing at it;
- `fleet`: a started local fleet (fleet.py) for one test: the stack's ECS tasks, ALB health checks, test listener and
  traffic. Stopped, its behaviours forgotten, after the test; what the test changed in the stack (desired counts,
  task definitions, weights) is the test's to restore.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from safejob_tools.localaws.deploy import DeployedStack, deploy
from safejob_tools.localaws.fleet import LocalFleet
from safejob_tools.localaws.seed import seed_receiver_secrets
from safejob_tools.localaws.server import LocalAws
from safejob_tools.localaws.sink import HttpSink


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


@pytest.fixture(scope="session")
def sink() -> Iterator[HttpSink]:
    with HttpSink() as http_sink:
        yield http_sink


@pytest.fixture(scope="session")
def stack(local_aws: LocalAws, sink: HttpSink) -> DeployedStack:
    deployed = deploy(local_aws, parameters={"PagerDutyEventsUrl": sink.url("/pagerduty")})
    seed_receiver_secrets(local_aws, sink)
    return deployed


@pytest.fixture
def fleet(request: pytest.FixtureRequest, stack: DeployedStack) -> Iterator[LocalFleet]:
    """A started LocalFleet; other settings through indirect parametrization:
    `@pytest.mark.parametrize("fleet", [{"rps": 400, "tick_seconds": 0.5}], indirect=True)`."""
    settings = getattr(request, "param", None) or {}
    with LocalFleet(stack, **settings) as local_fleet:
        yield local_fleet
