"""Parse the pending Django migrations: the text of `manage.py migrate --plan`, and the JSON document of the
`safejob_plan` emitter (django_plan_json.py), cross-checked against each other.

The text is what Django itself prints, so it is the authority on *which* migrations run and in what order. It does
not say whether a new field is nullable, has a default, or whether a RunSQL is annotated: the JSON does, and every
JSON operation carries the exact line the text shows for it, so the two are matched line by line before the JSON's
facts are trusted (PlanMismatchError otherwise).

The text grammar, read by a small state machine (docs/workflows/migrate.md, "Plan parsing"):

    <anything>                         ignored until the header (system-check warnings land here)
    Planned operations:                header
      No planned migration operations. an empty plan
    app_label.migration_name           a migration heading (column 0)
        <description>[ -> <action>]    an operation (4 spaces); "Undo " prefix and " -> IRREVERSIBLE" when backwards
    safejob-plan-json: {...}           the emitter's marker line ends the text plan (parse_plan_output)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

HEADER = "Planned operations:"
EMPTY = "No planned migration operations."
JSON_FORMAT = "safejob-migrate-plan/1"
JSON_MARKER = "safejob-plan-json: "
IRREVERSIBLE = "IRREVERSIBLE"
UNDO_PREFIX = "Undo "
ARROW = " -> "
OPERATION_INDENT = "    "

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_HEADING = re.compile(r"^(?P<app>[^\W\d]\w*)\.(?P<name>\w+)$")
_DJANGO_MODULES = ("django.db.migrations.operations.", "django.contrib.postgres.operations.")


class PlanParseError(ValueError):
    """The output is not a `migrate --plan` listing (or not an emitter document); the message says where."""


class PlanMismatchError(PlanParseError):
    """The text plan and the JSON document disagree: they were not produced from the same code and database."""


class OperationKind(StrEnum):
    """Django's migration operations, named by their class (contrib.postgres included)."""

    CREATE_MODEL = "CreateModel"
    DELETE_MODEL = "DeleteModel"
    RENAME_MODEL = "RenameModel"
    ALTER_MODEL_TABLE = "AlterModelTable"
    ALTER_MODEL_TABLE_COMMENT = "AlterModelTableComment"
    ALTER_UNIQUE_TOGETHER = "AlterUniqueTogether"
    ALTER_INDEX_TOGETHER = "AlterIndexTogether"
    ALTER_ORDER_WITH_RESPECT_TO = "AlterOrderWithRespectTo"
    ALTER_MODEL_OPTIONS = "AlterModelOptions"
    ALTER_MODEL_MANAGERS = "AlterModelManagers"
    ADD_FIELD = "AddField"
    REMOVE_FIELD = "RemoveField"
    ALTER_FIELD = "AlterField"
    RENAME_FIELD = "RenameField"
    ADD_INDEX = "AddIndex"
    ADD_INDEX_CONCURRENTLY = "AddIndexConcurrently"
    REMOVE_INDEX = "RemoveIndex"
    REMOVE_INDEX_CONCURRENTLY = "RemoveIndexConcurrently"
    RENAME_INDEX = "RenameIndex"
    ADD_CONSTRAINT = "AddConstraint"
    ADD_CONSTRAINT_NOT_VALID = "AddConstraintNotValid"
    VALIDATE_CONSTRAINT = "ValidateConstraint"
    REMOVE_CONSTRAINT = "RemoveConstraint"
    ALTER_CONSTRAINT = "AlterConstraint"
    CREATE_EXTENSION = "CreateExtension"
    CREATE_COLLATION = "CreateCollation"
    REMOVE_COLLATION = "RemoveCollation"
    RUN_SQL = "RunSQL"
    RUN_PYTHON = "RunPython"
    SEPARATE_DATABASE_AND_STATE = "SeparateDatabaseAndState"
    UNKNOWN = "Unknown"


K = OperationKind
# The description each operation's describe() prints (Django 4.2 to 6.1), most specific first.
_DESCRIPTIONS: tuple[tuple[OperationKind, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        (K.CREATE_MODEL, r"Create (?:proxy )?model (?P<model>\S+)"),
        (K.DELETE_MODEL, r"Delete model (?P<model>\S+)"),
        (K.RENAME_MODEL, r"Rename model (?P<model>\S+) to (?P<name>\S+)"),
        (K.ALTER_MODEL_TABLE, r"Rename table for (?P<model>\S+) to (?P<name>.*)"),
        (K.ALTER_MODEL_TABLE_COMMENT, r"Alter (?P<model>\S+) table comment"),
        (K.ALTER_UNIQUE_TOGETHER, r"Alter unique_together for (?P<model>\S+) \(\d+ constraint\(s\)\)"),
        (K.ALTER_INDEX_TOGETHER, r"Alter index_together for (?P<model>\S+) \(\d+ constraint\(s\)\)"),
        (K.ALTER_ORDER_WITH_RESPECT_TO, r"Set order_with_respect_to on (?P<model>\S+) to (?P<name>.*)"),
        (K.ALTER_MODEL_OPTIONS, r"Change Meta options on (?P<model>\S+)"),
        (K.ALTER_MODEL_MANAGERS, r"Change managers on (?P<model>\S+)"),
        (K.ADD_FIELD, r"Add field (?P<name>\S+) to (?P<model>\S+)"),
        (K.REMOVE_FIELD, r"Remove field (?P<name>\S+) from (?P<model>\S+)"),
        (K.ALTER_FIELD, r"Alter field (?P<name>\S+) on (?P<model>\S+)"),
        (K.RENAME_FIELD, r"Rename field (?P<name>\S+) on (?P<model>\S+) to \S+"),
        (K.ADD_INDEX_CONCURRENTLY, r"Concurrently create index (?P<name>\S+) on field\(s\) .* of model (?P<model>\S+)"),
        (K.ADD_INDEX, r"Create index (?P<name>\S+) on field\(s\) .* of model (?P<model>\S+)"),
        (K.ADD_INDEX, r"Create index (?P<name>\S+) on .* on model (?P<model>\S+)"),
        (K.REMOVE_INDEX_CONCURRENTLY, r"Concurrently remove index (?P<name>\S+) from (?P<model>\S+)"),
        (K.REMOVE_INDEX, r"Remove index (?P<name>\S+) from (?P<model>\S+)"),
        (K.RENAME_INDEX, r"Rename index (?P<name>\S+) on (?P<model>\S+) to \S+"),
        (K.RENAME_INDEX, r"Rename unnamed index for .* on (?P<model>\S+) to (?P<name>\S+)"),
        (K.ADD_CONSTRAINT_NOT_VALID, r"Create not valid constraint (?P<name>\S+) on model (?P<model>\S+)"),
        (K.ADD_CONSTRAINT, r"Create constraint (?P<name>\S+) on model (?P<model>\S+)"),
        (K.VALIDATE_CONSTRAINT, r"Validate constraint (?P<name>\S+) on model (?P<model>\S+)"),
        (K.REMOVE_CONSTRAINT, r"Remove constraint (?P<name>\S+) from model (?P<model>\S+)"),
        (K.ALTER_CONSTRAINT, r"Alter constraint (?P<name>\S+) on (?P<model>\S+)"),
        (K.CREATE_EXTENSION, r"Creates extension (?P<name>\S+)"),
        (K.CREATE_COLLATION, r"Create collation (?P<name>\S+)"),
        (K.REMOVE_COLLATION, r"Remove collation (?P<name>\S+)"),
        (K.RUN_SQL, r"Raw SQL operation"),
        (K.RUN_PYTHON, r"Raw Python operation"),
        (K.SEPARATE_DATABASE_AND_STATE, r"Custom state/database change combination"),
    )
)
# Operations whose plan line carries " -> <SQL or docstring>" (Django appends it to anything with .sql or .code).
_WITH_ACTION = (K.RUN_SQL, K.RUN_PYTHON)


class FieldFacts(BaseModel):
    """A field as the emitter saw it (django_plan_json._field): what the text plan cannot say."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    path: str
    null: bool
    has_default: bool  # a Python default that stays (not a one-off preserve_default=False default)
    has_db_default: bool = False
    many_to_many: bool = False
    args: list[str] = []
    options: dict[str, str] = {}  # the deconstructed keyword arguments, serialized as in a migration file


class OperationFacts(BaseModel):
    """What the JSON emitter adds to an operation."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    operation_class: str = Field(alias="class")
    bases: list[str] = Field(default=[], alias="mro")  # the class and its bases, qualified
    reversible: bool = True
    hints: dict[str, str | int | float | bool | None] = {}
    field: FieldFacts | None = None
    previous_field: FieldFacts | None = None
    preserve_default: bool | None = None
    action: str | None = None  # full SQL or docstring (the text keeps 40 characters)
    database_operations: list[PlannedOperation] | None = None  # SeparateDatabaseAndState


class PlannedOperation(BaseModel):
    """One operation line of the plan.

    >>> op = parse_operation_line("Raw SQL operation -> UPDATE jobs_job SET location = NULL…", index=1)
    >>> (op.kind.value, op.action, op.truncated)
    ('RunSQL', 'UPDATE jobs_job SET location = NULL…', True)
    """

    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=1)  # 1-based position in its migration
    kind: OperationKind
    description: str  # describe(): no "Undo " prefix, no " -> action"
    action: str | None = None  # what follows " -> " (SQL or docstring, cut at 40 characters with "…")
    raw: str  # the line as Django printed it, without the 4-space indent
    model: str | None = None  # the model it acts on (a renamed model's old name)
    name: str | None = None  # the field, index or constraint (a renamed field's old name, a renamed model's new one)
    undo: bool = False  # "Undo " prefix: the migration is being unapplied
    irreversible: bool = False  # " -> IRREVERSIBLE": unapplying a RunSQL/RunPython that has no reverse
    facts: OperationFacts | None = None  # from the JSON document only

    @property
    def truncated(self) -> bool:
        return self.action is not None and self.action.endswith("…")


class PlannedMigration(BaseModel):
    model_config = ConfigDict(frozen=True)

    app: str
    name: str
    backwards: bool = False
    atomic: bool | None = None  # from the JSON document only
    operations: list[PlannedOperation] = []

    @property
    def label(self) -> str:
        return f"{self.app}.{self.name}"


class MigrationPlan(BaseModel):
    """The migrations `migrate` would run, in order.

    `source` says what it was read from: "text" (migrate --plan), "json" (the emitter) or "text+json" (both,
    cross-checked). `direction` is "backwards" when migrations are being unapplied: Django never mixes both.
    """

    model_config = ConfigDict(frozen=True)

    migrations: list[PlannedMigration] = []
    source: Literal["text", "json", "text+json"]
    django: str | None = None  # the Django version, from the JSON document

    @property
    def is_empty(self) -> bool:
        return not self.migrations

    @property
    def direction(self) -> Literal["forwards", "backwards"]:
        return "backwards" if any(m.backwards for m in self.migrations) else "forwards"

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.migrations]

    def operations(self) -> Iterator[tuple[PlannedMigration, PlannedOperation]]:
        """Every operation with its migration, in the order they run."""
        for migration in self.migrations:
            for operation in migration.operations:
                yield migration, operation


OperationFacts.model_rebuild()


def parse_operation_line(line: str, *, index: int) -> PlannedOperation:
    """One operation line (without its indent) into a PlannedOperation.

    >>> op = parse_operation_line("Undo Add field display_name to account", index=1)
    >>> (op.kind.value, op.undo, op.model, op.name)
    ('AddField', True, 'account', 'display_name')
    """
    text = line
    undo = text.startswith(UNDO_PREFIX)
    if undo:
        text = text[len(UNDO_PREFIX) :]
    kind, match = _match_description(text)
    action: str | None = None
    description = text
    if kind in _WITH_ACTION and match is not None:
        description, rest = text[: match.end()], text[match.end() :]
        if rest:
            if not rest.startswith(ARROW):
                raise PlanParseError(f"unexpected text after {description!r}: {rest!r}")
            action = rest[len(ARROW) :]
    elif kind is K.UNKNOWN and text.endswith(ARROW + IRREVERSIBLE):
        action = IRREVERSIBLE  # a custom operation with .sql or .code and no reverse
    groups = match.groupdict() if match is not None else {}
    return PlannedOperation(
        index=index,
        kind=kind,
        description=description,
        action=action,
        raw=line,
        model=groups.get("model"),
        name=groups.get("name"),
        undo=undo,
        irreversible=action == IRREVERSIBLE,
    )


def _match_description(text: str) -> tuple[OperationKind, re.Match[str] | None]:
    for kind, pattern in _DESCRIPTIONS:
        match = pattern.fullmatch(text) if kind not in _WITH_ACTION else pattern.match(text)
        if match is not None:
            return kind, match
    return K.UNKNOWN, None


def parse_plan_text(output: str) -> MigrationPlan:
    """Parse the output of `manage.py migrate --plan` (stdout; anything before the header is ignored).

    >>> plan = parse_plan_text("Planned operations:\\njobs.0002_job_title_idx\\n    Concurrently create index "
    ...                        "jobs_job_title_idx on field(s) title of model job\\n")
    >>> plan.labels, plan.migrations[0].operations[0].kind.value
    (['jobs.0002_job_title_idx'], 'AddIndexConcurrently')
    >>> parse_plan_text("Planned operations:\\n  No planned migration operations.\\n").is_empty
    True
    """
    migrations = _read_text(output)
    return MigrationPlan(migrations=migrations, source="text")


def _lines(output: str) -> list[str]:
    # Only "\n" separates lines: Django removes "\n" from actions, but a "\r" or U+2028 in SQL or a docstring
    # stays inside its line (str.splitlines would cut there).
    return [_ANSI.sub("", line.removesuffix("\r")) for line in output.split("\n")]


def _read_text(output: str) -> list[PlannedMigration]:
    """The state machine: SEEK_HEADER → AFTER_HEADER → (EMPTY | IN_MIGRATION) → END."""
    lines = _lines(output)
    state = "SEEK_HEADER"
    migrations: list[tuple[str, str, list[PlannedOperation]]] = []
    for number, line in enumerate(lines, start=1):
        if line.startswith(JSON_MARKER):
            break  # the emitter's document follows the text plan
        if state == "SEEK_HEADER":
            if line.strip() == HEADER:
                state = "AFTER_HEADER"
            continue
        if not line.strip():
            continue
        where = f"migrate --plan output, line {number}"
        if line.strip() == EMPTY and state == "AFTER_HEADER":
            state = "EMPTY"
        elif state == "EMPTY":
            raise PlanParseError(f"{where}: nothing may follow {EMPTY!r}, got {line!r}")
        elif (heading := _HEADING.match(line)) is not None:
            migrations.append((heading["app"], heading["name"], []))
            state = "IN_MIGRATION"
        elif line.startswith(OPERATION_INDENT) and state == "IN_MIGRATION":
            operations = migrations[-1][2]
            try:
                operations.append(parse_operation_line(line[len(OPERATION_INDENT) :], index=len(operations) + 1))
            except PlanParseError as error:
                raise PlanParseError(f"{where}: {error}") from None
        else:
            expected = "an operation (4-space indent) or a migration heading" if migrations else "a migration heading"
            raise PlanParseError(f"{where}: expected {expected} ('app.name'), got {line!r}")
    if state == "SEEK_HEADER":
        raise PlanParseError(f"not migrate --plan output: no {HEADER!r} line")
    if state == "AFTER_HEADER":
        raise PlanParseError(f"migrate --plan output ends after {HEADER!r}: neither migrations nor {EMPTY!r}")
    return [_migration(app, name, operations) for app, name, operations in migrations]


def _migration(app: str, name: str, operations: list[PlannedOperation]) -> PlannedMigration:
    # Django prints "Undo " (or " -> IRREVERSIBLE"/the reverse SQL) only when unapplying. A backwards migration
    # made only of reversible RunSQL/RunPython cannot be told apart in the text: the JSON says it explicitly.
    backwards = any(op.undo or op.irreversible for op in operations)
    return PlannedMigration(app=app, name=name, backwards=backwards, operations=operations)


# ---------------------------------------------------------------------------------------------- the JSON document
def parse_plan_json(document: str | bytes | Mapping[str, Any]) -> MigrationPlan:
    """Parse the emitter's document (django_plan_json.py): the JSON text, its MARKER line, or the decoded mapping.

    >>> plan = parse_plan_json('{"format": "safejob-migrate-plan/1", "django": "6.1.3", "migrations": []}')
    >>> plan.is_empty, plan.source
    (True, 'json')
    """
    data = _decode(document)
    if data.get("format") != JSON_FORMAT:
        raise PlanParseError(f"not a {JSON_FORMAT} document: format is {data.get('format')!r}")
    raw_migrations = data.get("migrations")
    if not isinstance(raw_migrations, list):
        raise PlanParseError("the plan document has no 'migrations' list")
    migrations = []
    for position, item in enumerate(raw_migrations, start=1):
        where = f"plan document, migration {position}"
        if not isinstance(item, Mapping):
            raise PlanParseError(f"{where}: not an object")
        try:
            operations = [_json_operation(op, index) for index, op in enumerate(item.get("operations", []), start=1)]
            migrations.append(
                PlannedMigration(
                    app=item["app"],
                    name=item["name"],
                    backwards=bool(item.get("backwards", False)),
                    atomic=item.get("atomic"),
                    operations=operations,
                )
            )
        except PlanParseError as error:
            raise type(error)(f"{where}: {error}") from None  # a mismatch stays a mismatch
        except (KeyError, TypeError, ValidationError) as error:
            raise PlanParseError(f"{where}: {error!r}") from None
    django = data.get("django")
    return MigrationPlan(migrations=migrations, source="json", django=str(django) if django is not None else None)


def _decode(document: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(document, Mapping):
        return document
    text = document.decode() if isinstance(document, bytes) else document
    text = text.strip().removeprefix(JSON_MARKER.strip()).strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanParseError(f"the plan document is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise PlanParseError("the plan document is not a JSON object")
    return data


def _json_operation(item: Any, index: int) -> PlannedOperation:
    if not isinstance(item, Mapping) or not isinstance(item.get("line"), str):
        raise PlanParseError(f"operation {index} has no 'line'")
    from_text = parse_operation_line(item["line"], index=index)
    nested = item.get("database_operations")
    facts = OperationFacts.model_validate(
        {
            **item,
            "database_operations": None
            if nested is None
            else [_json_operation(op, position) for position, op in enumerate(nested, start=1)],
        }
    )
    kind = _kind_of_class(facts.bases or [facts.operation_class])
    if from_text.kind is not K.UNKNOWN and kind is not K.UNKNOWN and kind is not from_text.kind:
        raise PlanMismatchError(f"operation {index} is a {kind.value} but its line reads as {from_text.kind.value}")
    return from_text.model_copy(
        update={
            "kind": kind if kind is not K.UNKNOWN else from_text.kind,
            "model": from_text.model or item.get("model"),
            "name": from_text.name or item.get("name"),
            "facts": facts,
        }
    )


def _kind_of_class(mro: list[str]) -> OperationKind:
    """The first of Django's own operation classes in the MRO (a subclass of AddField is an AddField;
    contrib.postgres's BtreeGinExtension is a CreateExtension)."""
    known = {kind.value for kind in OperationKind}
    for qualified in mro:
        module, _, name = qualified.rpartition(".")
        if (module + ".").startswith(_DJANGO_MODULES) and name in known:
            return OperationKind(name)
    return K.UNKNOWN


# ---------------------------------------------------------------------------------------------- both, cross-checked
def parse_plan(text: str, document: str | bytes | Mapping[str, Any] | None = None) -> MigrationPlan:
    """The plan from `migrate --plan` text, enriched with the emitter's document when given, after checking that
    both list the same migrations, in the same order, with the same operation lines.

    >>> text = "Planned operations:\\njobs.0005_rename_jobtag_tag\\n    Rename model JobTag to Tag\\n"
    >>> doc = {"format": "safejob-migrate-plan/1", "migrations": [{"app": "jobs", "name": "0005_rename_jobtag_tag",
    ...        "operations": [{"line": "Rename model JobTag to Tag", "class": "x.RenameModel",
    ...        "mro": ["django.db.migrations.operations.models.RenameModel"]}]}]}
    >>> parse_plan(text, doc).source
    'text+json'
    >>> parse_plan(text, {**doc, "migrations": []})
    Traceback (most recent call last):
    ...
    safejob_ops.migrate.plan.PlanMismatchError: the text plan has 1 migration(s), the JSON plan 0: ...
    """
    from_text = parse_plan_text(text)
    if document is None:
        return from_text
    from_json = parse_plan_json(document)
    cross_check(from_text, from_json)
    return from_json.model_copy(update={"source": "text+json"})


def parse_plan_output(output: str) -> MigrationPlan:
    """One log stream holding `migrate --plan` followed by `manage.py safejob_plan` (its MARKER line, if any)."""
    marker = next((line for line in _lines(output) if line.startswith(JSON_MARKER)), None)
    return parse_plan(output, marker[len(JSON_MARKER) :] if marker is not None else None)


def cross_check(text_plan: MigrationPlan, json_plan: MigrationPlan) -> None:
    """Raise PlanMismatchError unless both plans list the same migrations and operation lines, in order."""
    if text_plan.labels != json_plan.labels:
        raise PlanMismatchError(
            f"the text plan has {len(text_plan.labels)} migration(s), the JSON plan {len(json_plan.labels)}: "
            f"{text_plan.labels} != {json_plan.labels}"
        )
    for from_text, from_json in zip(text_plan.migrations, json_plan.migrations, strict=True):
        lines_text = [op.raw.rstrip() for op in from_text.operations]
        lines_json = [op.raw.rstrip() for op in from_json.operations]
        if lines_text != lines_json:
            raise PlanMismatchError(
                f"{from_text.label}: the operations differ between the text and the JSON plan: "
                f"{lines_text} != {lines_json}"
            )
        if from_text.backwards and not from_json.backwards:
            raise PlanMismatchError(f"{from_text.label}: the text plan unapplies it, the JSON plan applies it")


# ---------------------------------------------------------------------------------------------- showmigrations
class ShownMigration(BaseModel):
    model_config = ConfigDict(frozen=True)

    app: str
    name: str
    applied: bool

    @property
    def label(self) -> str:
        return f"{self.app}.{self.name}"


_SHOWN = re.compile(r"^\[(?P<mark>[ X-])\]\s+(?P<app>[^\W\d]\w*)\.(?P<name>\w+)(?: \(.*\))?$")


def parse_showmigrations_plan(output: str) -> list[ShownMigration]:
    """`manage.py showmigrations --plan`: every migration in dependency order, and whether it is applied: the
    "recorded previous state" that reverse migrations go back to. "[-]" (a partly applied squash) counts as not
    applied.

    >>> [m.label for m in parse_showmigrations_plan("[X]  accounts.0001_initial\\n[ ]  jobs.0001_initial\\n")
    ...  if m.applied]
    ['accounts.0001_initial']
    """
    shown = []
    for number, line in enumerate(_lines(output), start=1):
        if not line.strip():
            continue
        match = _SHOWN.match(line.strip())
        if match is None:
            raise PlanParseError(f"showmigrations --plan output, line {number}: unexpected {line!r}")
        shown.append(ShownMigration(app=match["app"], name=match["name"], applied=match["mark"] == "X"))
    return shown
