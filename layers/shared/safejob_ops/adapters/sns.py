"""SNS publishing, with the client created on first use (never at import: cold start matters)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

DEFAULT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


class SnsPublisher:
    """`SnsPort` on boto3. Pass `client` to share one, or `session` to pick credentials and region."""

    def __init__(self, client: SNSClient | None = None, session: boto3.Session | None = None,
                 config: Config = DEFAULT_CONFIG) -> None:
        self._client = client
        self._session = session
        self._config = config

    @property
    def client(self) -> SNSClient:
        if self._client is None:
            self._client = (self._session or boto3.Session()).client("sns", config=self._config)
        return self._client

    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        response = self.client.publish(TopicArn=topic_arn, Subject=subject, Message=message)
        return response["MessageId"]
