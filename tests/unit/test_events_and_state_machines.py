"""Contracts of the sample events and the state machine definitions, for every workflow:
- each state machine's ${Placeholders} are exactly its DefinitionSubstitutions keys (STYLE.md rule 5);
- each events/deploy/*.json parses with the deploy input model, or is refused naming the field (bad inputs).
(events/alarm_route and events/migrate are checked by their workflows' own tests.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safejob_ops.deploy.models import DeployInputError, parse_deploy_request
from safejob_tools.localaws.template import TEMPLATE, load_template, placeholders

ROOT = Path(__file__).resolve().parents[2]
STATE_MACHINES = {
    logical_id: resource["Properties"]
    for logical_id, resource in load_template(TEMPLATE)["Resources"].items()
    if resource["Type"] == "AWS::Serverless::StateMachine"
}


@pytest.mark.parametrize("logical_id", sorted(STATE_MACHINES))
def test_placeholders_equal_the_definition_substitutions(logical_id: str) -> None:
    properties = STATE_MACHINES[logical_id]
    definition = (ROOT / properties["DefinitionUri"]).read_text()
    assert placeholders(definition) == set(properties.get("DefinitionSubstitutions", {}))


def test_every_workflow_has_a_state_machine_file_in_the_template() -> None:
    files = {p.name for p in (ROOT / "statemachines").glob("*.asl.json")}
    assert files == {Path(p["DefinitionUri"]).name for p in STATE_MACHINES.values()}


@pytest.mark.parametrize("path", sorted((ROOT / "events" / "deploy").glob("execution_*.json")), ids=lambda p: p.stem)
def test_deploy_execution_events_parse_or_are_refused_naming_the_field(path: Path) -> None:
    data = json.loads(path.read_text())
    if path.stem.startswith("execution_bad"):
        with pytest.raises(DeployInputError) as refused:
            parse_deploy_request(data)
        assert "images.backend" in str(refused.value)
    else:
        request = parse_deploy_request(data)
        assert request.environment == data["environment"]
