"""Graphs of a metric: CloudWatch draws a PNG (GetMetricWidgetImage), S3 keeps it, a presigned URL shows it.

Clients are created on first use. A presigned URL is valid for `expires_in` seconds at most (7 days, the SigV4
limit) and never longer than the credentials that signed it: in Lambda those are the role's temporary
credentials, so a long-lived link needs a signer with longer-lived credentials or a public prefix.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from safejob_ops.adapters.botoconfig import new_client

if TYPE_CHECKING:  # boto3 loads on first use: cold start matters
    import boto3
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_s3 import S3Client

SEVEN_DAYS = 7 * 24 * 3600


class CloudWatchGraphs:
    """`GraphPort` on CloudWatch and S3: PNGs go to `s3://<bucket>/<prefix><sha256 of the PNG>.png`."""

    def __init__(self, bucket: str, *, prefix: str = "graphs/", expires_in: int = SEVEN_DAYS,
                 cloudwatch: CloudWatchClient | None = None, s3: S3Client | None = None,
                 session: boto3.Session | None = None) -> None:
        if not bucket:
            raise ValueError("a bucket is required")
        if not 1 <= expires_in <= SEVEN_DAYS:
            raise ValueError("expires_in must be between 1 second and 7 days")
        self.bucket = bucket
        self.prefix = prefix
        self.expires_in = expires_in
        self._cloudwatch = cloudwatch
        self._s3 = s3
        self._session = session

    @property
    def cloudwatch(self) -> CloudWatchClient:
        if self._cloudwatch is None:
            self._cloudwatch = new_client("cloudwatch", self._session)
        return self._cloudwatch

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = new_client("s3", self._session, signature_version="s3v4")
        return self._s3

    def render(self, widget_json: str) -> str | None:
        if not widget_json.strip():
            return None
        image = self.cloudwatch.get_metric_widget_image(MetricWidget=widget_json, OutputFormat="png")
        png = image.get("MetricWidgetImage", b"")
        if not png:
            return None
        key = f"{self.prefix}{hashlib.sha256(png).hexdigest()}.png"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=png, ContentType="image/png")
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expires_in)
