"""Expand/contract classification and the phase check, against the captured plans of the real fixture project and
synthetic operations for the cases the fixture cannot hold at once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safejob_ops.migrate.classify import (
    RULES,
    Classification,
    MigrationRefusedError,
    Phase,
    check_phase,
    classify,
)
from safejob_ops.migrate.plan import (
    MigrationPlan,
    OperationKind,
    PlannedMigration,
    PlannedOperation,
    parse_plan,
    parse_plan_json,
    parse_plan_text,
)

ROOT = Path(__file__).resolve().parents[3]
PLANS = ROOT / "tests" / "fixtures" / "django_plans"
DOCS = ROOT / "docs" / "workflows" / "migrate.md"
E, C, NA = Classification.EXPAND, Classification.CONTRACT, Classification.NEEDS_ANNOTATION
FORMAT = "safejob-migrate-plan/1"


def captured(stem: str) -> MigrationPlan:
    text = (PLANS / f"{stem}.txt").read_text(encoding="utf-8")
    return parse_plan(text, (PLANS / f"{stem}.json").read_text(encoding="utf-8"))


def text_only(stem: str) -> MigrationPlan:
    return parse_plan_text((PLANS / f"{stem}.txt").read_text(encoding="utf-8"))


def field(path: str = "django.db.models.CharField", *, null: bool = False, **options: str) -> dict[str, Any]:
    return {
        "path": path,
        "null": null,
        "has_default": "default" in options,
        "has_db_default": "db_default" in options,
        "options": options | ({"null": "True"} if null else {}),
    }


def plan_of(*operations: dict[str, Any], app: str = "jobs", backwards: bool = False) -> MigrationPlan:
    """A one-migration plan from emitter-style operation objects."""
    migration = {"app": app, "name": "0099_synthetic", "backwards": backwards, "operations": list(operations)}
    return parse_plan_json({"format": FORMAT, "migrations": [migration]})


def operation(line: str, kind: str, **facts: Any) -> dict[str, Any]:
    module = "django.db.migrations.operations." + ("special" if kind.startswith(("Run", "Separate")) else "fields")
    return {"line": line, "class": f"{module}.{kind}", "mro": [f"{module}.{kind}"], **facts}


def alter(before: dict[str, Any], after: dict[str, Any]) -> PlannedOperation:
    plan = plan_of(operation("Alter field f on job", "AlterField", field=after, previous_field=before))
    return plan.migrations[0].operations[0]


def verdict_of(plan: MigrationPlan) -> list[tuple[str, Classification]]:
    return [(op.line, op.classification) for op in classify(plan)]


# ---------------------------------------------------------------------------- the captured history, step by step
EXPECTED = {
    "01_initial": [E, E, E, E],
    "02_accounts_expand": [E, E, C, E, E],
    "03_index_concurrently": [E],
    "04_job_changes": [C, C, E, E],
    "05_raw_operations": [NA, NA, C, E],
    "06_remaining": [C, C, C, E, C, E, E],
    "07_up_to_date": [],
    "08_backwards_to_jobs_0003": [C] * 7,
}


@pytest.mark.parametrize(("stem", "expected"), EXPECTED.items())
def test_each_step_of_the_fixture_history_is_classified(stem: str, expected: list[Classification]) -> None:
    # GIVEN the plan captured at a step of the fixture project's history
    # WHEN it is classified
    classified = classify(captured(stem))
    # THEN each operation gets the classification of the fixture's README table, with a reason
    assert [op.classification for op in classified] == expected
    assert all(op.reason for op in classified)


@pytest.mark.parametrize(
    ("stem", "expand_allowed", "contract_allowed"),
    [
        ("01_initial", True, True),
        ("02_accounts_expand", False, True),
        ("03_index_concurrently", True, True),
        ("04_job_changes", False, True),
        ("05_raw_operations", False, False),
        ("06_remaining", False, True),
        ("07_up_to_date", True, True),
        ("08_backwards_to_jobs_0003", False, True),
    ],
)
def test_the_phase_decides_what_may_run(stem: str, expand_allowed: bool, contract_allowed: bool) -> None:
    plan = captured(stem)
    assert check_phase(plan, Phase.EXPAND).allowed is expand_allowed
    assert check_phase(plan, "contract").allowed is contract_allowed


def test_adding_a_field_is_expand_only_if_old_inserts_still_work() -> None:
    # GIVEN accounts.0002: nullable, db_default and Python-default fields
    ops = classify(captured("02_accounts_expand"))
    # THEN the nullable and the db_default fields are expand, the Python default is contract, and each says why
    assert ops[0].reason == "nullable: the running release's INSERTs leave it NULL"
    assert "db_default" in ops[1].reason
    assert ops[2].classification is C
    assert "drops the column default" in ops[2].reason
    assert ops[2].fix is not None
    assert "db_default=" in ops[2].fix


def test_not_null_without_default_and_tightening_are_contract_relaxing_and_m2m_are_expand() -> None:
    ops = classify(captured("04_job_changes"))
    assert "NOT NULL salary_cents without a default" in ops[0].reason
    assert "makes description NOT NULL" in ops[1].reason
    assert ops[2].reason == "only relaxes location: now nullable"
    assert "join table" in ops[3].reason


def test_annotations_are_read_from_hints() -> None:
    ops = classify(captured("02_accounts_expand"))
    assert (ops[3].annotation, ops[3].reason) == (
        Phase.EXPAND,
        "annotated expand by its author (backfills a new nullable column)",
    )
    raw = classify(captured("05_raw_operations"))
    assert [op.annotation for op in raw] == [None, None, Phase.CONTRACT, Phase.EXPAND]


def test_the_expand_phase_refusal_names_migration_operation_and_fix() -> None:
    # GIVEN the plan of jobs.0004, with two unannotated raw operations and one annotated contract
    decision = check_phase(captured("05_raw_operations"), "expand")
    # THEN each refused operation is named, with its reason and fix
    assert not decision.allowed
    assert [(v.migration, v.index, v.classification) for v in decision.violations] == [
        ("jobs.0004_job_raw_operations", 1, NA),
        ("jobs.0004_job_raw_operations", 2, NA),
        ("jobs.0004_job_raw_operations", 3, C),
    ]
    first = decision.errors[0]
    assert first.startswith("jobs.0004_job_raw_operations, operation 1 ('Raw SQL operation -> UPDATE jobs_job")
    assert "no safejob_phase annotation" in first
    assert 'Fix: add hints={"safejob_phase": "expand"} (or "contract") to the RunSQL(...) in jobs.0004' in first
    assert "deploy it with phase: contract" in decision.errors[2]
    # AND the contract phase still refuses the unannotated ones
    assert [v.index for v in check_phase(captured("05_raw_operations"), "contract").violations] == [1, 2]


def test_refusal_raises_with_every_violation() -> None:
    decision = check_phase(captured("06_remaining"), "expand")
    with pytest.raises(MigrationRefusedError, match=r"4 operation\(s\) refused in the expand phase") as raised:
        decision.raise_if_refused()
    assert str(raised.value).count("\n- ") == 4
    check_phase(captured("06_remaining"), "contract").raise_if_refused()  # allowed: no error


def test_the_decision_serialises_with_its_messages() -> None:
    decision = check_phase(captured("04_job_changes"), "expand")
    dumped = json.loads(decision.model_dump_json())
    assert dumped["allowed"] is False
    assert dumped["violations"][0]["message"] == decision.errors[0]
    assert decision.counts() == {"expand": 2, "contract": 2, "needs_annotation": 0}


def test_operations_on_a_table_created_in_the_same_plan_are_expand() -> None:
    # GIVEN the full plan of an empty database: later migrations act on tables created earlier in the same plan
    ops = classify(captured("00_fresh_full"))
    by_line = {(op.migration, op.index): op for op in ops}
    # THEN they are expand, since no running release uses those tables; raw operations still need annotations
    assert by_line[("jobs.0003_job_changes", 1)].classification is E
    assert "created earlier in this plan" in by_line[("accounts.0003_account_contract", 1)].reason
    assert by_line[("jobs.0005_rename_jobtag_tag", 1)].classification is E
    assert [(op.migration, op.index) for op in ops if op.classification is not E] == [
        ("jobs.0004_job_raw_operations", 1),
        ("jobs.0004_job_raw_operations", 2),
        ("jobs.0004_job_raw_operations", 3),
    ]


def test_a_model_renamed_within_the_plan_stays_new() -> None:
    plan = parse_plan_text(
        "Planned operations:\njobs.0001_initial\n    Create model Draft\n    Rename model Draft to Posting\n"
        "    Add field body to posting\n"
    )
    assert [op.classification for op in classify(plan)] == [E, E, E]


# ------------------------------------------------------------------------------------- the text plan alone fails safe
def test_without_the_json_document_facts_fail_safe() -> None:
    # GIVEN only the text of accounts.0002 (nullability, defaults and hints are not printed)
    ops = classify(text_only("02_accounts_expand"))
    # THEN the fields are contract and the raw operations need annotations, each pointing at the JSON emitter
    assert [op.classification for op in ops] == [C, C, C, NA, NA]
    assert all(op.fix is not None and "safejob_plan" in op.fix for op in ops)
    assert "text plan does not say whether display_name is nullable" in ops[0].reason


def test_text_only_alter_field_and_separate_database_and_state_are_contract() -> None:
    ops = classify(text_only("06_remaining"))
    assert ops[3].classification is C
    assert "SeparateDatabaseAndState" in ops[3].reason
    assert classify(text_only("04_job_changes"))[2].classification is C


# ------------------------------------------------------------------------------------- synthetic cases
@pytest.mark.parametrize(
    ("before", "after", "expected", "reason"),
    [
        (field(max_length="100"), field(max_length="100", null=True), E, "now nullable"),
        (field(max_length="100"), field(max_length="200"), E, "max_length raised to 200"),
        (field(max_length="200"), field(max_length="100"), C, "changes max_length"),
        (field(max_length="100"), field(max_length="100", help_text="'Shown'"), E, "help_text (no DDL)"),
        (field(max_length="100"), field(max_length="100", db_default="'x'"), E, "database default set"),
        (field(max_length="100", db_default="'x'"), field(max_length="100"), C, "changes db_default"),
        (field(max_length="100"), field(max_length="100", unique="True"), C, "changes unique"),
        (field(max_length="100"), field("django.db.models.TextField"), C, "CharField to TextField"),
        (field(null=True), field(db_default="'x'"), C, "makes f NOT NULL"),
        (field(max_length="100"), field(max_length="100"), E, "no database change"),
    ],
)
def test_alter_field(before: dict[str, Any], after: dict[str, Any], expected: Classification, reason: str) -> None:
    # GIVEN an AlterField with the field before and after
    # WHEN it is classified
    (classified,) = classify(
        plan_of(operation("Alter field f on job", "AlterField", field=after, previous_field=before))
    )
    # THEN only relaxing changes are expand
    assert classified.classification is expected
    assert reason in classified.reason


def test_alter_field_synthetic_helper_round_trips() -> None:
    # The helper above builds a real plan from emitter-shaped JSON (guards the test itself).
    op = alter(field(max_length="1"), field(max_length="2"))
    assert op.kind is OperationKind.ALTER_FIELD
    assert op.facts is not None
    assert op.facts.previous_field is not None


@pytest.mark.parametrize(
    ("hints", "expected", "reason"),
    [
        ({"safejob_phase": "expand"}, E, "annotated expand by its author"),
        ({"safejob_phase": "contract", "safejob_reason": "drops the old view"}, C, "(drops the old view)"),
        ({"safejob_phase": "expnad"}, NA, "invalid annotation safejob_phase='expnad'"),
        ({"safejob_phase": None}, NA, "invalid annotation"),
        ({"using": "replica"}, NA, "no safejob_phase annotation"),
    ],
)
def test_run_sql_annotations(hints: dict[str, Any], expected: Classification, reason: str) -> None:
    plan = plan_of(operation("Raw SQL operation -> SELECT 1", "RunSQL", hints=hints))
    (classified,) = classify(plan)
    assert classified.classification is expected
    assert reason in classified.reason


def test_separate_database_and_state_takes_its_worst_database_operation() -> None:
    # GIVEN a SeparateDatabaseAndState that drops a column in the database
    inner = [
        operation("Add field a to job", "AddField", field=field(null=True)),
        operation("Remove field legacy from job", "RemoveField"),
    ]
    line = "Custom state/database change combination"
    plan = plan_of(operation(line, "SeparateDatabaseAndState", database_operations=inner))
    # WHEN it is classified
    (classified,) = classify(plan)
    # THEN it is as strict as its strictest database operation, which the reason names
    assert classified.classification is C
    assert classified.reason.startswith("database operation 2 ('Remove field legacy from job') drops a column")


def test_unknown_operations_are_contract_unless_annotated() -> None:
    custom = {"line": "Refresh search vectors", "class": "app.ops.Refresh", "mro": ["app.ops.Refresh"]}
    hinted = custom | {"hints": {"safejob_phase": "expand"}}
    assert [op.classification for op in classify(plan_of(custom, hinted))] == [C, E]
    assert "fail safe" in classify(plan_of(custom))[0].reason


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Create index job_title_idx on field(s) title of model job", C),
        ("Remove index job_title_idx from job", C),
        ("Concurrently remove index job_title_idx from job", C),
        ("Rename index a on job to b", E),
        ("Create constraint c on model job", C),
        ("Remove constraint c from model job", C),
        ("Alter constraint c on job", E),
        ("Alter unique_together for job (1 constraint(s))", C),
        ("Alter index_together for job (1 constraint(s))", C),
        ("Set order_with_respect_to on job to owner", C),
        ("Change Meta options on job", E),
        ("Change managers on job", E),
        ("Rename table for job to job2", C),
        ("Alter job table comment", E),
        ("Creates extension pg_trgm", E),
        ("Create collation ci", E),
        ("Remove collation ci", C),
        ("Create proxy model OpenJob", E),
    ],
)
def test_the_other_kinds(line: str, expected: Classification) -> None:
    (classified,) = classify(parse_plan_text(f"Planned operations:\njobs.0007_other\n    {line}\n"))
    assert classified.classification is expected


def test_every_kind_has_a_rule() -> None:
    assert set(RULES) == set(OperationKind)


def test_the_docs_table_covers_every_kind() -> None:
    # GIVEN docs/workflows/migrate.md
    text = DOCS.read_text(encoding="utf-8")
    table = text.split("### Classification rules", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("|")]
    # THEN every operation kind has a row (its name in the first cell) in the classification table
    missing = [kind.value for kind in OperationKind if not any(re.search(rf"\b{kind.value}\b", c) for c in first_cells)]
    assert missing == []


def test_an_unknown_phase_is_refused() -> None:
    with pytest.raises(ValueError, match="'deploy' is not a valid Phase"):
        check_phase(captured("01_initial"), "deploy")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- properties
ALL_OPERATIONS = [
    (migration, op)
    for stem in ("00_fresh_full", "02_accounts_expand", "04_job_changes", "05_raw_operations", "06_remaining")
    for migration, op in captured(stem).operations()
]


@st.composite
def plans(draw: st.DrawFn) -> MigrationPlan:
    """Plans mixing operations from the captures (their facts included), in up to four migrations."""
    picks = draw(st.lists(st.sampled_from(ALL_OPERATIONS), max_size=12))
    sizes = draw(st.lists(st.integers(1, 4), min_size=4, max_size=4))
    migrations = []
    for number, size in enumerate(sizes, start=1):
        chunk, picks = picks[:size], picks[size:]
        if chunk:
            operations = [op.model_copy(update={"index": i}) for i, (_, op) in enumerate(chunk, start=1)]
            migrations.append(PlannedMigration(app=chunk[0][0].app, name=f"{number:04d}_m", operations=operations))
    return MigrationPlan(migrations=migrations, source="json")


@given(plans())
def test_contract_allows_everything_expand_allows(plan: MigrationPlan) -> None:
    expand, contract = check_phase(plan, "expand"), check_phase(plan, "contract")
    # the contract phase is never stricter than the expand phase
    assert not expand.allowed or contract.allowed
    # the contract phase refuses exactly the unannotated raw operations; expand refuses contract operations too
    counts = expand.counts()
    assert len(contract.violations) == counts["needs_annotation"]
    assert len(expand.violations) == counts["needs_annotation"] + counts["contract"]
    assert len(expand.operations) == sum(len(m.operations) for m in plan.migrations)
