"""The boto3 adapters against moto: secrets (Secrets Manager, SSM), SNS, and graphs (CloudWatch + S3).

moto 5.2.5 does not implement CloudWatch GetMetricWidgetImage. Here that one call is stubbed at the botocore level
(`botocore.stub.Stubber` on the CloudWatch client, which also checks the parameters we send); S3 stays moto.
"""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from safejob_ops.adapters.graphs import CloudWatchGraphs
from safejob_ops.adapters.secrets import ParameterSecrets, SecretResolutionError
from safejob_ops.adapters.sns import SnsPublisher
from safejob_ops.alerting.receivers import SecretRef

pytestmark = pytest.mark.usefixtures("aws")

SLACK_URL = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/s3cr3tS3cr3t"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
WIDGET = json.dumps({"metrics": [["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", "app/x/1"]],
                     "period": 60, "stat": "Sum", "start": "-PT3H"})


# -- secrets ------------------------------------------------------------------------------------------------------


def test_secrets_manager_string_and_json_key() -> None:
    # GIVEN a plain secret and a JSON secret in Secrets Manager
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="alerting/hook", SecretString=SLACK_URL)
    sm.create_secret(Name="alerting/slack", SecretString=json.dumps({"url": SLACK_URL, "port": 443}))
    secrets = ParameterSecrets()

    # WHEN they are resolved, THEN the value, or the selected field, comes back as a string
    assert secrets.resolve(SecretRef(secret="alerting/hook")) == SLACK_URL
    assert secrets.resolve(SecretRef(secret="alerting/slack", key="url")) == SLACK_URL
    assert secrets.resolve(SecretRef(secret="alerting/slack", key="port")) == "443"


def test_binary_secret_is_decoded() -> None:
    # GIVEN a secret stored as bytes
    boto3.client("secretsmanager").create_secret(Name="alerting/bin", SecretBinary=SLACK_URL.encode())

    # WHEN it is resolved, THEN it is text
    assert ParameterSecrets().resolve(SecretRef(secret="alerting/bin")) == SLACK_URL


def test_ssm_secure_string_is_decrypted() -> None:
    # GIVEN a routing key as an SSM SecureString, and a JSON one
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/alerting/pagerduty/key", Value="pdkey0123", Type="SecureString")
    ssm.put_parameter(Name="/alerting/pagerduty/json", Value='{"routing_key": "pdkey4567"}', Type="SecureString")
    secrets = ParameterSecrets()

    # WHEN they are resolved, THEN the decrypted values come back
    assert secrets.resolve(SecretRef(ssm="/alerting/pagerduty/key")) == "pdkey0123"
    assert secrets.resolve(SecretRef(ssm="/alerting/pagerduty/json", key="routing_key")) == "pdkey4567"


def test_values_are_cached_for_max_age() -> None:
    # GIVEN a resolved secret that is then rotated
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="alerting/rotating", SecretString="v1")
    ref = SecretRef(secret="alerting/rotating")
    cached, uncached = ParameterSecrets(), ParameterSecrets(max_age=0)
    assert (cached.resolve(ref), uncached.resolve(ref)) == ("v1", "v1")
    sm.put_secret_value(SecretId="alerting/rotating", SecretString="v2")

    # WHEN it is resolved again, THEN the cache (300 s by default) still serves v1, while max_age=0 reads v2
    assert cached.max_age == 300
    assert cached.resolve(ref) == "v1"
    assert uncached.resolve(ref) == "v2"


def test_a_bad_key_never_shows_the_value() -> None:
    # GIVEN a JSON secret without the key asked for, and a secret that is not JSON at all
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="alerting/json", SecretString=json.dumps({"url": SLACK_URL}))
    sm.create_secret(Name="alerting/plain", SecretString=SLACK_URL)
    secrets = ParameterSecrets()

    # WHEN a key is asked of them, THEN the error names the secret and the key, never the value
    for name, expected in (("alerting/json", "has no key 'token'"), ("alerting/plain", "is not JSON")):
        with pytest.raises(SecretResolutionError, match=expected) as caught:
            secrets.resolve(SecretRef(secret=name, key="token"))
        assert SLACK_URL not in str(caught.value)
        assert "s3cr3t" not in str(caught.value)


def test_a_missing_secret_raises() -> None:
    # WHEN a secret that does not exist is resolved, THEN Powertools' error says so
    with pytest.raises(GetParameterError):
        ParameterSecrets().resolve(SecretRef(secret="alerting/nope"))


def test_adapters_create_no_client_until_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no region configured, so that creating any client would fail
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")

    # WHEN the adapters are built (as at a Lambda's cold start), THEN nothing is created yet
    ParameterSecrets()
    SnsPublisher()
    CloudWatchGraphs("graphs-bucket")

    # AND the first use is what needs a region
    with pytest.raises(Exception, match="region"):
        SnsPublisher().publish("arn:aws:sns:eu-west-1:123456789012:t", "s", "m")


# -- SNS ------------------------------------------------------------------------------------------------------------


def test_sns_publish_reaches_the_topic_subscribers() -> None:
    # GIVEN a topic with an SQS subscription (how we can read what an email subscriber would get)
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="ops-email")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="ops-email-copy")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    # WHEN a message is published
    message_id = SnsPublisher().publish(topic, "[FIRING:1] CRITICAL HighErrorRate", "body\nline 2")

    # THEN the subscriber got exactly it
    [received] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)["Messages"]
    envelope = json.loads(received["Body"])
    assert (envelope["MessageId"], envelope["Subject"], envelope["Message"]) == (
        message_id, "[FIRING:1] CRITICAL HighErrorRate", "body\nline 2")


def test_sns_publish_to_a_missing_topic_raises() -> None:
    # WHEN a topic that does not exist is published to, THEN the AWS error is raised
    with pytest.raises(ClientError, match="NotFound"):
        SnsPublisher().publish("arn:aws:sns:eu-west-1:123456789012:nope", "s", "m")


# -- graphs -----------------------------------------------------------------------------------------------------------


def test_graph_is_drawn_stored_and_presigned_for_seven_days() -> None:
    # GIVEN a graphs bucket (moto) and CloudWatch drawing a PNG (stubbed: moto lacks GetMetricWidgetImage)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="safejob-graphs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    cloudwatch = boto3.client("cloudwatch")
    graphs = CloudWatchGraphs("safejob-graphs", cloudwatch=cloudwatch)

    # WHEN the widget is rendered
    with Stubber(cloudwatch) as stub:
        stub.add_response("get_metric_widget_image", {"MetricWidgetImage": PNG},
                          {"MetricWidget": WIDGET, "OutputFormat": "png"})
        url = graphs.render(WIDGET)
        stub.assert_no_pending_responses()

    # THEN the PNG is stored under graphs/<sha256>.png as an image
    key = f"graphs/{hashlib.sha256(PNG).hexdigest()}.png"
    stored = s3.get_object(Bucket="safejob-graphs", Key=key)
    assert (stored["Body"].read(), stored["ContentType"]) == (PNG, "image/png")
    # AND the URL is a SigV4 presigned GET of it, valid for 7 days, that serves the PNG
    assert url is not None
    parts = urlsplit(url)
    assert parts.path.endswith(key)
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["604800"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    fetched = requests.get(url, timeout=5)  # intercepted by moto
    assert (fetched.status_code, fetched.content) == (200, PNG)


def test_no_widget_or_no_image_gives_no_graph() -> None:
    # GIVEN CloudWatch answering with an empty image
    cloudwatch = boto3.client("cloudwatch")
    graphs = CloudWatchGraphs("safejob-graphs", cloudwatch=cloudwatch)

    with Stubber(cloudwatch) as stub:
        # WHEN the widget is blank, THEN CloudWatch is not even asked (the stub has nothing queued)
        assert graphs.render("  ") is None
        # WHEN the image comes back empty, THEN there is no graph and nothing is stored
        stub.add_response("get_metric_widget_image", {"MetricWidgetImage": b""})
        assert graphs.render(WIDGET) is None


def test_cloudwatch_errors_are_raised() -> None:
    # GIVEN CloudWatch refusing the widget
    cloudwatch = boto3.client("cloudwatch")
    graphs = CloudWatchGraphs("safejob-graphs", cloudwatch=cloudwatch)

    # WHEN it is rendered, THEN the error is raised (the notifier decides to go on without a graph)
    with Stubber(cloudwatch) as stub:
        stub.add_client_error("get_metric_widget_image", "InvalidParameterInput", "bad widget")
        with pytest.raises(ClientError, match="InvalidParameter"):
            graphs.render(WIDGET)


@pytest.mark.parametrize(("bucket", "expires_in"), [("", 60), ("b", 0), ("b", 604801)])
def test_graphs_refuse_a_bad_configuration(bucket: str, expires_in: int) -> None:
    with pytest.raises(ValueError, match=r"bucket|expires_in"):
        CloudWatchGraphs(bucket, expires_in=expires_in)
