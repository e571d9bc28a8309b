"""`DeployLedger` on DynamoDB: one item per deploy in the deploy ledger table (stack output `DeployLedgerTableName`).

| attribute    | what                                                                      |
|--------------|---------------------------------------------------------------------------|
| pk           | the environment (`production`)                                            |
| sk           | `<started_at, UTC, fixed width>#<execution id>`: sorts by start time      |
| outcome      | in_progress, succeeded, rolled_back, failed or refused                    |
| requested_by, git_sha | copies, for reading the table in the console                     |
| record       | the whole `DeployRecord` as JSON                                          |

Writes are conditional: a new item, or one replacing an `in_progress` record; a final record never changes.
`history` is one Query on pk, newest first (ScanIndexForward=false). The client is created on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from safejob_ops.adapters.botoconfig import new_client
from safejob_ops.deploy.ledger import conflict
from safejob_ops.deploy.models import DeployRecord

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

MAX_PAGE = 100


class DynamoDeployLedger:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None,
                 session: boto3.Session | None = None) -> None:
        self.table_name = table_name
        self._client = client
        self._session = session

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:  # created on first use: cold start matters
            self._client = new_client("dynamodb", self._session)
        return self._client

    def put(self, record: DeployRecord) -> None:
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_item(record),
                ConditionExpression="attribute_not_exists(pk) OR outcome = :in_progress",
                ExpressionAttributeValues={":in_progress": {"S": "in_progress"}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            existing = self.get(record.environment, record.sort_key)
            if existing is None or existing != record:  # the same final record again: a retried write
                raise conflict(existing or record) from None

    def get(self, environment: str, sort_key: str) -> DeployRecord | None:
        item = self.client.get_item(TableName=self.table_name, Key={"pk": {"S": environment}, "sk": {"S": sort_key}},
                                    ConsistentRead=True).get("Item")
        return None if item is None else DeployRecord.model_validate_json(item["record"]["S"])

    def history(self, environment: str, limit: int = 20) -> list[DeployRecord]:
        records: list[DeployRecord] = []
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": environment}},
            ScanIndexForward=False,
            PaginationConfig={"MaxItems": limit, "PageSize": min(limit, MAX_PAGE)},
        )
        for page in pages:
            records.extend(DeployRecord.model_validate_json(item["record"]["S"]) for item in page.get("Items", []))
        return records[:limit]


def _item(record: DeployRecord) -> dict[str, AttributeValueTypeDef]:
    return {
        "pk": {"S": record.environment},
        "sk": {"S": record.sort_key},
        "outcome": {"S": record.outcome},
        "requested_by": {"S": record.requested_by},
        "git_sha": {"S": record.git_sha},
        "record": {"S": record.model_dump_json()},
    }
