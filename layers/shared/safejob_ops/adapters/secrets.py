"""Secret values behind `SecretRef`s, through Powertools Parameters (cached for `max_age` seconds).

Each adapter owns its providers (created on first use) and so its cache: two adapters never share values, and
tests are isolated. Values are never logged, and no error message here contains one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from safejob_ops.adapters.botoconfig import client_config
from safejob_ops.alerting.receivers import SecretRef

if TYPE_CHECKING:  # boto3 and the Parameters utility (which imports it) load on first use: cold start matters
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
    from botocore.config import Config
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

DEFAULT_MAX_AGE = 300


class SecretResolutionError(Exception):
    """A secret exists but does not hold what its reference asks for (not JSON, or no such key)."""


class ParameterSecrets:
    """`SecretsPort` on Secrets Manager (`ref.secret`) and SSM SecureString parameters (`ref.ssm`), with
    `ref.key` selecting a field of a JSON object value."""

    def __init__(self, max_age: int = DEFAULT_MAX_AGE, *, secrets_client: SecretsManagerClient | None = None,
                 ssm_client: SSMClient | None = None, session: boto3.Session | None = None,
                 config: Config | None = None) -> None:
        self.max_age = max_age
        self._secrets_client = secrets_client
        self._ssm_client = ssm_client
        self._session = session
        self._config = config
        self._secrets: SecretsProvider | None = None
        self._ssm: SSMProvider | None = None

    def _secrets_provider(self) -> SecretsProvider:
        if self._secrets is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._secrets = SecretsProvider(boto3_client=self._secrets_client, boto3_session=self._session,
                                            boto_config=self._config or client_config(read_timeout=5))
        return self._secrets

    def _ssm_provider(self) -> SSMProvider:
        if self._ssm is None:
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            self._ssm = SSMProvider(boto3_client=self._ssm_client, boto3_session=self._session,
                                    boto_config=self._config or client_config(read_timeout=5))
        return self._ssm

    def resolve(self, ref: SecretRef) -> str:
        if ref.secret is not None:
            name, raw = ref.secret, self._secrets_provider().get(ref.secret, max_age=self.max_age)
        elif ref.ssm is not None:
            name, raw = ref.ssm, self._ssm_provider().get(ref.ssm, decrypt=True, max_age=self.max_age)
        else:  # SecretRef's validator makes this unreachable
            raise SecretResolutionError("a SecretRef names neither a secret nor a parameter")
        value = raw.decode() if isinstance(raw, bytes) else raw
        if not isinstance(value, str):
            raise SecretResolutionError(f"{name} is not a string")
        return value if ref.key is None else _field(name, value, ref.key)


def _field(name: str, value: str, key: str) -> str:
    try:
        document = json.loads(value)
    except ValueError:
        raise SecretResolutionError(f"{name} is not JSON, so it has no key {key!r}") from None
    if not isinstance(document, dict) or key not in document:
        raise SecretResolutionError(f"{name} has no key {key!r}")
    field = document[key]
    return field if isinstance(field, str) else json.dumps(field)
