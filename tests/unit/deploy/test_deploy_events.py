"""The deploy handlers' sample events (events/deploy/<handler>.json, as the state machine hands them over, captured by
`python -m safejob_tools.capture_deploy_events --write`): each parses with its handler's model, every handler has
one, and the Payloads of statemachines/deploy.asl.json are what those models take.
(The execution inputs, events/deploy/execution_*.json, are checked by tests/unit/test_events_and_state_machines.py.)"""

from __future__ import annotations

import doctest
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from safejob_ops.deploy.canary import Verdict
from safejob_ops.deploy.service import rollback_reason
from safejob_ops.deploy.workflow import StateRequest, ValidateRequest
from safejob_tools import capture_deploy_events
from safejob_tools.localaws.template import TEMPLATE, load_template

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events" / "deploy"
HANDLERS = sorted(path.name for path in (ROOT / "functions" / "deploy").iterdir() if (path / "app.py").is_file())
HANDLER_EVENTS = sorted(path.stem for path in EVENTS.glob("*.json") if not path.stem.startswith("execution_"))
ASL = json.loads((ROOT / "statemachines" / "deploy.asl.json").read_text())
# What the waitForTaskToken task adds to the payload; no other task has a token.
WAIT_FOR_TOKEN = "arn:aws:states:::lambda:invoke.waitForTaskToken"
LAMBDA_INVOKE = {"arn:aws:states:::lambda:invoke", WAIT_FOR_TOKEN}


def model_of(handler: str) -> type[BaseModel]:
    return ValidateRequest if handler == "validate" else StateRequest


def load(handler: str) -> Any:
    return json.loads((EVENTS / f"{handler}.json").read_text())


def deploy_tasks() -> dict[str, dict[str, Any]]:
    """Per handler (functions/deploy/<handler>), the ASL Task state that invokes it. The ASL names a function by a
    ${Placeholder}; the template's DefinitionSubstitutions map it to the function, whose CodeUri is the handler."""
    resources = load_template(TEMPLATE)["Resources"]
    substitutions = resources["DeployStateMachine"]["Properties"]["DefinitionSubstitutions"]
    tasks: dict[str, dict[str, Any]] = {}
    for name, state in ASL["States"].items():
        if state["Type"] != "Task" or state["Resource"] not in LAMBDA_INVOKE:
            continue
        placeholder = state["Parameters"]["FunctionName"].removeprefix("${").removesuffix("}")
        logical_id = substitutions[placeholder]["Fn::GetAtt"][0]
        handler = Path(resources[logical_id]["Properties"]["CodeUri"]).name
        assert handler not in tasks, f"{name} and another state both invoke {handler}"
        tasks[handler] = {"name": name, **state}
    return tasks


TASKS = deploy_tasks()


# ------------------------------------------------------------------------------------------------ the events
def test_every_deploy_handler_has_a_sample_event_and_every_event_a_handler() -> None:
    # GIVEN the handlers (functions/deploy/*) and the sample events that are not execution inputs
    # THEN they are the same set: a new handler without an event (or a stale event) fails here
    assert HANDLER_EVENTS == HANDLERS


@pytest.mark.parametrize("handler", HANDLER_EVENTS)
def test_a_handler_event_parses_with_its_model(handler: str) -> None:
    # GIVEN the sample event WHEN it is parsed as the handler parses it THEN it is valid
    request = model_of(handler).model_validate(load(handler))
    # AND only the approval (waitForTaskToken) carries a task token
    if isinstance(request, StateRequest):
        assert bool(request.task_token) == (handler == "approval")


@pytest.mark.parametrize("handler", HANDLER_EVENTS)
def test_a_handler_event_has_what_the_state_machine_passes_it(handler: str) -> None:
    # GIVEN the ASL's payload of the handler's task, and the sample event
    payload = TASKS[handler]["Parameters"]["Payload"]
    # THEN the event's keys are the payload's (without `.$`): nothing the state machine never sends
    assert set(load(handler)) == {key.removesuffix(".$") for key in payload}


def test_the_handler_events_are_one_execution_and_the_rollback_one_follows_a_rollback_verdict() -> None:
    # GIVEN the events of the run that succeeded (all but the rollback)
    validate = ValidateRequest.model_validate(load("validate"))
    states = {h: StateRequest.model_validate(load(h)).state for h in HANDLERS if h not in ("validate", "rollback")}
    # THEN they come from one execution, the one the validate event starts
    assert {state.run.execution_id for state in states.values()} == {validate.execution_id}
    assert {state.run.request.model_dump_json() for state in states.values()} == {
        states["preflight"].run.request.model_dump_json()}
    # AND the shift event carries the analysis the analyse event led to (the next step after a promotion)
    shift, analyse = states["shift"], states["analyse"]
    assert shift.analysis is not None
    assert analyse.traffic is not None
    assert shift.analysis.index == analyse.traffic.index
    assert shift.analysis.verdict == Verdict.PROMOTE
    # AND the rollback event is a rollback after a failed analysis, with the reason the rollback will give
    rollback = StateRequest.model_validate(load("rollback")).state
    step, reason = rollback_reason(rollback)
    assert step == "analyse"
    assert reason.startswith("canary analysis at 10%: ")


@pytest.mark.parametrize("handler", HANDLER_EVENTS)
def test_a_handler_event_names_no_emulator_address(handler: str) -> None:
    # THEN what only the emulator has (its 127.0.0.1 test listener, its `.emulated` placeholders) was replaced
    text = (EVENTS / f"{handler}.json").read_text()
    assert not [value for value in ("127.0.0.1", "localhost", ".emulated") if value in text]


# ------------------------------------------------------------------------------------------------ the ASL payloads
def test_every_deploy_handler_is_invoked_by_one_task_state() -> None:
    assert sorted(TASKS) == HANDLERS


@pytest.mark.parametrize("handler", HANDLERS)
def test_the_asl_payload_is_what_the_handler_model_takes(handler: str) -> None:
    # GIVEN the payload the ASL builds for the handler's task
    task = TASKS[handler]
    payload = task["Parameters"]["Payload"]
    fields = {key.removesuffix(".$") for key in payload}
    model = model_of(handler)
    # THEN it names only the model's fields, and every required one
    assert fields <= set(model.model_fields), f"{task['name']}: {fields - set(model.model_fields)} not in {model}"
    assert {name for name, field in model.model_fields.items() if field.is_required()} <= fields
    if handler == "validate":
        # the execution input and its identity, from the context object
        assert payload == {"input.$": "$", "execution_id.$": "$$.Execution.Id",
                           "execution_name.$": "$$.Execution.Name", "started_at.$": "$$.Execution.StartTime"}
    else:
        # the whole carried state; the waitForTaskToken task adds its token
        token = {"task_token.$": "$$.Task.Token"} if task["Resource"] == WAIT_FOR_TOKEN else {}
        assert payload == {"state.$": "$", **token}


def test_the_capture_scripts_helpers_do_what_their_examples_say() -> None:
    result = doctest.testmod(capture_deploy_events)
    assert result.attempted > 0
    assert result.failed == 0
