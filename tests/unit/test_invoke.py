"""`safejob-ops invoke`'s rebinding of a deploy event's topology to the deployed stack (no emulator here: the
emulator runs are in tests/integration/test_cli_live.py)."""

from __future__ import annotations

import copy
import doctest
import json
from pathlib import Path
from typing import Any

import pytest

from safejob_ops.deploy.workflow import StateRequest
from safejob_tools.commands import invoke
from safejob_tools.commands.invoke import RebindError, rebind_topology, topology_sources
from safejob_tools.localaws.template import TEMPLATE, load_template

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "deploy"
URL = "https://safejob-other-42.us-east-1.elb.amazonaws.com:8443"


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def _fake_outputs(topology: dict[str, Any]) -> dict[str, str]:
    """A value of its own for every output the topology needs, unlike any of the capture run's."""
    return {output: f"other:{output}" for output in topology_sources(topology).values()}


def _at(topology: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        topology = topology[key]
    return topology


def test_docstring_examples() -> None:
    result = doctest.testmod(invoke)
    assert result.failed == 0
    assert result.attempted > 0


def test_the_shift_event_is_rebound_to_the_stack_outputs_and_nothing_else_changes() -> None:
    # GIVEN the captured Shift event and a stack whose every resource differs from the capture run's
    event = _event("shift.json")
    before = copy.deepcopy(event)
    topology = event["state"]["run"]["topology"]
    outputs = _fake_outputs(topology)
    # WHEN its topology is rebound
    rebound, changed = rebind_topology(event, outputs, URL)
    # THEN every value of the topology is the stack's, each named on a line, and the event still parses
    new = rebound["state"]["run"]["topology"]
    sources = topology_sources(topology)
    assert {path: _at(new, path) for path in sources} == {path: outputs[o] for path, o in sources.items()}
    assert new["test_listener_url"] == URL
    assert len(changed) == len(sources) + 1 == 19  # 2 + 2 services x (2 colours x 3 + 2 switches), the URL
    assert "services.backend.prod.arn <- BackendProdRuleArn = other:BackendProdRuleArn" in changed
    assert "services.frontend.test.arn <- TestListenerArn = other:TestListenerArn" in changed
    StateRequest.model_validate(rebound)
    # AND the rest of the event, and the event given, are untouched
    assert {**rebound["state"]["run"], "topology": None} == {**before["state"]["run"], "topology": None}
    assert {k: v for k, v in rebound["state"].items() if k != "run"} == {
        k: v for k, v in before["state"].items() if k != "run"}
    assert event == before


def test_the_backend_weights_come_from_its_rules_and_the_frontend_ones_from_the_listeners() -> None:
    # GIVEN the Shift event (backend: kind rule; frontend: kind listener, as stacks/edge.yaml)
    sources = topology_sources(_event("shift.json")["state"]["run"]["topology"])
    # THEN each switch is bound to the output of its kind
    switches = [sources[("services", service, listener, "arn")]
                for service in ("backend", "frontend") for listener in ("prod", "test")]
    assert switches == ["BackendProdRuleArn", "BackendTestRuleArn", "ProdListenerArn", "TestListenerArn"]


def test_every_source_is_an_output_of_the_template_that_validate_takes_its_topology_from() -> None:
    # GIVEN the template: its Outputs, and the nested-stack outputs DeployValidateFunction's environment reads
    template = load_template(TEMPLATE)
    variables = template["Resources"]["DeployValidateFunction"]["Properties"]["Environment"]["Variables"]
    read_by_validate = {value["Fn::GetAtt"][1].removeprefix("Outputs.") for value in variables.values()
                        if isinstance(value, dict) and "Fn::GetAtt" in value}
    # WHEN the sources of a full topology are listed
    sources = set(topology_sources(_event("shift.json")["state"]["run"]["topology"]).values())
    # THEN each is a stack output, and the one Validate reads for the same value
    assert sources <= set(template["Outputs"])
    assert sources <= read_by_validate


@pytest.mark.parametrize("name", ["validate.json", "execution_canary.json"])
def test_an_event_without_a_topology_is_sent_unchanged(name: str) -> None:
    event = _event(name)
    assert rebind_topology(event, {}, URL) == (event, [])


def test_a_topology_already_the_stacks_changes_nothing() -> None:
    # GIVEN outputs equal to the event's own values
    event = _event("check_green.json")
    topology = event["state"]["run"]["topology"]
    outputs = {o: _at(topology, path) for path, o in topology_sources(topology).items()}
    # WHEN it is rebound / THEN no line, and the same event
    assert rebind_topology(event, outputs, topology["test_listener_url"]) == (event, [])


def test_a_stack_without_an_output_the_topology_needs_is_named() -> None:
    event = _event("rollback.json")
    outputs = _fake_outputs(event["state"]["run"]["topology"])
    del outputs["FrontendGreenTargetGroupArn"]
    with pytest.raises(RebindError, match="the stack has no output FrontendGreenTargetGroupArn"):
        rebind_topology(event, outputs, URL)


def test_a_topology_that_does_not_parse_is_refused() -> None:
    event = _event("shift.json")
    del event["state"]["run"]["topology"]["services"]["backend"]["green"]
    with pytest.raises(RebindError, match=r"state\.run\.topology does not parse"):
        rebind_topology(event, {}, URL)
