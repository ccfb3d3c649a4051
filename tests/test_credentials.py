"""Where the dynamic providers find credentials, and that the secret does not leak through repr or str."""

from __future__ import annotations

import pytest

from components.cloud.credentials import MissingCredentials, endpoint_override, resolve


def test_environment_comes_first():
    creds = resolve({"alicloud:accessKey": "cfg-id", "alicloud:secretKey": "cfg-secret"},
                    env={"ALIBABA_CLOUD_ACCESS_KEY_ID": "env-id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret"})
    assert (creds.access_key_id, creds.access_key_secret) == ("env-id", "env-secret")


def test_provider_configuration_when_the_environment_has_none():
    creds = resolve({"alicloud:accessKey": "cfg-id", "alicloud:secretKey": "cfg-secret", "alicloud:region": "cn-beijing"},
                    env={})
    assert (creds.access_key_id, creds.region_id) == ("cfg-id", "cn-beijing")


def test_the_secret_stays_out_of_repr_and_str():
    creds = resolve(env={"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tExample", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s3cr3t"})
    assert "s3cr3t" not in repr(creds) and "s3cr3t" not in str(creds)
    assert "LTAI" in str(creds) and "LTAI5tExample" not in str(creds)


def test_missing_credentials_name_both_ways_to_set_them():
    with pytest.raises(MissingCredentials) as caught:
        resolve({}, env={"ALIBABA_CLOUD_ACCESS_KEY_ID": "only-the-id"})
    assert "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in str(caught.value) and "alicloud:secretKey" in str(caught.value)
    assert "only-the-id" not in str(caught.value)


def test_endpoint_override_for_tests():
    assert endpoint_override("ens", env={"ACK_EDGE_LB_ENS_ENDPOINT": "http://127.0.0.1:8080"}) == ("127.0.0.1:8080", "http")
    assert endpoint_override("ens", env={"ACK_EDGE_LB_ENS_ENDPOINT": "127.0.0.1:9"}) == ("127.0.0.1:9", "http")
    assert endpoint_override("ens", env={}) is None
