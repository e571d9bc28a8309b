"""`MaintenanceWindows` on the alarm_route admin function (Lambda Invoke): the deploy opens one per service for a
traffic step's bake, so its alarms feed the canary analysis instead of paging (docs/workflows/alarm_route.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from safejob_ops.adapters.botoconfig import new_client

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_lambda import LambdaClient


class AdminApiError(RuntimeError):
    """The admin function answered with an error."""


class LambdaMaintenanceWindows:
    def __init__(self, function_name: str, client: LambdaClient | None = None,
                 session: boto3.Session | None = None) -> None:
        self.function_name = function_name
        self._client = client
        self._session = session

    @property
    def client(self) -> LambdaClient:
        if self._client is None:
            self._client = new_client("lambda", self._session)
        return self._client

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        response = self.client.invoke(FunctionName=self.function_name, Payload=json.dumps(request).encode())
        payload: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
        if "FunctionError" in response:
            raise AdminApiError(f"{self.function_name}: {payload.get('errorType')}: {payload.get('errorMessage')}")
        return payload

    def open(self, service: str, opened_by: str, duration_minutes: int) -> str:
        answer = self._call({"action": "open_maintenance", "service": service, "opened_by": opened_by,
                             "duration_minutes": duration_minutes})
        return str(answer["silences"][0]["id"])

    def close(self, silence_id: str) -> None:
        try:
            self._call({"action": "close_maintenance", "silence_id": silence_id})
        except AdminApiError as error:
            if "SilenceNotFoundError" not in str(error):
                raise
