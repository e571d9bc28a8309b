"""`Locks` on DynamoDB: one item per lock in the ops lock table (key `lock_name`; TTL attribute `expires_at`).

| attribute   | what                                                     |
|-------------|----------------------------------------------------------|
| lock_name   | e.g. `migrate/production` (the deploy workflow adds its own names) |
| owner       | the holder, e.g. an execution ARN                        |
| acquired_at | ISO 8601                                                 |
| expires_at  | epoch seconds: DynamoDB's TTL deletes it, and an acquire takes an expired lock at once |
| requested_by| who asked                                                |

Both writes are conditional, so two executions never both hold a lock, and nobody releases another's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from safejob_ops.adapters.botoconfig import new_client
from safejob_ops.migrate.models import LockHolder
from safejob_ops.migrate.ports import LockHeldError

if TYPE_CHECKING:  # boto3 loads on first use: cold start matters
    import boto3
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef



def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoLocks:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None,
                 session: boto3.Session | None = None) -> None:
        self.table_name = table_name
        self._client = client
        self._session = session

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = new_client("dynamodb", self._session, read_timeout=5, max_attempts=5)
        return self._client

    def acquire(self, name: str, owner: str, now: datetime, expires_at: datetime, requested_by: str) -> LockHolder:
        holder = LockHolder(name=name, owner=owner, acquired_at=now, expires_at=expires_at, requested_by=requested_by)
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_item(holder),
                # free, expired (TTL deletes lazily), or ours already (a retried acquire)
                ConditionExpression="attribute_not_exists(lock_name) OR expires_at < :now OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}, ":owner": {"S": owner}},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            current = self.holder(name)
            if current is None:  # released between the write and the read: report the race, change nothing
                current = holder.model_copy(update={"owner": "another owner (released meanwhile; retry)"})
            raise LockHeldError(current) from None
        return holder

    def release(self, name: str, owner: str) -> bool:
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key={"lock_name": {"S": name}},
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def holder(self, name: str) -> LockHolder | None:
        item = self.client.get_item(TableName=self.table_name, Key={"lock_name": {"S": name}},
                                    ConsistentRead=True).get("Item")
        if not item:
            return None
        return LockHolder(
            name=item["lock_name"]["S"],
            owner=item["owner"]["S"],
            acquired_at=datetime.fromisoformat(item["acquired_at"]["S"]),
            expires_at=datetime.fromtimestamp(int(item["expires_at"]["N"]), UTC),
            requested_by=item.get("requested_by", {}).get("S", ""),
        )


def _item(holder: LockHolder) -> dict[str, AttributeValueTypeDef]:
    return {
        "lock_name": {"S": holder.name},
        "owner": {"S": holder.owner},
        "acquired_at": {"S": holder.acquired_at.isoformat()},
        "expires_at": {"N": str(int(holder.expires_at.timestamp()))},
        "requested_by": {"S": holder.requested_by},
    }
