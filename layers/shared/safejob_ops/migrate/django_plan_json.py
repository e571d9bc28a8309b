"""The pending migration plan as JSON, with what `migrate --plan` does not print: the operation class, the field's
null/default before and after, the `safejob_phase` hints of RunSQL/RunPython, and the migration's atomicity.

This module runs INSIDE the application's Django process (the release image), never in Lambda: it imports Django,
which the Lambda layer does not ship. It is self-contained (Django only, no safejob_ops import), so the application
can use it unchanged as a management command (copy it to `<app>/management/commands/safejob_plan.py`) or as a
script with DJANGO_SETTINGS_MODULE set:

    python manage.py safejob_plan [app_label] [migration_name] [--database default] [--indent 2]
    python django_plan_json.py [app_label] [migration_name]

The targets mean exactly what they mean to `migrate`. Each operation carries the very line `migrate --plan` prints
for it (`line`, from Django's own `describe_operation`), which is what the parser cross-checks the text plan
against (safejob_ops.migrate.plan.parse_plan). The document's format is FORMAT; a consumer refuses other values.
Without --indent, the output is one line starting with MARKER, so that it can be picked out of a log stream.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import django  # type: ignore[import-untyped]
from django.core.management.base import BaseCommand, CommandError  # type: ignore[import-untyped]
from django.core.management.commands.migrate import Command as MigrateCommand  # type: ignore[import-untyped]
from django.db import DEFAULT_DB_ALIAS, connections  # type: ignore[import-untyped]
from django.db.migrations.exceptions import AmbiguityError  # type: ignore[import-untyped]
from django.db.migrations.executor import MigrationExecutor  # type: ignore[import-untyped]
from django.db.migrations.operations.models import ModelOperation  # type: ignore[import-untyped]
from django.db.migrations.serializer import serializer_factory  # type: ignore[import-untyped]
from django.db.migrations.state import ProjectState  # type: ignore[import-untyped]

FORMAT = "safejob-migrate-plan/1"
MARKER = "safejob-plan-json: "
ACTION_LIMIT = 2000  # characters of SQL or docstring kept (the text plan keeps 40)


def plan_document(
    app_label: str | None = None, migration_name: str | None = None, database: str = DEFAULT_DB_ALIAS
) -> dict[str, Any]:
    """The plan `migrate [app_label] [migration_name]` would run now, as a JSON-able document (see FORMAT)."""
    connection = connections[database]
    executor = MigrationExecutor(connection)
    targets = _targets(executor, app_label, migration_name)
    plan = executor.migration_plan(targets)
    # Forwards, one state advances through the plan, as the executor's does (linear in the history's length).
    forward_state = _applied_state(executor) if plan and not plan[0][1] else None
    migrations = []
    for migration, backwards in plan:
        if backwards:  # the state with this migration applied (a backwards plan is short: rebuilt each time)
            state = executor.loader.project_state((migration.app_label, migration.name), at_end=True)
        else:
            state = forward_state
        operations = _operations(migration.app_label, migration.operations, state, backwards)
        migrations.append(
            {
                "app": migration.app_label,
                "name": migration.name,
                "backwards": bool(backwards),
                "atomic": bool(migration.atomic),
                "operations": operations,
            }
        )
    return {
        "format": FORMAT,
        "django": django.get_version(),
        "database": database,
        "vendor": str(connection.vendor),
        "migrations": migrations,
    }


def _applied_state(executor: Any) -> Any:
    """The project state of the applied migrations: what MigrationExecutor._create_project_state builds."""
    loader = executor.loader
    state = ProjectState(real_apps=loader.unmigrated_apps)
    applied = {loader.graph.nodes[key] for key in loader.applied_migrations if key in loader.graph.nodes}
    for migration, _backwards in executor.migration_plan(loader.graph.leaf_nodes(), clean_start=True):
        if migration in applied:
            migration.mutate_state(state, preserve=False)
    return state


def _targets(executor: Any, app_label: str | None, migration_name: str | None) -> list[tuple[str, str | None]]:
    """The same targets `migrate` computes from its positional arguments."""
    graph = executor.loader.graph
    if app_label is None:
        return list(graph.leaf_nodes())
    if app_label not in executor.loader.migrated_apps:
        raise CommandError(f"App '{app_label}' does not have migrations.")
    if migration_name is None:
        return [key for key in graph.leaf_nodes() if key[0] == app_label]
    if migration_name == "zero":
        return [(app_label, None)]
    try:
        migration = executor.loader.get_migration_by_prefix(app_label, migration_name)
    except AmbiguityError:
        raise CommandError(f"More than one migration matches '{migration_name}' in app '{app_label}'.") from None
    except KeyError:
        raise CommandError(f"Cannot find a migration matching '{migration_name}' from app '{app_label}'.") from None
    target = (app_label, migration.name)
    if target not in graph.nodes and target in executor.loader.replacements:
        target = executor.loader.replacements[target].replaces[-1]
    return [target]


def _operations(app_label: str, operations: Iterable[Any], state: Any, backwards: bool) -> list[dict[str, Any]]:
    """Describe each operation against the state it runs in, advancing that state (forwards) as Django would."""
    described = []
    for operation in operations:
        described.append(_operation(app_label, operation, state, backwards))
        if not backwards:
            operation.state_forwards(app_label, state)
    return described


def _operation(app_label: str, operation: Any, state: Any, backwards: bool) -> dict[str, Any]:
    line, _is_error = MigrateCommand.describe_operation(operation, backwards)
    mro = [f"{cls.__module__}.{cls.__qualname__}" for cls in type(operation).__mro__ if cls is not object]
    item: dict[str, Any] = {
        "line": line,
        "describe": str(operation.describe()),
        "class": mro[0],
        "mro": mro,
        "model": _model_name(operation),
        "name": _operation_name(operation),
        "reversible": bool(operation.reversible),
        "hints": _jsonable_mapping(getattr(operation, "hints", None)),
    }
    field = getattr(operation, "field", None)
    if field is not None and hasattr(field, "deconstruct"):
        preserve = getattr(operation, "preserve_default", True)
        item["field"] = _field(field, preserve_default=bool(preserve))
        item["preserve_default"] = bool(preserve)
    previous = _previous_field(app_label, operation, state)
    if previous is not None and not backwards:
        item["previous_field"] = _field(previous, preserve_default=True)
    action = _action(operation, backwards)
    if action is not None:
        item["action"] = action
    if hasattr(operation, "database_operations"):
        nested_state = state.clone()
        item["database_operations"] = _operations(app_label, operation.database_operations, nested_state, backwards)
    return item


def _model_name(operation: Any) -> str | None:
    """The model an operation is about: model_name for field/index/constraint ops, the (old) name for model ops."""
    value = getattr(operation, "model_name", None)
    if value is None and isinstance(operation, ModelOperation):
        value = operation.name  # RenameModel: the old name
    return value if isinstance(value, str) else None


def _previous_field(app_label: str, operation: Any, state: Any) -> Any:
    """The field as it is before an AlterField/RemoveField, from the migration state (None if not a field op)."""
    model_name = getattr(operation, "model_name", None)
    name = getattr(operation, "name", None)
    if not isinstance(model_name, str) or not isinstance(name, str):
        return None
    model_state = state.models.get((app_label, model_name.lower()))
    if model_state is None:
        return None
    return model_state.fields.get(name)


def _field(field: Any, *, preserve_default: bool) -> dict[str, Any]:
    _name, path, args, kwargs = field.deconstruct()
    has_db_default = bool(getattr(field, "has_db_default", lambda: False)())
    return {
        "path": str(path),
        "null": bool(field.null),
        # A one-off default (preserve_default=False) only fills existing rows: the field has no default afterwards.
        "has_default": bool(field.has_default()) and preserve_default,
        "has_db_default": has_db_default,
        "many_to_many": bool(field.many_to_many),
        "args": [_serialize(arg) for arg in args],
        "options": {str(key): _serialize(value) for key, value in sorted(kwargs.items())},
    }


def _action(operation: Any, backwards: bool) -> str | None:
    """The full SQL (RunSQL) or docstring (RunPython), which the text plan cuts at 40 characters."""
    if hasattr(operation, "code"):
        code = operation.reverse_code if backwards else operation.code
        return None if code is None else (code.__doc__ or "")[:ACTION_LIMIT]
    if hasattr(operation, "sql"):
        sql = operation.reverse_sql if backwards else operation.sql
        return None if sql is None else str(sql)[:ACTION_LIMIT]
    return None


def _serialize(value: Any) -> str:
    """A stable text form of a deconstructed argument: Django's migration serializer, else repr."""
    try:
        text, _imports = serializer_factory(value).serialize()
    except ValueError:
        return repr(value)
    return str(text)


def _jsonable_mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    return {
        str(key): (item if isinstance(item, str | int | float | bool) or item is None else repr(item))
        for key, item in value.items()
    }


def _operation_name(operation: Any) -> str | None:
    """The name of the field, model, index or constraint the operation is about."""
    for value in (
        getattr(operation, "name", None),
        getattr(getattr(operation, "index", None), "name", None),
        getattr(getattr(operation, "constraint", None), "name", None),
        getattr(operation, "new_name", None),
    ):
        if isinstance(value, str):
            return value
    return None


def render(document: Mapping[str, Any], indent: int | None = None) -> str:
    """The document as text: one MARKER-prefixed line by default, or indented JSON."""
    if indent is None:
        return MARKER + json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(document, ensure_ascii=False, indent=indent)


class Command(BaseCommand):  # type: ignore[misc]
    help = "Print the pending migration plan as JSON, with the attributes the expand/contract classifier needs."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("app_label", nargs="?", help="As for migrate: only this app's migrations.")
        parser.add_argument("migration_name", nargs="?", help="As for migrate: a target migration, or 'zero'.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        parser.add_argument("--indent", type=int, default=None, help="Indented JSON instead of one marked line.")

    def handle(self, *args: Any, **options: Any) -> None:
        document = plan_document(options["app_label"], options["migration_name"], options["database"])
        self.stdout.write(render(document, options["indent"]))


if __name__ == "__main__":
    django.setup()
    _arguments = sys.argv[1:]
    sys.stdout.write(render(plan_document(*_arguments[:2])) + "\n")
