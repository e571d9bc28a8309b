"""migrate Snapshot: starts the pre-migration RDS snapshot, then looks at it after each Wait."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from safejob_ops.adapters.rds_snapshots import RdsSnapshots
from safejob_ops.migrate.models import SnapshotRequest
from safejob_ops.migrate.service import snapshot_step
from safejob_ops.settings import Settings


class SnapshotSettings(Settings):
    db_instance_id: str


settings = SnapshotSettings.from_env()
snapshots = RdsSnapshots()
logger = Logger()


@logger.inject_lambda_context(correlation_id_path="state.run.execution_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=SnapshotRequest)
    snapshot = snapshot_step(request, snapshots, settings.db_instance_id, datetime.now(UTC))
    logger.info("snapshot", extra={"snapshot_id": snapshot.snapshot_id, "status": snapshot.status})
    return snapshot.model_dump(mode="json")
