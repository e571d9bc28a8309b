"""The deploy ledger: every deploy's record, per environment, newest first.

The port (`DeployLedger`), its in-memory twin for tests (`InMemoryDeployLedger`), and the write rule both share:
a record is created, then replaced while it is `in_progress`; once final (succeeded, rolled_back, failed, refused)
it never changes. Writing the same record again is a no-op, so a retried write is safe. The DynamoDB adapter is
`safejob_ops.adapters.deploy_ledger.DynamoDeployLedger`.
"""

from __future__ import annotations

from typing import Protocol

from safejob_ops.deploy.models import DeployRecord


class LedgerConflictError(RuntimeError):
    """The record is final already, with other content; nothing was written."""


class DeployLedger(Protocol):
    def put(self, record: DeployRecord) -> None:
        """Write `record` (conditionally: new, or replacing an in-progress one). Raises LedgerConflictError."""
        ...

    def get(self, environment: str, sort_key: str) -> DeployRecord | None:
        """One record by its key, or None."""
        ...

    def history(self, environment: str, limit: int = 20) -> list[DeployRecord]:
        """The environment's `limit` latest records, newest first."""
        ...


def conflict(existing: DeployRecord) -> LedgerConflictError:
    return LedgerConflictError(
        f"deploy {existing.execution_id} in {existing.environment} is final ({existing.outcome}); "
        "its record is not changed"
    )


class InMemoryDeployLedger:
    """`DeployLedger` in a dict, with the adapter's write rule.

    >>> from datetime import UTC, datetime
    >>> ledger = InMemoryDeployLedger()
    >>> record = DeployRecord.model_validate({"environment": "local", "execution_id": "e1",
    ...     "started_at": datetime(2026, 3, 1, tzinfo=UTC), "requested_by": "ci", "git_sha": "abcdef0",
    ...     "services": ["backend"], "images": {"backend": "b@sha256:" + "0" * 64},
    ...     "strategy": {"type": "all_at_once"}})
    >>> ledger.put(record); ledger.put(record.model_copy(update={"outcome": "succeeded"}))
    >>> [r.outcome for r in ledger.history("local")]
    ['succeeded']
    """

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], DeployRecord] = {}

    def put(self, record: DeployRecord) -> None:
        key = (record.environment, record.sort_key)
        existing = self.records.get(key)
        if existing is not None and existing.final and existing != record:
            raise conflict(existing)
        self.records[key] = record

    def get(self, environment: str, sort_key: str) -> DeployRecord | None:
        return self.records.get((environment, sort_key))

    def history(self, environment: str, limit: int = 20) -> list[DeployRecord]:
        keys = sorted((key for key in self.records if key[0] == environment), reverse=True)[:limit]
        return [self.records[key] for key in keys]


def put_final(ledger: DeployLedger, record: DeployRecord) -> DeployRecord:
    """Write a final record; if this execution's record is final already with the same outcome (a retried task
    wrote it, with other timings), keep that one. Returns the record that is stored. LedgerConflictError otherwise.
    """
    try:
        ledger.put(record)
    except LedgerConflictError:
        existing = ledger.get(record.environment, record.sort_key)
        if existing is None or existing.outcome != record.outcome:
            raise
        return existing
    return record
