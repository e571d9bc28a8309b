"""The migrate --plan parser, against the output captured from the real fixture project, and its edge cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from safejob_ops.migrate.plan import (
    JSON_MARKER,
    MigrationPlan,
    OperationKind,
    PlanMismatchError,
    PlanParseError,
    parse_operation_line,
    parse_plan,
    parse_plan_json,
    parse_plan_output,
    parse_plan_text,
    parse_showmigrations_plan,
)

ROOT = Path(__file__).resolve().parents[3]
PLANS = ROOT / "tests" / "fixtures" / "django_plans"
STEMS = sorted(path.stem for path in PLANS.glob("0*.txt"))
K = OperationKind


def text_of(stem: str) -> str:
    return (PLANS / f"{stem}.txt").read_text(encoding="utf-8")


def document_of(stem: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PLANS / f"{stem}.json").read_text(encoding="utf-8"))
    return data


def captured(stem: str) -> MigrationPlan:
    return parse_plan(text_of(stem), document_of(stem))


def test_every_step_of_the_history_was_captured() -> None:
    # GIVEN the captures of tests/fixtures/django_plans (capture.py)
    # THEN each step has its text plan and its JSON document
    assert len(STEMS) == 9
    assert all((PLANS / f"{stem}.json").is_file() for stem in STEMS)


@pytest.mark.parametrize("stem", STEMS)
def test_text_and_json_of_each_capture_agree(stem: str) -> None:
    # GIVEN the text plan and the JSON document captured at the same step
    text_plan = parse_plan_text(text_of(stem))
    # WHEN both are parsed together (cross-checked)
    plan = captured(stem)
    # THEN they list the same migrations and operation lines, and the JSON adds its facts to every operation
    assert plan.source == "text+json"
    assert plan.labels == text_plan.labels
    assert [op.raw for _, op in plan.operations()] == [op.raw for _, op in text_plan.operations()]
    assert all(op.facts is not None for _, op in plan.operations())
    assert plan.django == "6.1.3"


def test_the_full_plan_of_an_empty_database() -> None:
    # GIVEN migrate --plan on an empty database
    plan = parse_plan_text(text_of("00_fresh_full"))
    # THEN every migration is there, in Django's order, with every operation recognised from its description
    assert plan.labels == [
        "accounts.0001_initial",
        "accounts.0002_account_expand",
        "accounts.0003_account_contract",
        "jobs.0001_initial",
        "jobs.0002_job_title_idx",
        "jobs.0003_job_changes",
        "jobs.0004_job_raw_operations",
        "jobs.0005_rename_jobtag_tag",
        "jobs.0006_job_salary_check",
    ]
    kinds = {m.label: [op.kind for op in m.operations] for m in plan.migrations}
    assert kinds == {
        "accounts.0001_initial": [K.CREATE_MODEL, K.CREATE_MODEL],
        "accounts.0002_account_expand": [K.ADD_FIELD, K.ADD_FIELD, K.ADD_FIELD, K.RUN_PYTHON, K.RUN_SQL],
        "accounts.0003_account_contract": [
            K.REMOVE_FIELD,
            K.RENAME_FIELD,
            K.DELETE_MODEL,
            K.SEPARATE_DATABASE_AND_STATE,
        ],
        "jobs.0001_initial": [K.CREATE_MODEL, K.CREATE_MODEL],
        "jobs.0002_job_title_idx": [K.ADD_INDEX_CONCURRENTLY],
        "jobs.0003_job_changes": [K.ADD_FIELD, K.ALTER_FIELD, K.ALTER_FIELD, K.ADD_FIELD],
        "jobs.0004_job_raw_operations": [K.RUN_SQL, K.RUN_PYTHON, K.RUN_PYTHON, K.RUN_SQL],
        "jobs.0005_rename_jobtag_tag": [K.RENAME_MODEL],
        "jobs.0006_job_salary_check": [K.ADD_CONSTRAINT_NOT_VALID, K.VALIDATE_CONSTRAINT],
    }
    assert plan.direction == "forwards"
    assert not any(op.undo or op.irreversible for _, op in plan.operations())


def test_operation_names_and_models_are_read_from_the_descriptions() -> None:
    # GIVEN the text plan of jobs.0003
    (migration,) = parse_plan_text(text_of("04_job_changes")).migrations
    # THEN each operation names its model and field, and its position
    assert [(op.index, op.model, op.name) for op in migration.operations] == [
        (1, "job", "salary_cents"),
        (2, "job", "description"),
        (3, "job", "location"),
        (4, "job", "tags"),
    ]


def test_actions_are_cut_at_40_characters_with_an_ellipsis_and_unicode_survives() -> None:
    # GIVEN the capture of accounts.0002, whose RunSQL comment holds non-ASCII text
    (migration,) = captured("02_accounts_expand").migrations
    run_python, run_sql = migration.operations[3], migration.operations[4]
    # THEN the text keeps Django's 40-character excerpt, and the JSON the full SQL and docstring
    assert run_sql.description == "Raw SQL operation"
    assert run_sql.action == "COMMENT ON COLUMN accounts_account.…"
    assert run_sql.truncated
    assert run_sql.facts is not None
    assert run_sql.facts.action == "COMMENT ON COLUMN accounts_account.display_name IS 'Nom affiché — shown in the UI'"
    assert run_python.facts is not None
    assert run_python.facts.action == "Copy legacy usernames into display_name, in batches of 500 rows."


def test_a_run_python_without_docstring_has_no_action() -> None:
    # GIVEN jobs.0004, whose third operation is a RunPython with no docstring
    operation = parse_plan_text(text_of("05_raw_operations")).migrations[0].operations[2]
    # THEN its line is the bare description
    assert (operation.raw, operation.action, operation.truncated) == ("Raw Python operation", None, False)


def test_django_joins_multiline_sql_and_the_parser_keeps_it_as_printed() -> None:
    # GIVEN the RunSQL whose SQL spans lines (Django drops the newlines from the excerpt)
    operation = captured("05_raw_operations").migrations[0].operations[3]
    # THEN the excerpt is Django's, and the full SQL keeps its newlines
    assert operation.action == "CREATE VIEW jobs_open_job ASSELECT …"
    assert operation.facts is not None
    assert operation.facts.action is not None
    assert "\nSELECT id, title\n" in operation.facts.action


def test_no_planned_migration_operations_is_an_empty_plan() -> None:
    # GIVEN migrate --plan on an up-to-date database
    plan = captured("07_up_to_date")
    # THEN the plan is empty, from both sources
    assert plan.is_empty
    assert plan.labels == []
    assert parse_plan_text(text_of("07_up_to_date")).is_empty


def test_a_backwards_plan_marks_undo_and_irreversible_operations() -> None:
    # GIVEN migrate jobs 0003_job_changes --plan on a fully migrated database
    plan = parse_plan_text(text_of("08_backwards_to_jobs_0003"))
    # THEN it unapplies the later migrations, newest first, and says which operations cannot be reversed
    assert plan.direction == "backwards"
    assert plan.labels == ["jobs.0006_job_salary_check", "jobs.0005_rename_jobtag_tag", "jobs.0004_job_raw_operations"]
    assert all(m.backwards for m in plan.migrations)
    assert [op.undo for op in plan.migrations[0].operations] == [True, True]
    assert plan.migrations[1].operations[0].description == "Rename model JobTag to Tag"
    raw = plan.migrations[2].operations
    assert [op.irreversible for op in raw] == [True, True, True, False]
    assert raw[3].action == "DROP VIEW jobs_open_job"
    # AND the JSON agrees that they run backwards
    assert all(m.backwards for m in captured("08_backwards_to_jobs_0003").migrations)


def test_color_codes_noise_before_the_header_and_crlf_are_tolerated() -> None:
    # GIVEN a colored plan, in a log stream with system-check warnings before it and CRLF line ends
    output = (
        "System check identified some issues:\r\n\r\nWARNINGS:\r\n?: (urls.W005) something\r\n"
        "\x1b[1mPlanned operations:\x1b[0m\r\n"
        "\x1b[36;1mjobs.0004_job_raw_operations\x1b[0m\r\n"
        "\x1b[33;1m    Raw SQL operation -> IRREVERSIBLE\x1b[0m\r\n"
        "    Raw SQL operation -> DROP VIEW jobs_open_job\r\n"
    )
    # WHEN it is parsed
    plan = parse_plan_text(output)
    # THEN the codes and line ends are gone and the plan is intact
    (migration,) = plan.migrations
    assert migration.label == "jobs.0004_job_raw_operations"
    assert [op.raw for op in migration.operations] == [
        "Raw SQL operation -> IRREVERSIBLE",
        "Raw SQL operation -> DROP VIEW jobs_open_job",
    ]
    assert migration.backwards


def test_only_newlines_end_lines() -> None:
    # GIVEN SQL excerpts holding a carriage return, a vertical tab and a Unicode line separator
    output = "Planned operations:\njobs.0004_x\n    Raw SQL operation -> SELECT 1;\rSELECT 2\u2028\x0b…\n"
    # WHEN it is parsed
    (migration,) = parse_plan_text(output).migrations
    # THEN they stay inside their line
    (operation,) = migration.operations
    assert operation.action == "SELECT 1;\rSELECT 2\u2028\x0b…"


def test_long_descriptions_are_kept_whole() -> None:
    # GIVEN an index over many fields (Django does not cut descriptions, only the action excerpt)
    fields = ", ".join(f"field_{n:03d}" for n in range(200))
    line = f"Concurrently create index jobs_job_everything_idx on field(s) {fields} of model job"
    # WHEN it is parsed
    operation = parse_operation_line(line, index=1)
    # THEN the whole line is kept, and its kind and names are found
    assert (operation.kind, operation.name, operation.model, operation.raw) == (
        K.ADD_INDEX_CONCURRENTLY,
        "jobs_job_everything_idx",
        "job",
        line,
    )


# Every description Django (4.2 to 6.1, contrib.postgres included) prints, with the kind it means.
DESCRIPTIONS = [
    ("Create model Job", K.CREATE_MODEL, "Job", None),
    ("Create proxy model OpenJob", K.CREATE_MODEL, "OpenJob", None),
    ("Delete model Job", K.DELETE_MODEL, "Job", None),
    ("Rename model JobTag to Tag", K.RENAME_MODEL, "JobTag", "Tag"),
    ("Rename table for job to jobs_job_v2", K.ALTER_MODEL_TABLE, "job", "jobs_job_v2"),
    ("Alter job table comment", K.ALTER_MODEL_TABLE_COMMENT, "job", None),
    ("Alter unique_together for job (1 constraint(s))", K.ALTER_UNIQUE_TOGETHER, "job", None),
    ("Alter index_together for job (0 constraint(s))", K.ALTER_INDEX_TOGETHER, "job", None),
    ("Set order_with_respect_to on job to owner", K.ALTER_ORDER_WITH_RESPECT_TO, "job", "owner"),
    ("Change Meta options on job", K.ALTER_MODEL_OPTIONS, "job", None),
    ("Change managers on job", K.ALTER_MODEL_MANAGERS, "job", None),
    ("Add field salary to job", K.ADD_FIELD, "job", "salary"),
    ("Remove field salary from job", K.REMOVE_FIELD, "job", "salary"),
    ("Alter field salary on job", K.ALTER_FIELD, "job", "salary"),
    ("Rename field title on job to name", K.RENAME_FIELD, "job", "title"),
    ("Create index job_title_idx on field(s) title, owner of model job", K.ADD_INDEX, "job", "job_title_idx"),
    ("Create index job_lower_idx on Lower(F(title)) on model job", K.ADD_INDEX, "job", "job_lower_idx"),
    (
        "Concurrently create index job_title_idx on field(s) title of model job",
        K.ADD_INDEX_CONCURRENTLY,
        "job",
        "job_title_idx",
    ),
    ("Remove index job_title_idx from job", K.REMOVE_INDEX, "job", "job_title_idx"),
    ("Concurrently remove index job_title_idx from job", K.REMOVE_INDEX_CONCURRENTLY, "job", "job_title_idx"),
    ("Rename index job_a_idx on job to job_b_idx", K.RENAME_INDEX, "job", "job_a_idx"),
    ("Rename unnamed index for ('title', 'owner') on job to job_b_idx", K.RENAME_INDEX, "job", "job_b_idx"),
    ("Create constraint salary_gte_0 on model job", K.ADD_CONSTRAINT, "job", "salary_gte_0"),
    ("Create not valid constraint salary_gte_0 on model job", K.ADD_CONSTRAINT_NOT_VALID, "job", "salary_gte_0"),
    ("Validate constraint salary_gte_0 on model job", K.VALIDATE_CONSTRAINT, "job", "salary_gte_0"),
    ("Remove constraint salary_gte_0 from model job", K.REMOVE_CONSTRAINT, "job", "salary_gte_0"),
    ("Alter constraint salary_gte_0 on job", K.ALTER_CONSTRAINT, "job", "salary_gte_0"),
    ("Creates extension pg_trgm", K.CREATE_EXTENSION, None, "pg_trgm"),
    ("Create collation case_insensitive", K.CREATE_COLLATION, None, "case_insensitive"),
    ("Remove collation case_insensitive", K.REMOVE_COLLATION, None, "case_insensitive"),
    ("Raw SQL operation", K.RUN_SQL, None, None),
    ("Raw Python operation -> Backfill…", K.RUN_PYTHON, None, None),
    ("Custom state/database change combination", K.SEPARATE_DATABASE_AND_STATE, None, None),
    ("Frobnicate the widgets on job", K.UNKNOWN, None, None),
]


@pytest.mark.parametrize(("line", "kind", "model", "name"), DESCRIPTIONS)
def test_each_description_maps_to_its_kind(line: str, kind: OperationKind, model: str | None, name: str | None) -> None:
    # GIVEN a line as migrate --plan prints it
    # WHEN it is parsed, forwards and as an undo
    forwards = parse_operation_line(line, index=1)
    undo = parse_operation_line(f"Undo {line}", index=1)
    # THEN the kind, model and name are found, and the undo is marked
    assert (forwards.kind, forwards.model, forwards.name) == (kind, model, name)
    assert (undo.kind, undo.undo, forwards.undo) == (kind, True, False)


def test_the_description_table_covers_every_kind() -> None:
    assert {kind for _, kind, _, _ in DESCRIPTIONS} == set(OperationKind)


def test_an_unknown_operation_with_no_reverse_is_irreversible() -> None:
    # GIVEN a custom operation with .sql, unapplied
    operation = parse_operation_line("Refresh materialized views -> IRREVERSIBLE", index=2)
    # THEN it is unknown, and irreversible
    assert (operation.kind, operation.irreversible, operation.index) == (K.UNKNOWN, True, 2)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("Operations to perform:\n  Apply all migrations: jobs\n", "no 'Planned operations:' line"),
        ("Planned operations:\n", "neither migrations nor"),
        ("Planned operations:\n    Create model Job\n", "line 2: expected a migration heading"),
        ("Planned operations:\njobs.0001_initial\n    Create model Job\nTraceback (most recent", "line 4"),
        ("Planned operations:\n  No planned migration operations.\njobs.0001_initial\n", "nothing may follow"),
        ("Planned operations:\njobs.0001_initial\n    Raw SQL operation: DROP TABLE x\n", "unexpected text after"),
    ],
)
def test_malformed_output_is_refused_with_the_line(output: str, message: str) -> None:
    # GIVEN output that is not a complete migrate --plan listing
    # WHEN it is parsed
    # THEN the error says where and why
    with pytest.raises(PlanParseError, match=message):
        parse_plan_text(output)


def test_one_log_stream_with_both_commands_is_split_and_cross_checked() -> None:
    # GIVEN what the plan task logs: migrate --plan, then the emitter's marker line
    document = document_of("04_job_changes")
    output = text_of("04_job_changes") + JSON_MARKER + json.dumps(document, ensure_ascii=False) + "\n"
    # WHEN the whole output is parsed
    plan = parse_plan_output(output)
    # THEN the marker line is not taken for plan text, and the JSON facts are attached
    assert plan.source == "text+json"
    assert plan.labels == ["jobs.0003_job_changes"]
    # AND without a marker line, the text alone is used
    assert parse_plan_output(text_of("04_job_changes")).source == "text"


def test_a_document_from_another_state_is_a_mismatch() -> None:
    # GIVEN the text of one step and the JSON of another
    # WHEN they are parsed together
    # THEN they are refused: they do not describe the same run
    with pytest.raises(PlanMismatchError, match="migration"):
        parse_plan(text_of("04_job_changes"), document_of("05_raw_operations"))


def test_a_document_with_different_lines_is_a_mismatch() -> None:
    # GIVEN a JSON document whose operation line was altered
    document = document_of("04_job_changes")
    document["migrations"][0]["operations"][0]["line"] = "Add field salary_cents_v2 to job"
    # WHEN it is cross-checked with the text
    # THEN the migration and both lines are named
    with pytest.raises(PlanMismatchError, match=r"jobs\.0003_job_changes: the operations differ"):
        parse_plan(text_of("04_job_changes"), document)


def test_a_class_that_contradicts_its_line_is_a_mismatch() -> None:
    # GIVEN an operation whose class is AddIndex while its line reads as AddIndexConcurrently
    document = document_of("03_index_concurrently")
    document["migrations"][0]["operations"][0]["mro"] = ["django.db.migrations.operations.models.AddIndex"]
    # WHEN the document is parsed
    # THEN it is refused
    with pytest.raises(PlanMismatchError, match="is a AddIndex but its line reads as AddIndexConcurrently"):
        parse_plan_json(document)


def test_backwards_in_the_text_but_forwards_in_the_json_is_a_mismatch() -> None:
    document = document_of("08_backwards_to_jobs_0003")
    for migration in document["migrations"]:
        migration["backwards"] = False
    with pytest.raises(PlanMismatchError, match="unapplies it"):
        parse_plan(text_of("08_backwards_to_jobs_0003"), document)


def test_the_kind_comes_from_the_first_django_class_in_the_mro() -> None:
    # GIVEN a project's subclass of AddField, and contrib.postgres's BtreeGinExtension
    base = {"format": "safejob-migrate-plan/1"}
    subclass = {
        "line": "Add field x to job",
        "class": "app.ops.TrackedAddField",
        "mro": ["app.ops.TrackedAddField", "django.db.migrations.operations.fields.AddField"],
    }
    extension = {
        "line": "Creates extension btree_gin",
        "class": "django.contrib.postgres.operations.BtreeGinExtension",
        "mro": [
            "django.contrib.postgres.operations.BtreeGinExtension",
            "django.contrib.postgres.operations.CreateExtension",
            "django.db.migrations.operations.base.Operation",
        ],
    }
    custom = {"line": "Frobnicate", "class": "app.ops.Frobnicate", "mro": ["app.ops.Frobnicate"]}
    document = {**base, "migrations": [{"app": "jobs", "name": "0007_x", "operations": [subclass, extension, custom]}]}
    # WHEN the document is parsed
    operations = parse_plan_json(document).migrations[0].operations
    # THEN the kinds are Django's, and a class Django does not know is Unknown
    assert [op.kind for op in operations] == [K.ADD_FIELD, K.CREATE_EXTENSION, K.UNKNOWN]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"format": "other/1", "migrations": []}', "format is 'other/1'"),
        ('{"format": "safejob-migrate-plan/1"}', "no 'migrations' list"),
        ('{"format": "safejob-migrate-plan/1", "migrations": [{"app": "jobs"}]}', "migration 1"),
        ('{"format": "safejob-migrate-plan/1", "migrations": [{"app": "j", "name": "n", "operations": [{}]}]}', "line"),
    ],
)
def test_malformed_documents_are_refused(document: str, message: str) -> None:
    with pytest.raises(PlanParseError, match=message):
        parse_plan_json(document)


def test_the_marker_line_and_bytes_are_accepted() -> None:
    document = json.dumps(document_of("03_index_concurrently"))
    assert parse_plan_json(JSON_MARKER + document).labels == ["jobs.0002_job_title_idx"]
    assert parse_plan_json(document.encode()).labels == ["jobs.0002_job_title_idx"]


def test_showmigrations_plan_says_what_is_applied() -> None:
    # GIVEN showmigrations --plan before and after the whole history
    fresh = parse_showmigrations_plan(text_of("showmigrations_fresh"))
    migrated = parse_showmigrations_plan(text_of("showmigrations_migrated"))
    # THEN both list the nine migrations in dependency order, none applied and then all
    assert [m.label for m in fresh] == [m.label for m in migrated] == captured("00_fresh_full").labels
    assert not any(m.applied for m in fresh)
    assert all(m.applied for m in migrated)


def test_showmigrations_garbage_is_refused() -> None:
    with pytest.raises(PlanParseError, match="line 2"):
        parse_showmigrations_plan("[X]  jobs.0001_initial\njobs\n")


def test_the_fixture_project_ships_the_emitter_verbatim() -> None:
    # GIVEN the emitter module and the fixture project's management command
    module = ROOT / "layers" / "shared" / "safejob_ops" / "migrate" / "django_plan_json.py"
    command = ROOT / "tests" / "fixtures" / "django_project" / "jobs" / "management" / "commands" / "safejob_plan.py"
    # THEN they are the same file, so the integration tests exercise the module itself
    assert command.read_bytes() == module.read_bytes()
