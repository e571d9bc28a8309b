"""`TaskLogs` on CloudWatch Logs: the lines of one awslogs stream (a one-off task's output), oldest first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from safejob_ops.adapters.botoconfig import new_client

if TYPE_CHECKING:  # boto3 loads on first use: cold start matters
    import boto3
    from mypy_boto3_logs.client import CloudWatchLogsClient

MAX_PAGES = 200  # 10,000 events a page: far beyond any migrate output


class CloudWatchTaskLogs:
    def __init__(self, client: CloudWatchLogsClient | None = None, session: boto3.Session | None = None) -> None:
        self._client = client
        self._session = session

    @property
    def client(self) -> CloudWatchLogsClient:
        if self._client is None:
            self._client = new_client("logs", self._session, read_timeout=10, max_attempts=5)
        return self._client

    def lines(self, group: str, stream: str) -> list[str]:
        lines: list[str] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            try:
                if token:
                    page = self.client.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True,
                                                      nextToken=token)
                else:
                    page = self.client.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return []
                raise
            lines.extend(event.get("message", "").rstrip("\n") for event in page.get("events", []))
            following = page.get("nextForwardToken")
            if not following or following == token:  # the same token twice: the end of the stream
                break
            token = following
        return lines
