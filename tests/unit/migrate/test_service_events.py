"""Every events/migrate/*.json parses with its model, and the ASL's placeholders are the template's substitutions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from safejob_ops.migrate.models import (
    FinishRequest,
    MigrateInput,
    NotifyRequest,
    SnapshotRequest,
    StateRequest,
    ValidateRequest,
)
from safejob_ops.migrate.service import MigrateInputError, RunConfig, validate_input

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events" / "migrate"
MODELS: dict[str, type[BaseModel]] = {
    "execution_expand": MigrateInput,
    "execution_contract_refused": MigrateInput,
    "execution_contract_phase": MigrateInput,
    "validate": ValidateRequest,
    "lock": StateRequest,
    "register": StateRequest,
    "plan": StateRequest,
    "snapshot_start": SnapshotRequest,
    "snapshot_poll": SnapshotRequest,
    "notify_failure": NotifyRequest,
    "notify_approval": NotifyRequest,
    "finish_succeeded": FinishRequest,
    "finish_failed": FinishRequest,
}
REFUSED = {"execution_bad_input"}


def load(name: str) -> Any:
    return json.loads((EVENTS / f"{name}.json").read_text())


def test_every_event_file_has_a_model() -> None:
    assert {path.stem for path in EVENTS.glob("*.json")} == set(MODELS) | REFUSED


@pytest.mark.parametrize("name", sorted(MODELS))
def test_an_event_parses_with_its_model(name: str) -> None:
    MODELS[name].model_validate(load(name))


def test_the_bad_input_event_is_refused_naming_the_image() -> None:
    config = RunConfig(environment_name="local", cluster_arn="c", subnets=["s"], security_groups=["g"])
    request = ValidateRequest.model_validate({**load("validate"), "input": load("execution_bad_input")})
    with pytest.raises(MigrateInputError, match=r"^image: a tag is not allowed"):
        validate_input(request, config)


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_the_asl_placeholders_are_the_state_machines_substitutions() -> None:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)  # a SafeLoader subclass
    machine = template["Resources"]["MigrateStateMachine"]["Properties"]
    asl = (ROOT / machine["DefinitionUri"]).read_text()
    assert set(re.findall(r"\$\{(\w+)\}", asl)) == set(machine["DefinitionSubstitutions"])


def test_the_state_machine_has_the_name_the_core_stacks_alarms_and_iam_expect() -> None:
    assert "Name: !Sub safejob-${EnvironmentName}-migrate\n" in (ROOT / "template.yaml").read_text()
