"""Fixtures for every test directory: the local AWS harness (a plugin) and a throwaway PostgreSQL 15 cluster."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings

from safejob_tools.localaws.postgres import PostgresCluster

# local_aws, stack, sink: the moto server and template.yaml deployed into it, once per session.
pytest_plugins = ["safejob_tools.localaws.pytest_plugin"]

# Property tests explore new examples on developers' machines; CI replays a fixed, derandomized set (so a red CI
# is always reproducible), and no run fails on a timing deadline on a shared, noisy machine.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL 15 cluster for the whole session (one per xdist worker), stopped and removed at the end.

    Tests share it: isolate them with `postgres_database` or unique names, never by resetting the cluster.
    """
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_database(postgres: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database of the session cluster for one test; yields its DSN and drops it afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    dsn = postgres.create_database(name)
    yield dsn
    postgres.drop_database(name)
