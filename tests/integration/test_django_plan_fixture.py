"""The migrate plan parser against the real fixture project (tests/fixtures/django_project), migrated for real
on the throwaway PostgreSQL 15 cluster: what the parser reads is what `migrate` applies."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from safejob_ops.migrate import check_phase, parse_plan, parse_plan_output, parse_plan_text
from safejob_tools.localaws.postgres import PostgresCluster

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "fixtures" / "django_project"
PLANS = ROOT / "tests" / "fixtures" / "django_plans"
EMITTER = ROOT / "layers" / "shared" / "safejob_ops" / "migrate" / "django_plan_json.py"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


def manage(dsn: str, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python manage.py ARGS` in the fixture project against `dsn` (not checked: tests assert the exit code)."""
    env = {**os.environ, "DATABASE_URL": dsn, "PYTHONDONTWRITEBYTECODE": "1", **(extra_env or {})}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_parsed_plan_is_what_migrate_applies(postgres_database: str) -> None:
    # GIVEN an empty database, the plan `manage.py migrate --plan` prints for it, and the emitter's document
    text = ok(manage(postgres_database, "migrate", "--plan"))
    document = ok(manage(postgres_database, "safejob_plan"))
    plan = parse_plan(text, document)
    # (the committed capture of this state, made in-process by capture.py, is these very bytes)
    assert text == (PLANS / "00_fresh_full.txt").read_text(encoding="utf-8")
    assert manage(postgres_database, "migrate", "--check").returncode == 1  # unapplied migrations
    # WHEN migrate runs for real
    applied_output = ok(manage(postgres_database, "migrate", "--no-input"))
    # THEN it applied exactly the planned migrations, in the planned order
    applying = re.findall(r"^\s+Applying (\S+)\.\.\. OK$", applied_output, flags=re.MULTILINE)
    assert applying == plan.labels
    assert len(plan.labels) == 9
    with psycopg.connect(postgres_database) as conn:
        rows = conn.execute("SELECT app || '.' || name FROM django_migrations ORDER BY id").fetchall()
    assert [row[0] for row in rows] == plan.labels
    # AND migrate --check passes, and nothing is left to plan
    assert manage(postgres_database, "migrate", "--check").returncode == 0
    assert parse_plan_text(ok(manage(postgres_database, "migrate", "--plan"))).is_empty


def test_the_captured_plans_are_what_django_prints(postgres: PostgresCluster, tmp_path: Path) -> None:
    # GIVEN a fresh, empty database
    name = f"capture_{uuid.uuid4().hex[:12]}"
    dsn = postgres.create_database(name)
    try:
        # WHEN capture.py replays the fixture's history step by step into a scratch directory
        result = subprocess.run(
            [PYTHON, str(PLANS / "capture.py"), "--dsn", dsn, "--out", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    finally:
        postgres.drop_database(name)
    # THEN every committed capture is byte for byte what Django prints now (so the unit tests test real output)
    regenerated = sorted(path.name for path in tmp_path.iterdir())
    committed = sorted(path.name for path in PLANS.iterdir() if path.suffix in {".txt", ".json"})
    assert regenerated == committed
    stale = [name for name in committed if (tmp_path / name).read_bytes() != (PLANS / name).read_bytes()]
    assert stale == [], f"stale captures (run tests/fixtures/django_plans/capture.py): {stale}"


def test_a_python_default_is_dropped_and_a_db_default_is_kept(postgres_database: str) -> None:
    # GIVEN the database at accounts.0001 plus accounts.0002 (AddField null=True, db_default, default=False)
    ok(manage(postgres_database, "migrate", "accounts", "0002_account_expand", "--no-input"))
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        defaults: dict[str, str | None] = dict(
            conn.execute(
                "SELECT column_name, column_default FROM information_schema.columns "
                "WHERE table_name = 'accounts_account' AND column_name IN ('timezone', 'is_verified')"
            ).fetchall()
        )
        # THEN the db_default column keeps its default in the database, the Python-default one does not
        assert defaults == {"timezone": "'UTC'::character varying", "is_verified": None}
        # AND the previous release's INSERT (the columns of accounts.0001 only) fails: why that AddField is contract
        old_release_insert = (
            "INSERT INTO accounts_account (email, legacy_username, nickname, created_at) VALUES (%s, NULL, NULL, now())"
        )
        with pytest.raises(errors.NotNullViolation, match="is_verified"):
            conn.execute(old_release_insert, ["old@example.com"])
        # AND without that column the nullable and db_default columns take NULL and 'UTC': why they are expand
        conn.execute(
            "INSERT INTO accounts_account (email, legacy_username, nickname, created_at, is_verified) "
            "VALUES ('new@example.com', NULL, NULL, now(), false)"
        )
        row = conn.execute("SELECT display_name, timezone FROM accounts_account").fetchone()
    assert row == (None, "UTC")


def test_the_phase_check_on_a_live_plan(postgres_database: str) -> None:
    # GIVEN a database at release 2 (accounts.0002, jobs.0002) and the release 3 code's pending plan for jobs
    ok(manage(postgres_database, "migrate", "accounts", "0002_account_expand", "--no-input"))
    ok(manage(postgres_database, "migrate", "jobs", "0002_job_title_idx", "--no-input"))
    text = ok(manage(postgres_database, "migrate", "jobs", "0004", "--plan"))
    document = ok(manage(postgres_database, "safejob_plan", "jobs", "0004"))
    # WHEN the plan is checked for the expand phase
    decision = check_phase(parse_plan_output(text + document), "expand")
    # THEN the contract and unannotated operations are refused, by migration and position
    assert [(v.migration, v.index, v.classification.value) for v in decision.violations] == [
        ("jobs.0003_job_changes", 1, "contract"),
        ("jobs.0003_job_changes", 2, "contract"),
        ("jobs.0004_job_raw_operations", 1, "needs_annotation"),
        ("jobs.0004_job_raw_operations", 2, "needs_annotation"),
        ("jobs.0004_job_raw_operations", 3, "contract"),
    ]


def test_the_emitter_runs_as_a_plain_script(postgres_database: str) -> None:
    # GIVEN the emitter module itself (not the fixture's copy), run as a script with the project's settings
    env = {
        **os.environ,
        "DATABASE_URL": postgres_database,
        "DJANGO_SETTINGS_MODULE": "safejob.settings",
        "PYTHONPATH": str(PROJECT),
    }
    result = subprocess.run(
        [PYTHON, str(EMITTER), "jobs", "0002"], cwd=PROJECT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    # WHEN its marker line follows migrate --plan for the same target in one stream
    text = ok(manage(postgres_database, "migrate", "jobs", "0002", "--plan"))
    plan = parse_plan_output(text + result.stdout)
    # THEN the two agree
    assert plan.source == "text+json"
    assert plan.labels == ["accounts.0001_initial", "jobs.0001_initial", "jobs.0002_job_title_idx"]
    assert plan.migrations[-1].atomic is False


def test_pgoptions_sets_lock_and_statement_timeouts(postgres_database: str) -> None:
    # GIVEN the timeouts in PGOPTIONS, as the apply task's environment passes them
    code = (
        "from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SHOW lock_timeout'); print(c.fetchone()[0])\n"
        "    c.execute('SHOW statement_timeout'); print(c.fetchone()[0])\n"
    )
    # WHEN Django connects
    output = ok(
        manage(
            postgres_database,
            "shell",
            "--no-imports",
            "-c",
            code,
            extra_env={"PGOPTIONS": "-c lock_timeout=5s -c statement_timeout=1min"},
        )
    )
    # THEN the session has them, with no settings code
    assert output.split() == ["5s", "1min"]


def test_the_models_match_the_migration_history(postgres_database: str) -> None:
    # makemigrations --check fails if a model change has no migration: the fixture is a consistent project.
    result = manage(postgres_database, "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
