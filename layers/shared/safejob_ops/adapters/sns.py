"""SNS publishing, with the client created on first use (never at import: cold start matters)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from safejob_ops.adapters.botoconfig import client_config

if TYPE_CHECKING:  # boto3 loads on first use: cold start matters
    import boto3
    from botocore.config import Config
    from mypy_boto3_sns import SNSClient



class SnsPublisher:
    """`SnsPort` on boto3. Pass `client` to share one, or `session` to pick credentials and region."""

    def __init__(self, client: SNSClient | None = None, session: boto3.Session | None = None,
                 config: Config | None = None) -> None:
        self._client = client
        self._session = session
        self._config = config

    @property
    def client(self) -> SNSClient:
        if self._client is None:
            import boto3

            self._client = (self._session or boto3.Session()).client("sns", config=self._config or client_config())
        return self._client

    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        response = self.client.publish(TopicArn=topic_arn, Subject=subject, Message=message)
        return response["MessageId"]
