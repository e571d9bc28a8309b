"""`Snapshots` on RDS: manual DB snapshots (the pre-migration ones are named safejob-<env>-premigrate-*)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from safejob_ops.adapters.botoconfig import new_client
from safejob_ops.migrate.ports import SnapshotNotFoundError

if TYPE_CHECKING:  # boto3 loads on first use: cold start matters
    import boto3
    from mypy_boto3_rds.client import RDSClient



def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class RdsSnapshots:
    def __init__(self, client: RDSClient | None = None, session: boto3.Session | None = None) -> None:
        self._client = client
        self._session = session

    @property
    def client(self) -> RDSClient:
        if self._client is None:
            self._client = new_client("rds", self._session, read_timeout=10, max_attempts=5)
        return self._client

    def create(self, instance_id: str, snapshot_id: str, tags: Mapping[str, str]) -> str:
        try:
            created = self.client.create_db_snapshot(
                DBSnapshotIdentifier=snapshot_id, DBInstanceIdentifier=instance_id,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            return created["DBSnapshot"].get("Status", "creating")
        except ClientError as error:
            if _code(error) != "DBSnapshotAlreadyExists":
                raise
        # A retried start finds its own snapshot; a snapshot of another instance under this name is an error.
        existing = self._describe(snapshot_id)
        if existing.get("DBInstanceIdentifier") != instance_id:
            raise RuntimeError(f"snapshot {snapshot_id} exists and is not a snapshot of {instance_id}")
        return str(existing.get("Status", "creating"))

    def status(self, snapshot_id: str) -> str:
        return str(self._describe(snapshot_id).get("Status", "unknown"))

    def _describe(self, snapshot_id: str) -> Mapping[str, object]:
        try:
            found = self.client.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"]
        except ClientError as error:
            if _code(error) == "DBSnapshotNotFound":
                raise SnapshotNotFoundError(snapshot_id) from None
            raise
        if not found:
            raise SnapshotNotFoundError(snapshot_id)
        return found[0]
