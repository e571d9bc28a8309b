"""The alarm_route state in one DynamoDB table (pk, sk; TTL attribute `expires_at`).

| pk      | sk                | what                                                    | TTL                     |
|---------|-------------------|---------------------------------------------------------|-------------------------|
| GROUP   | group key         | GroupState JSON, `version` for optimistic concurrency   | 1 day after it empties  |
| ALERT   | fingerprint       | the latest state of each alert (inhibition sources)     | 1 day after resolve     |
| SILENCE | silence id        | silences and maintenance windows                        | 7 days after they end   |
| NFLOG   | at#notification id| the notification log                                    | 30 days                 |

Every write that could race is conditional, so concurrent invocations and redelivered events never lose an update.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from safejob_ops.alerting.dispatch import GroupState
from safejob_ops.alerting.models import Alert, AlertStatus, Notification
from safejob_ops.alerting.ports import GroupConflictError, StoredGroup
from safejob_ops.alerting.silences import Silence

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

RESOLVED_ALERT_TTL = timedelta(days=1)
ENDED_GROUP_TTL = timedelta(days=1)
FIRING_ALERT_TTL = timedelta(days=30)
SILENCE_TTL_AFTER_END = timedelta(days=7)
NFLOG_TTL = timedelta(days=30)


def stamp(at: datetime) -> str:
    """A sortable, fixed-width UTC timestamp (string comparison == time comparison)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(at: datetime) -> str:
    return str(int(at.timestamp()))


def _conflict(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoAlertStore:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:  # created on first use: cold start matters
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    # ------------------------------------------------------------------ groups
    def get_group(self, group_key: str) -> StoredGroup | None:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": "GROUP"}, "sk": {"S": group_key}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return StoredGroup(
            state=GroupState.model_validate_json(item["state"]["S"]), started=item.get("started", {}).get("BOOL", False)
        )

    def _group_item(self, state: GroupState, started: bool | None = None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": "GROUP"},
            "sk": {"S": state.group_key},
            "state": {"S": state.model_dump_json()},
            "version": {"N": str(state.version)},
        }
        if started is not None:
            item["started"] = {"BOOL": started}
        return item

    def create_group(self, state: GroupState) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item=self._group_item(state, started=False),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if _conflict(error):
                return False
            raise
        return True

    def update_group(self, state: GroupState, expected_version: int, started: bool | None = None) -> None:
        values: dict[str, Any] = {
            ":s": {"S": state.model_dump_json()},
            ":v": {"N": str(state.version)},
            ":expected": {"N": str(expected_version)},
        }
        assignments = ["#s = :s", "#v = :v"]
        if started is not None:
            assignments.append("started = :started")
            values[":started"] = {"BOOL": started}
        if state.alerts:
            expression = "SET " + ", ".join(assignments) + " REMOVE expires_at"
        else:  # an ended group is kept a day: a retried last flush and the next episode still find it
            values[":ttl"] = {"N": _epoch(datetime.now(UTC) + ENDED_GROUP_TTL)}
            expression = "SET " + ", ".join([*assignments, "expires_at = :ttl"])
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": "GROUP"}, "sk": {"S": state.group_key}},
                UpdateExpression=expression,
                ConditionExpression="#v = :expected",
                ExpressionAttributeNames={"#s": "state", "#v": "version"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _conflict(error):
                raise GroupConflictError(f"group {state.group_key} changed since version {expected_version}") from None
            raise

    def mark_started(self, group_key: str) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": "GROUP"}, "sk": {"S": group_key}},
                UpdateExpression="SET started = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )
        except ClientError as error:
            if not _conflict(error):  # the group already finished: nothing to mark
                raise

    # ------------------------------------------------------------------ alerts
    def put_alert(self, alert: Alert, inhibitor: bool = False) -> bool:
        updated = alert.updated_at or alert.ends_at or alert.starts_at
        ttl_base = alert.ends_at or updated
        ttl = ttl_base + (RESOLVED_ALERT_TTL if alert.status is AlertStatus.RESOLVED else FIRING_ALERT_TTL)
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": "ALERT"},
                    "sk": {"S": alert.fingerprint},
                    "alert": {"S": alert.model_dump_json()},
                    "status": {"S": alert.status.value},
                    "inhibitor": {"BOOL": inhibitor},
                    "updated_at": {"S": stamp(updated)},
                    "expires_at": {"N": _epoch(ttl)},
                },
                # An older (redelivered or out-of-order) state never overwrites a newer one.
                ConditionExpression="attribute_not_exists(pk) OR updated_at <= :u",
                ExpressionAttributeValues={":u": {"S": stamp(updated)}},
            )
        except ClientError as error:
            if _conflict(error):
                return False
            raise
        return True

    def _query(self, pk: str, **extra: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            **extra,
        }
        if "ExpressionAttributeValues" in extra:
            kwargs["ExpressionAttributeValues"] = {":pk": {"S": pk}, **extra["ExpressionAttributeValues"]}
        while True:
            page = self.client.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def firing_inhibitors(self) -> list[Alert]:
        # Only the alerts that can inhibit come back (and are parsed): a storm of other alerts costs a flush nothing.
        items = self._query(
            "ALERT",
            FilterExpression="#st = :f AND inhibitor = :t",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={":f": {"S": AlertStatus.FIRING.value}, ":t": {"BOOL": True}},
        )
        return [Alert.model_validate_json(item["alert"]["S"]) for item in items]

    # ------------------------------------------------------------------ silences
    def list_silences(self) -> list[Silence]:
        return [Silence.model_validate_json(item["silence"]["S"]) for item in self._query("SILENCE")]

    def put_silence(self, silence: Silence) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": "SILENCE"},
                "sk": {"S": silence.id},
                "silence": {"S": silence.model_dump_json()},
                "expires_at": {"N": _epoch(silence.ends_at + SILENCE_TTL_AFTER_END)},
            },
        )

    # ------------------------------------------------------------------ notification log
    def log_notification(self, notification: Notification, detail: str, at: datetime) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": "NFLOG"},
                "sk": {"S": f"{stamp(at)}#{notification.id}"},
                "receiver": {"S": notification.receiver},
                "group_key": {"S": notification.group_key},
                "status": {"S": notification.status.value},
                "fingerprints": {"S": json.dumps([a.fingerprint for a in notification.alerts])},
                "detail": {"S": detail},
                "expires_at": {"N": _epoch(at + NFLOG_TTL)},
            },
        )

    def notification_log(self, since: datetime | None = None) -> list[dict[str, str]]:
        extra: dict[str, Any] = {}
        if since is not None:
            extra = {
                "KeyConditionExpression": "pk = :pk AND sk >= :since",
                "ExpressionAttributeValues": {":since": {"S": stamp(since)}},
            }
        return [
            {key: value.get("S", value.get("N", "")) for key, value in item.items()}
            for item in self._query("NFLOG", **extra)
        ]
