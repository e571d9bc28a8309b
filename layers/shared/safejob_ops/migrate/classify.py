"""Expand or contract: whether each pending migration operation is safe while the previous release still serves.

- **expand**: the running (old) release keeps working against the migrated schema, and no long lock blocks its
  writes. Applied before the new tasks start (the deploy's migrate step runs with phase expand).
- **contract**: the old release may break (a dropped or renamed column, a tightened constraint), or writes are
  blocked for a table scan. Refused unless the input says `phase: contract`, i.e. no serving release predates it.
- **needs_annotation**: RunSQL and RunPython can do anything: their author must say which phase they belong to,
  with `hints={"safejob_phase": "expand" | "contract"}` on the operation. Refused in every phase until annotated.

Each rule is in RULES (one per OperationKind; docs/workflows/migrate.md has the same table, with the reasons).
Facts the text plan cannot show (nullability, defaults, annotations) come from the JSON plan; without them a rule
that needs them fails safe: contract, or needs_annotation for RunSQL/RunPython.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from safejob_ops.migrate.plan import FieldFacts, MigrationPlan, OperationKind, PlannedMigration, PlannedOperation

ANNOTATION_HINT = "safejob_phase"
ANNOTATION_REASON_HINT = "safejob_reason"
EMITTER = "manage.py safejob_plan (safejob_ops/migrate/django_plan_json.py)"


class Phase(StrEnum):
    EXPAND = "expand"
    CONTRACT = "contract"


class Classification(StrEnum):
    EXPAND = "expand"
    CONTRACT = "contract"
    NEEDS_ANNOTATION = "needs_annotation"


_SEVERITY = {Classification.EXPAND: 0, Classification.CONTRACT: 1, Classification.NEEDS_ANNOTATION: 2}


class MigrationRefusedError(Exception):
    """The plan holds operations the requested phase refuses; the message lists each with its fix."""


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    classification: Classification
    reason: str
    fix: str | None = None
    annotation: Phase | None = None


class ClassifiedOperation(BaseModel):
    """One operation of the plan, with its classification and the reason for it."""

    model_config = ConfigDict(frozen=True)

    migration: str  # app.name
    index: int  # 1-based position in the migration
    kind: OperationKind
    line: str  # as `migrate --plan` prints it
    classification: Classification
    reason: str
    fix: str | None = None
    annotation: Phase | None = None


class PhaseViolation(BaseModel):
    """An operation the phase refuses, with what to do about it."""

    model_config = ConfigDict(frozen=True)

    migration: str
    index: int
    line: str
    classification: Classification
    reason: str
    fix: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def message(self) -> str:
        return (
            f"{self.migration}, operation {self.index} ({self.line!r}) is {self.classification.value}: "
            f"{self.reason}. Fix: {self.fix}"
        )


class PhaseDecision(BaseModel):
    """Whether the plan may run in the phase; `violations` say which operations are refused and how to fix them."""

    model_config = ConfigDict(frozen=True)

    phase: Phase
    allowed: bool
    operations: list[ClassifiedOperation]
    violations: list[PhaseViolation]

    @property
    def errors(self) -> list[str]:
        return [violation.message for violation in self.violations]

    def counts(self) -> dict[str, int]:
        """How many operations of each classification the plan holds."""
        return {c.value: sum(op.classification is c for op in self.operations) for c in Classification}

    def raise_if_refused(self) -> None:
        if not self.allowed:
            raise MigrationRefusedError(
                f"{len(self.violations)} operation(s) refused in the {self.phase.value} phase:\n- "
                + "\n- ".join(self.errors)
            )


# ------------------------------------------------------------------------------------------------------ the rules
@dataclass(frozen=True)
class Context:
    """What a rule may know beyond the operation: its migration, and the tables created earlier in the plan."""

    migration: PlannedMigration
    created_models: frozenset[tuple[str, str]] = field(default_factory=frozenset)


Rule = Callable[[PlannedOperation, Context], Verdict]
RULES: dict[OperationKind, Rule] = {}

E, C, NA = Classification.EXPAND, Classification.CONTRACT, Classification.NEEDS_ANNOTATION
_K = OperationKind
_TEXT_ONLY_FIX = f"plan with the JSON emitter too ({EMITTER}), next to migrate --plan"


def _static(kind: OperationKind, classification: Classification, reason: str, fix: str | None = None) -> None:
    RULES[kind] = lambda _operation, _context: Verdict(classification=classification, reason=reason, fix=fix)


def rule(*kinds: OperationKind) -> Callable[[Rule], Rule]:
    """Register a rule for operation kinds."""

    def register(function: Rule) -> Rule:
        for kind in kinds:
            RULES[kind] = function
        return function

    return register


_static(_K.CREATE_MODEL, E, "creates a new table: the running release never reads or writes it")
_static(
    _K.DELETE_MODEL,
    C,
    "drops a table the running release may still query",
    "first ship a release that no longer uses the model, then delete it in a contract release",
)
_static(
    _K.RENAME_MODEL,
    C,
    "renames the table: the running release still queries it by its old name",
    "keep the table name with Meta.db_table, or copy to a new model over several releases",
)
_static(
    _K.ALTER_MODEL_TABLE,
    C,
    "renames the table: the running release still queries it by its old name",
    "rename only once no running release uses the old name",
)
_static(_K.ALTER_MODEL_TABLE_COMMENT, E, "changes a table comment only")
_static(
    _K.ALTER_UNIQUE_TOGETHER,
    C,
    "adds or drops unique constraints: the build blocks writes, and the running release's writes may break it",
    "use Meta.constraints with AddIndexConcurrently/AddConstraintNotValid",
)
_static(
    _K.ALTER_INDEX_TOGETHER,
    C,
    "adds or drops indexes without CONCURRENTLY: writes are blocked during the build",
    "use AddIndexConcurrently/RemoveIndexConcurrently (django.contrib.postgres.operations)",
)
_static(
    _K.ALTER_ORDER_WITH_RESPECT_TO,
    C,
    "adds or drops the NOT NULL _order column, which the running release does not write",
)
_static(_K.ALTER_MODEL_OPTIONS, E, "changes Django's model state only (ordering, verbose names...): no DDL")
_static(_K.ALTER_MODEL_MANAGERS, E, "changes Django's model managers only: no DDL")
_static(
    _K.REMOVE_FIELD,
    C,
    "drops a column: the running release SELECTs and INSERTs every column of its model",
    "first ship a release whose model no longer has the field (a state-only RemoveField in "
    "SeparateDatabaseAndState, the column nullable or with db_default), then drop the column in a contract release",
)
_static(
    _K.RENAME_FIELD,
    C,
    "renames a column the running release still reads and writes by its old name",
    "keep the column name with db_column=, or add the new field, write both, backfill, and remove the old one "
    "in a contract release",
)
_static(
    _K.ADD_INDEX,
    C,
    "CREATE INDEX without CONCURRENTLY blocks writes to the table for the whole build",
    "use django.contrib.postgres.operations.AddIndexConcurrently, in a migration with atomic = False",
)
_static(_K.ADD_INDEX_CONCURRENTLY, E, "CREATE INDEX CONCURRENTLY: reads and writes continue during the build")
_static(
    _K.REMOVE_INDEX,
    C,
    "drops an index the running release's queries may depend on, and DROP INDEX blocks the table",
    "drop it with RemoveIndexConcurrently once no running release needs it",
)
_static(
    _K.REMOVE_INDEX_CONCURRENTLY,
    C,
    "drops an index the running release's queries may depend on",
    "drop it once no running release needs it",
)
_static(_K.RENAME_INDEX, E, "renames an index: queries do not name indexes")
_static(
    _K.ADD_CONSTRAINT,
    C,
    "validates every row while blocking writes, and refuses the running release's writes that break it",
    "add it with AddConstraintNotValid (expand), then ValidateConstraint",
)
_static(
    _K.ADD_CONSTRAINT_NOT_VALID,
    E,
    "NOT VALID: no scan of existing rows under lock; new writes are checked, so the running release must "
    "already respect it",
)
_static(
    _K.VALIDATE_CONSTRAINT,
    E,
    "VALIDATE CONSTRAINT scans under a SHARE UPDATE EXCLUSIVE lock: reads and writes continue",
)
_static(
    _K.REMOVE_CONSTRAINT,
    C,
    "drops a constraint the running release may rely on (a unique that get_or_create counts on)",
    "drop it once no running release relies on it",
)
_static(_K.ALTER_CONSTRAINT, E, "changes Django-side attributes of a constraint only: no DDL")
_static(_K.CREATE_EXTENSION, E, "installs a PostgreSQL extension: nothing existing changes")
_static(_K.CREATE_COLLATION, E, "creates a collation: nothing existing changes")
_static(
    _K.REMOVE_COLLATION,
    C,
    "drops a collation that columns of the running release may use",
    "drop it once no column uses it",
)


@rule(_K.ADD_FIELD)
def _add_field(operation: PlannedOperation, context: Context) -> Verdict:
    name = operation.name or "the field"
    new = operation.facts.field if operation.facts is not None else None
    if new is None:
        return Verdict(
            classification=C,
            reason=f"the text plan does not say whether {name} is nullable or has a database default",
            fix=_TEXT_ONLY_FIX,
        )
    if new.many_to_many:
        return Verdict(classification=E, reason="creates a new join table: the running release never uses it")
    if new.null:
        return Verdict(classification=E, reason="nullable: the running release's INSERTs leave it NULL")
    if new.has_db_default:
        return Verdict(
            classification=E, reason="has a database default (db_default): the running release's INSERTs get it"
        )
    tighten = f"add {name} with null=True or db_default= now, backfill, and make it NOT NULL in a contract release"
    if new.has_default:
        return Verdict(
            classification=C,
            reason=f"NOT NULL {name} with a Python default only: Django fills the existing rows, then drops the "
            "column default, so the running release's INSERTs (which omit the column) fail",
            fix=f"use db_default= instead of default= (Django 5.0+), or {tighten}",
        )
    return Verdict(
        classification=C,
        reason=f"NOT NULL {name} without a default: the running release's INSERTs omit it and fail",
        fix=tighten,
    )


# AlterField changes that the running release cannot notice: Django-side attributes, no DDL.
_STATE_ONLY = frozenset(
    {
        "auto_now",
        "auto_now_add",
        "blank",
        "choices",
        "db_comment",
        "default",
        "editable",
        "error_messages",
        "help_text",
        "limit_choices_to",
        "related_name",
        "related_query_name",
        "storage",
        "upload_to",
        "validators",
        "verbose_name",
    }
)


@rule(_K.ALTER_FIELD)
def _alter_field(operation: PlannedOperation, context: Context) -> Verdict:
    name = operation.name or "the field"
    facts = operation.facts
    if facts is None or facts.field is None or facts.previous_field is None:
        return Verdict(
            classification=C,
            reason=f"the text plan does not say how {name} changes (nullability, type, default)",
            fix=_TEXT_ONLY_FIX,
        )
    old, new = facts.previous_field, facts.field
    if old.null and not new.null:
        return Verdict(
            classification=C,
            reason=f"makes {name} NOT NULL: the running release may still write NULL (the ORM writes every column, "
            "so no default helps)",
            fix="first ship a release that always writes a value, and backfill the NULLs",
        )
    if old.path != new.path:
        return Verdict(
            classification=C,
            reason=f"changes the type of {name} ({_short(old.path)} to {_short(new.path)})",
            fix="add a new field of the new type, write both, backfill, and switch over in a contract release",
        )
    relaxed, hard = _alterations(old, new)
    if hard:
        return Verdict(
            classification=C,
            reason=f"changes {', '.join(hard)} of {name}: not provably compatible with the running release",
            fix="split it: relaxing changes now, the others in a contract release",
        )
    return Verdict(classification=E, reason=f"only relaxes {name}: {', '.join(relaxed) or 'no database change'}")


def _alterations(old: FieldFacts, new: FieldFacts) -> tuple[list[str], list[str]]:
    relaxed = ["now nullable"] if new.null and not old.null else []
    hard = []
    for key in sorted((set(old.options) | set(new.options)) - {"null"}):
        before, after = old.options.get(key), new.options.get(key)
        if before == after:
            continue
        if key in _STATE_ONLY:
            relaxed.append(f"{key} (no DDL)")
        elif key == "max_length" and _int(after) > _int(before) >= 0:
            relaxed.append(f"max_length raised to {after}")
        elif key == "db_default" and after is not None:
            relaxed.append("database default set")
        else:
            hard.append(key)
    return relaxed, hard


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else -1
    except ValueError:
        return -1


def _short(path: str) -> str:
    return path.rsplit(".", 1)[-1]


@rule(_K.RUN_SQL, _K.RUN_PYTHON)
def _raw(operation: PlannedOperation, context: Context) -> Verdict:
    where = f"the {operation.kind.value}(...) in {context.migration.label}"
    if operation.facts is None:
        return Verdict(
            classification=NA,
            reason=f"{operation.kind.value} needs an annotation, which the text plan cannot show",
            fix=_TEXT_ONLY_FIX,
        )
    annotated = _annotation(operation, where)
    if annotated is not None:
        return annotated
    return Verdict(
        classification=NA,
        reason=f"{operation.kind.value} can do anything, and it has no {ANNOTATION_HINT} annotation",
        fix=f'add hints={{"{ANNOTATION_HINT}": "expand"}} (or "contract") to {where}',
    )


def _annotation(operation: PlannedOperation, where: str) -> Verdict | None:
    """The author's safejob_phase hint as a verdict; None when there is none."""
    hints = operation.facts.hints if operation.facts is not None else {}
    if ANNOTATION_HINT not in hints:
        return None
    value = hints[ANNOTATION_HINT]
    if value not in {phase.value for phase in Phase}:
        return Verdict(
            classification=NA,
            reason=f"invalid annotation {ANNOTATION_HINT}={value!r}: expected 'expand' or 'contract'",
            fix=f'set hints={{"{ANNOTATION_HINT}": "expand"}} (or "contract") on {where}',
        )
    phase = Phase(str(value))
    why = hints.get(ANNOTATION_REASON_HINT)
    return Verdict(
        classification=Classification(phase.value),
        reason=f"annotated {phase.value} by its author" + (f" ({why})" if why else ""),
        annotation=phase,
    )


@rule(_K.SEPARATE_DATABASE_AND_STATE)
def _separate(operation: PlannedOperation, context: Context) -> Verdict:
    nested = operation.facts.database_operations if operation.facts is not None else None
    if nested is None:
        return Verdict(
            classification=C,
            reason="the text plan does not show the database operations inside SeparateDatabaseAndState",
            fix=_TEXT_ONLY_FIX,
        )
    if not nested:
        return Verdict(classification=E, reason="changes Django's state only: no database change")
    verdicts = [(inner, _verdict(inner, context)) for inner in nested]
    inner, worst = max(verdicts, key=lambda pair: _SEVERITY[pair[1].classification])
    return worst.model_copy(update={"reason": f"database operation {inner.index} ({inner.raw!r}) {worst.reason}"})


@rule(_K.UNKNOWN)
def _unknown(operation: PlannedOperation, context: Context) -> Verdict:
    annotated = _annotation(operation, f"the operation in {context.migration.label}")
    if annotated is not None:
        return annotated
    return Verdict(
        classification=C,
        reason="an operation the classifier does not know: treated as contract (fail safe)",
        fix=f'give it hints={{"{ANNOTATION_HINT}": "expand"}} if it takes hints, or add a rule to '
        "safejob_ops.migrate.classify",
    )


# Rules that do not apply to a table this plan creates: nothing serving uses it yet.
_NOT_TABLE_SCOPED = frozenset({_K.CREATE_MODEL, _K.RUN_SQL, _K.RUN_PYTHON, _K.SEPARATE_DATABASE_AND_STATE, _K.UNKNOWN})


def _verdict(operation: PlannedOperation, context: Context) -> Verdict:
    if context.migration.backwards or operation.undo or operation.irreversible:
        return Verdict(
            classification=C,
            reason="unapplies a migration: reverse migrations are a rollback, run only through the approved "
            "rollback path",
            fix="roll back through the migrate workflow's rollback approval, not a deploy",
        )
    model = (context.migration.app, (operation.model or "").lower())
    if operation.kind not in _NOT_TABLE_SCOPED and model in context.created_models:
        return Verdict(
            classification=E,
            reason=f"acts on {operation.model}, a table created earlier in this plan: no running release uses it",
        )
    return RULES[operation.kind](operation, context)


# ------------------------------------------------------------------------------------------------------ public API
def classify(plan: MigrationPlan) -> list[ClassifiedOperation]:
    """Every operation of the plan, in order, with its classification and reason.

    >>> from safejob_ops.migrate.plan import parse_plan_text
    >>> plan = parse_plan_text("Planned operations:\\njobs.0005_rename_jobtag_tag\\n    Rename model JobTag to Tag")
    >>> [(op.classification.value, op.reason) for op in classify(plan)]
    [('contract', 'renames the table: the running release still queries it by its old name')]
    """
    classified = []
    created: set[tuple[str, str]] = set()
    for migration in plan.migrations:
        for operation in migration.operations:
            context = Context(migration=migration, created_models=frozenset(created))
            verdict = _verdict(operation, context)
            classified.append(
                ClassifiedOperation(
                    migration=migration.label,
                    index=operation.index,
                    kind=operation.kind,
                    line=operation.raw,
                    classification=verdict.classification,
                    reason=verdict.reason,
                    fix=verdict.fix,
                    annotation=verdict.annotation,
                )
            )
            _track_created(created, migration, operation)
    return classified


def _track_created(created: set[tuple[str, str]], migration: PlannedMigration, operation: PlannedOperation) -> None:
    if migration.backwards or not operation.model:
        return
    if operation.kind is _K.CREATE_MODEL:
        created.add((migration.app, operation.model.lower()))
    elif operation.kind is _K.RENAME_MODEL and operation.name and (migration.app, operation.model.lower()) in created:
        created.add((migration.app, operation.name.lower()))


def check_phase(plan: MigrationPlan, phase: Phase | Literal["expand", "contract"]) -> PhaseDecision:
    """Whether `plan` may run in `phase`: contract operations only in the contract phase, unannotated
    RunSQL/RunPython never.

    >>> from safejob_ops.migrate.plan import parse_plan_text
    >>> plan = parse_plan_text("Planned operations:\\naccounts.0003_account_contract\\n"
    ...                        "    Remove field legacy_username from account")
    >>> check_phase(plan, "expand").allowed, check_phase(plan, "contract").allowed
    (False, True)
    >>> print(check_phase(plan, "expand").errors[0])  # doctest: +ELLIPSIS
    accounts.0003_account_contract, operation 1 ('Remove field legacy_username from account') is contract: ...
    """
    phase = Phase(phase)
    operations = classify(plan)
    violations = []
    for op in operations:
        refused = op.classification is NA or (op.classification is C and phase is Phase.EXPAND)
        if not refused:
            continue
        if op.classification is C:
            later = "deploy it with phase: contract, once no serving release predates it"
            fix = f"{op.fix}; otherwise {later}" if op.fix else later
        else:
            fix = op.fix or f'annotate it with hints={{"{ANNOTATION_HINT}": "expand" | "contract"}}'
        violations.append(
            PhaseViolation(
                migration=op.migration,
                index=op.index,
                line=op.line,
                classification=op.classification,
                reason=op.reason,
                fix=fix,
            )
        )
    return PhaseDecision(phase=phase, allowed=not violations, operations=operations, violations=violations)
