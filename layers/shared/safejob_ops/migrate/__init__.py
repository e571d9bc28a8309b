"""The migrate workflow's domain: parse the pending Django migrations and classify them as expand or contract.

- plan: `migrate --plan` text and the emitter's JSON document → MigrationPlan (cross-checked).
- classify: each operation → expand | contract | needs_annotation; check_phase(plan, phase) → PhaseDecision.
- django_plan_json: the emitter. It runs inside the application's Django process and is NOT imported here
  (Lambda has no Django).
"""

from safejob_ops.migrate.classify import (
    ANNOTATION_HINT,
    Classification,
    ClassifiedOperation,
    MigrationRefusedError,
    Phase,
    PhaseDecision,
    PhaseViolation,
    check_phase,
    classify,
)
from safejob_ops.migrate.plan import (
    MigrationPlan,
    OperationKind,
    PlanMismatchError,
    PlannedMigration,
    PlannedOperation,
    PlanParseError,
    parse_plan,
    parse_plan_json,
    parse_plan_output,
    parse_plan_text,
    parse_showmigrations_plan,
)

__all__ = [
    "ANNOTATION_HINT",
    "Classification",
    "ClassifiedOperation",
    "MigrationPlan",
    "MigrationRefusedError",
    "OperationKind",
    "Phase",
    "PhaseDecision",
    "PhaseViolation",
    "PlanMismatchError",
    "PlanParseError",
    "PlannedMigration",
    "PlannedOperation",
    "check_phase",
    "classify",
    "parse_plan",
    "parse_plan_json",
    "parse_plan_output",
    "parse_plan_text",
    "parse_showmigrations_plan",
]
