"""The alarm_route handlers in-process against the deployed stack, driven by the events/ files (the same files
`sam local invoke -e` takes). Bad input fails before any side effect, with an error that names the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from safejob_ops.alerting.service import AdminRequestModel, DeliverInput, FlushInput
from safejob_tools.localaws.deploy import DeployedStack
from safejob_tools.localaws.sink import HttpSink

pytestmark = pytest.mark.emulator

EVENTS = Path(__file__).resolve().parents[2] / "events" / "alarm_route"
STEP_MODELS: dict[str, type[BaseModel]] = {"flush_": FlushInput, "deliver_": DeliverInput}
SOURCE_EVENTS = sorted(p for p in EVENTS.glob("*.json") if not p.stem.startswith(("flush_", "deliver_", "admin_")))


def invoke(stack: DeployedStack, function: str, payload: Any) -> tuple[Any, bool]:
    response = stack.aws.client("lambda").invoke(FunctionName=stack.resources[function],
                                                 Payload=json.dumps(payload).encode())
    return json.loads(response["Payload"].read()), "FunctionError" not in response


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.stem)
def test_every_event_file_parses_with_its_model(path: Path) -> None:
    data = json.loads(path.read_text())
    for prefix, model in STEP_MODELS.items():
        if path.stem.startswith(prefix):
            model.model_validate(data)
            return
    if path.stem.startswith("admin_"):
        AdminRequestModel.model_validate({"request": data})
        return
    assert isinstance(data, dict)  # source events: checked by the normaliser tests, and by ingest below
    assert data


@pytest.mark.parametrize("path", SOURCE_EVENTS, ids=lambda p: p.stem)
def test_ingest_accepts_every_source_event(stack: DeployedStack, path: Path) -> None:
    # GIVEN a sample event of one source WHEN the ingest function is invoked with it
    payload, ok = invoke(stack, "AlarmRouteIngestFunction", json.loads(path.read_text()))
    # THEN it succeeds; an unknown shape is reported and routed to the fallback instead of being dropped
    assert ok, payload
    if path.stem == "unknown":
        assert payload["unrecognised"]
        assert len(payload["groups_created"] + payload["groups_updated"]) == 1
    elif "insufficient_data" in path.stem:
        assert payload["alerts"] == []
    else:
        assert payload["alerts"], payload


def test_admin_api_creates_lists_and_expires_a_silence(stack: DeployedStack) -> None:
    request = json.loads((EVENTS / "admin_create_silence.json").read_text())
    created, ok = invoke(stack, "AlarmRouteAdminFunction", request)
    assert ok, created
    silence_id = created["silences"][0]["id"]
    listed, _ = invoke(stack, "AlarmRouteAdminFunction", {"action": "list_silences"})
    assert silence_id in [s["id"] for s in listed["silences"]]
    expired, ok = invoke(stack, "AlarmRouteAdminFunction", {"action": "expire_silence", "silence_id": silence_id})
    assert ok, expired
    listed, _ = invoke(stack, "AlarmRouteAdminFunction", {"action": "list_silences"})
    assert silence_id not in [s["id"] for s in listed["silences"]]


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"action": "create_silence", "matchers": [], "created_by": "x", "comment": "y"}, "matchers"),
        ({"action": "create_silence", "matchers": ['sev=~"("'], "created_by": "x", "comment": "y"}, "matchers"),
        ({"action": "open_maintenance", "service": "api", "opened_by": "x", "duration_minutes": 100000},
         "max_duration"),
        ({"action": "drop_table"}, "action"),
    ],
)
def test_admin_rejects_bad_requests_naming_the_field_and_changes_nothing(
    stack: DeployedStack, request_body: dict[str, Any], field: str
) -> None:
    before, _ = invoke(stack, "AlarmRouteAdminFunction", {"action": "list_silences", "include_expired": True})
    payload, ok = invoke(stack, "AlarmRouteAdminFunction", request_body)
    after, _ = invoke(stack, "AlarmRouteAdminFunction", {"action": "list_silences", "include_expired": True})
    assert not ok
    assert field in payload["errorMessage"]
    assert after == before


def test_deliver_rejects_a_malformed_notification_before_sending(stack: DeployedStack, sink: HttpSink) -> None:
    event = json.loads((EVENTS / "deliver_input.json").read_text())
    del event["notification"]["receiver"]
    sent_before = len(sink.requests())
    payload, ok = invoke(stack, "AlarmRouteDeliverFunction", event)
    assert not ok
    assert "receiver" in payload["errorMessage"]
    assert len(sink.requests()) == sent_before


def test_deliver_sends_a_notification_once_however_often_it_is_invoked(stack: DeployedStack, sink: HttpSink) -> None:
    # GIVEN the sample notification, with a fresh id
    event = json.loads((EVENTS / "deliver_input.json").read_text())
    event["notification"]["id"] = "functional-" + "0" * 21
    before = len(sink.requests("/slack/slack-platform"))
    # WHEN it is delivered three times (a retried task, a replay)
    results = [invoke(stack, "AlarmRouteDeliverFunction", event) for _ in range(3)]
    # THEN every invocation reports success, and Slack got it once
    assert all(ok for _, ok in results), results
    assert len(sink.requests("/slack/slack-platform")) - before == 1
