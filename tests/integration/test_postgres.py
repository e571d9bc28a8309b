"""The throwaway PostgreSQL cluster (tools/safejob_tools/localaws/postgres.py) is real, isolated and leaves nothing."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from safejob_tools.localaws.postgres import PostgresCluster, PostgresError

pytestmark = pytest.mark.postgres


def _children(pid: int) -> set[int]:
    """Process ids whose parent is `pid` (the postmaster's checkpointer, walwriter, backends...)."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:  # the process exited while we looked
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.add(int(status.parent.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie, read straight from /proc (independent of the module under test)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@pytest.fixture
def scratch_tmpdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temp dir that the `postgres` OS user can reach, made the default for tempfile during the test."""
    directory = Path(tempfile.mkdtemp(prefix="safejob-pg-test-"))
    directory.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    directory.rmdir()  # fails the test's teardown if the cluster left anything behind


def test_session_cluster_is_postgresql_15(postgres: PostgresCluster) -> None:
    # GIVEN the session cluster
    # WHEN a client connects over TCP with its DSN
    with psycopg.connect(postgres.dsn()) as conn:
        row = conn.execute("select version(), current_setting('fsync'), current_user").fetchone()
    # THEN it is a PostgreSQL 15 server, tuned for throwaway data, and we are its superuser
    assert row is not None
    version, fsync, user = row
    assert "PostgreSQL 15" in version
    assert fsync == "off"
    assert user == "postgres"
    assert postgres.dsn().startswith("postgresql://postgres@127.0.0.1:")


def test_create_and_drop_database(postgres: PostgresCluster) -> None:
    # GIVEN a database created for this test
    dsn = postgres.create_database("tooling_create_drop")
    with psycopg.connect(dsn) as conn:
        conn.execute("create table t (id int primary key)")
        conn.execute("insert into t values (1), (2)")
        count = conn.execute("select count(*) from t").fetchone()
    assert count == (2,)
    assert dsn.endswith("/tooling_create_drop")

    # WHEN it is dropped
    postgres.drop_database("tooling_create_drop")

    # THEN it is gone from the catalogue, and dropping it again is harmless
    with psycopg.connect(postgres.dsn()) as conn:
        left = conn.execute("select count(*) from pg_database where datname = 'tooling_create_drop'").fetchone()
    assert left == (0,)
    postgres.drop_database("tooling_create_drop")


def test_postgres_database_fixture_gives_an_empty_database(postgres_database: str) -> None:
    # GIVEN / WHEN the per-test database fixture
    with psycopg.connect(postgres_database) as conn:
        tables = conn.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()
        name = conn.execute("select current_database()").fetchone()
    # THEN it is a fresh database of its own
    assert tables == (0,)
    assert name is not None
    assert name[0].startswith("test_")


def test_database_names_are_not_sql(postgres: PostgresCluster) -> None:
    # GIVEN a name that would be SQL injection / WHEN used / THEN it is refused before reaching the server
    with pytest.raises(ValueError, match="not a plain database name"):
        postgres.create_database('x"; drop database postgres; --')


def test_stop_leaves_no_process_and_no_files(scratch_tmpdir: Path) -> None:
    # GIVEN a cluster of its own, with a client connected (so a backend process exists)
    cluster = PostgresCluster()
    cluster.start()
    postmaster = cluster.pid
    assert postmaster is not None
    root = cluster.root
    assert root is not None
    assert root.parent == scratch_tmpdir
    conn = psycopg.connect(cluster.dsn())
    processes = {postmaster, *_children(postmaster)}
    assert len(processes) > 2
    assert all(_running(pid) for pid in processes)

    # WHEN it stops
    cluster.stop()
    conn.close()

    # THEN no server process is left, its directory is gone, and stopping again is harmless
    assert [pid for pid in processes if _running(pid)] == []
    assert not root.exists()
    assert cluster.pid is None
    cluster.stop()


def test_failed_start_raises_with_the_reason_and_cleans_up(scratch_tmpdir: Path) -> None:
    # GIVEN server binaries that fail (world-readable, since as root they run as the postgres user)
    fake_bin = scratch_tmpdir / "bin"
    fake_bin.mkdir(mode=0o755)
    for tool in ("initdb", "pg_ctl"):
        script = fake_bin / tool
        script.write_text("#!/bin/sh\necho 'initdb: error: simulated failure' >&2\nexit 1\n")
        script.chmod(0o755)
    cluster = PostgresCluster(bin_dir=fake_bin)

    # WHEN it starts / THEN the error carries the tool's message
    with pytest.raises(PostgresError, match="simulated failure"):
        cluster.start()

    # AND the temporary directory is removed (only the fake bin dir remains in the scratch dir)
    assert sorted(p.name for p in scratch_tmpdir.iterdir()) == ["bin"]
    assert cluster.root is None
    for tool in ("initdb", "pg_ctl"):
        (fake_bin / tool).unlink()
    fake_bin.rmdir()


def test_using_a_cluster_that_is_not_started_is_an_error() -> None:
    # GIVEN a cluster object that was never started / WHEN its DSN is asked for / THEN it says so
    with pytest.raises(PostgresError, match="not started"):
        PostgresCluster().dsn()
