"""How the dynamic providers find credentials: pulumi-alicloud's settings in its order, and no secret in any text.

The mapping is checked on the recipes `resolve` hands to alibabacloud-credentials (its Config fields), with the
environment given explicitly and the Aliyun CLI profiles in a temporary HOME. What reaches the wire, through the
SDK and Pulumi's dynamic-provider host, is in test_credentials_wire.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cloud import credentials
from cloud.credentials import (
    CredentialsError,
    MissingCredentials,
    configured_endpoint,
    endpoint_override,
    missing_message,
    provider_config,
    redact,
    resolve,
)

AK = {"alicloud:accessKey": "LTAIcfg0000001", "alicloud:secretKey": "cfg-secret-0001"}
ROLE = "acs:ram::1234567890:role/edge-lb"
OIDC_PROVIDER = "acs:ram::1234567890:oidc-provider/ack-rrsa-c01"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of its own, with no Aliyun CLI profiles unless a test writes them."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def write_profiles(home: Path, *profiles: dict, current: str = "default", name: str = ".aliyun/config.json") -> Path:
    path = home / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"current": current, "profiles": list(profiles)}))
    return path


def ak_of(creds: credentials.Credentials) -> tuple[str, str]:
    return creds.recipe.option("access_key_id"), creds.recipe.option("access_key_secret")


# --- the AccessKey and its precedence ---------------------------------------------------------------

@pytest.mark.parametrize("env, config, expected", [
    # The stack setting wins over every variable (the schema's DefaultFunc only fills an unset value).
    ({"ALICLOUD_ACCESS_KEY": "LTAIenv", "ALICLOUD_SECRET_KEY": "env-secret"}, AK, ("LTAIcfg0000001", "cfg-secret-0001")),
    # Variables in provider.go's order: ALICLOUD_*, then ALIBABA_CLOUD_*, then ALIBABACLOUD_*.
    ({"ALICLOUD_ACCESS_KEY": "LTAIa", "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIb", "ALICLOUD_SECRET_KEY": "sa",
      "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sb"}, {}, ("LTAIa", "sa")),
    ({"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIb", "ALIBABACLOUD_ACCESS_KEY_ID": "LTAIc",
      "ALIBABACLOUD_ACCESS_KEY_SECRET": "sc"}, {}, ("LTAIb", "sc")),
    ({"ALICLOUD_ACCESS_KEY": "", "ALIBABACLOUD_ACCESS_KEY_ID": "LTAIc", "ALIBABACLOUD_ACCESS_KEY_SECRET": "sc"}, {},
     ("LTAIc", "sc")),  # an empty variable counts as unset
])
def test_access_key_precedence(home, env, config, expected):
    creds = resolve(config, env=env)
    assert creds.kind == "access_key" and ak_of(creds) == expected and creds.account == expected[0]


def test_security_token_makes_sts_credentials(home):
    creds = resolve({**AK, "alicloud:securityToken": "cfg-sts-token-1"}, env={"ALICLOUD_SECURITY_TOKEN": "env-token"})
    assert creds.kind == "sts" and creds.recipe.option("security_token") == "cfg-sts-token-1"
    creds = resolve(env={"ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.x", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s",
                         "ALIBABA_CLOUD_SECURITY_TOKEN": "env-token"})
    assert creds.kind == "sts" and creds.recipe.option("security_token") == "env-token"
    assert creds.get_credential().security_token == "env-token"  # what the SDK will send


def test_region_from_config_then_environment_then_default(home):
    assert resolve({**AK, "alicloud:region": "cn-hangzhou"}, env={"ALICLOUD_REGION": "cn-shanghai"}).region_id == \
        "cn-hangzhou"
    assert resolve(AK, env={"ALIBABA_CLOUD_REGION": "cn-shenzhen"}).region_id == "cn-shenzhen"
    assert resolve(AK, env={}).region_id == "cn-beijing"  # the Terraform provider's DEFAULT_REGION
    assert resolve(AK, env={}, region="ap-southeast-1").region_id == "ap-southeast-1"  # a resource's own region


# --- Aliyun CLI profiles ----------------------------------------------------------------------------

def test_profile_fields_fill_what_config_and_environment_leave(home):
    write_profiles(home, {"name": "dev", "mode": "AK", "access_key_id": "LTAIprofile01",
                          "access_key_secret": "profile-secret-1", "region_id": "cn-shanghai"})
    creds = resolve({"alicloud:profile": "dev"}, env={})
    assert ak_of(creds) == ("LTAIprofile01", "profile-secret-1") and creds.region_id == "cn-shanghai"
    assert "profile 'dev'" in creds.source
    # Stack value, then environment, then profile, field by field.
    creds = resolve({"alicloud:profile": "dev", "alicloud:region": "cn-qingdao"},
                    env={"ALICLOUD_ACCESS_KEY": "LTAIenv", "ALICLOUD_SECRET_KEY": "env-secret"})
    assert ak_of(creds) == ("LTAIenv", "env-secret") and creds.region_id == "cn-qingdao"


def test_profile_named_by_the_environment_in_a_shared_credentials_file(home):
    path = write_profiles(home, {"name": "ci", "mode": "StsToken", "access_key_id": "STS.p",
                                 "access_key_secret": "ps", "sts_token": "profile-token"}, name="elsewhere.json")
    creds = resolve({}, env={"ALIBABA_CLOUD_PROFILE": "ci", "ALICLOUD_SHARED_CREDENTIALS_FILE": str(path)})
    assert creds.kind == "sts" and creds.recipe.option("security_token") == "profile-token"
    assert resolve({"alicloud:sharedCredentialsFile": str(path)}, env={"ALICLOUD_PROFILE": "ci"}).kind == "sts"


def test_without_a_profile_name_the_profile_file_is_not_read(home):
    write_profiles(home, {"name": "default", "mode": "AK", "access_key_id": "LTAIp", "access_key_secret": "ps"})
    assert resolve({}, env={}).kind == "default"  # left to the library's chain, which reads `current`


def test_ecs_ram_role_profile(home):
    write_profiles(home, {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "EdgeLbRole",
                          "access_key_id": "ignored-in-this-mode"})
    creds = resolve({"alicloud:profile": "ecs"}, env={})
    assert creds.kind == "ecs_ram_role" and creds.recipe.option("role_name") == "EdgeLbRole"
    assert creds.account == "ecs-role:EdgeLbRole"


def test_ram_role_arn_profile(home):
    write_profiles(home, {"name": "role", "mode": "RamRoleArn", "access_key_id": "LTAIp", "access_key_secret": "ps",
                          "ram_role_arn": ROLE, "ram_session_name": "from-profile", "expired_seconds": 1800})
    creds = resolve({"alicloud:profile": "role"}, env={})
    assert creds.kind == "ram_role_arn" and creds.recipe.base is None
    assert {k: creds.recipe.option(k) for k in ("access_key_id", "role_arn", "role_session_name",
                                                "role_session_expiration")} == {
        "access_key_id": "LTAIp", "role_arn": ROLE, "role_session_name": "from-profile",
        "role_session_expiration": 1800}
    assert creds.account == ROLE


@pytest.mark.parametrize("mode", ["ChainableRamRoleArn", "CloudSSO", "External", "OAuth", "OIDC"])
def test_profile_modes_the_provider_does_not_read_go_to_the_library(home, mode):
    path = write_profiles(home, {"name": "adv", "mode": mode})
    creds = resolve({"alicloud:profile": "adv"}, env={})
    assert creds.kind == "cli_profile"
    assert dict(creds.recipe.options) == {"profile_name": "adv", "profile_file": str(path)}
    assert resolve({"alicloud:profile": "adv", **AK}, env={}).kind == "access_key"  # an AccessKey comes first


def test_a_named_profile_that_is_not_there_is_noted_in_the_missing_message(home):
    creds = resolve({"alicloud:profile": "nope"}, env={})
    assert creds.kind == "default" and "profile 'nope'" in creds.hint
    assert "profile 'nope'" in missing_message(creds.hint)


def test_an_unreadable_profile_file_is_named_not_shown(home):
    (home / ".aliyun").mkdir()
    (home / ".aliyun" / "config.json").write_text('{"profiles": [{"access_key_secret": "profile-secret-9"')
    with pytest.raises(CredentialsError, match=r"cannot read the Aliyun CLI profiles in .*config.json") as caught:
        resolve({"alicloud:profile": "dev"}, env={})
    assert "profile-secret-9" not in str(caught.value)


# --- roles: ECS, assume_role, OIDC (RRSA), credentials URI ------------------------------------------

def test_ecs_role_name_from_config_or_environment(home):
    assert resolve({"alicloud:ecsRoleName": "cfg-role"}, env={"ALICLOUD_ECS_ROLE_NAME": "env-role"}).recipe.option(
        "role_name") == "cfg-role"
    creds = resolve({}, env={"ALIBABA_CLOUD_ECS_METADATA": "meta-role"})
    assert creds.kind == "ecs_ram_role" and creds.recipe.option("role_name") == "meta-role"
    assert resolve({**AK, "alicloud:ecsRoleName": "r"}, env={}).kind == "access_key"  # an AccessKey comes first


def test_assume_role_with_an_access_key(home):
    creds = resolve({**AK, "alicloud:region": "cn-hangzhou", "alicloud:assumeRole": {
        "roleArn": ROLE, "policy": '{"Statement": []}', "externalId": "ext-1"}}, env={})
    assert creds.kind == "ram_role_arn" and creds.recipe.base is None  # the library's own Config
    assert dict(creds.recipe.options) == {
        "access_key_id": "LTAIcfg0000001", "access_key_secret": "cfg-secret-0001", "role_arn": ROLE,
        "role_session_name": "terraform", "role_session_expiration": 3600, "policy": '{"Statement": []}',
        "external_id": "ext-1", "sts_endpoint": "sts.cn-hangzhou.aliyuncs.com"}
    assert creds.account == ROLE and ROLE in creds.source


def test_assume_role_fields_from_the_environment_and_json_text(home):
    env = {"ALICLOUD_ASSUME_ROLE_ARN": ROLE, "ALIBABA_CLOUD_ROLE_SESSION_NAME": "ci-run",
           "ALICLOUD_ASSUME_ROLE_SESSION_EXPIRATION": "1200"}
    creds = resolve({**AK, "alicloud:assumeRole": json.dumps({"sessionName": ""})}, env=env)
    assert (creds.recipe.option("role_arn"), creds.recipe.option("role_session_name"),
            creds.recipe.option("role_session_expiration")) == (ROLE, "ci-run", 1200)
    # Without the block the role variables assume nothing, as in the Terraform provider.
    assert resolve(AK, env=env).kind == "access_key"


def test_assume_role_over_an_ecs_role_chains_the_library_providers(home):
    creds = resolve({"alicloud:ecsRoleName": "EdgeNode", "alicloud:assumeRole": {"roleArn": ROLE}}, env={})
    assert creds.kind == "ram_role_arn" and creds.recipe.base.kind == "ecs_ram_role"


def test_sts_endpoint_from_alicloud_endpoints(home):
    config = {**AK, "alicloud:assumeRole": {"roleArn": ROLE}, "alicloud:endpoints": [{"sts": "sts-vpc.cn-x.example"}]}
    assert resolve(config, env={}).recipe.option("sts_endpoint") == "sts-vpc.cn-x.example"
    assert resolve(config, env={"ACK_EDGE_LB_STS_ENDPOINT": "http://127.0.0.1:9"}).recipe.option(
        "sts_endpoint") == "http://127.0.0.1:9"


def test_oidc_with_a_token_file(home, tmp_path):
    token_file = tmp_path / "token"
    config = {"alicloud:assumeRoleWithOidc": {"roleArn": ROLE, "oidcProviderArn": OIDC_PROVIDER,
                                              "oidcTokenFile": str(token_file), "sessionExpiration": 900}}
    creds = resolve(config, env={})
    assert creds.kind == "oidc_role_arn" and dict(creds.recipe.options) == {
        "role_arn": ROLE, "oidc_provider_arn": OIDC_PROVIDER, "oidc_token_file_path": str(token_file),
        "role_session_name": "terraform", "role_session_expiration": 900, "sts_endpoint": "sts.cn-beijing.aliyuncs.com"}
    assert creds.account == ROLE


def test_oidc_fields_from_the_rrsa_variables(home):
    env = {"ALIBABA_CLOUD_ROLE_ARN": ROLE, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": OIDC_PROVIDER,
           "ALIBABA_CLOUD_OIDC_TOKEN_FILE": "/var/run/secrets/tokens/oidc-token"}
    creds = resolve({"alicloud:assumeRoleWithOidc": [{}]}, env=env)  # a block (a list of one), every field from env
    assert creds.recipe.option("oidc_token_file_path") == "/var/run/secrets/tokens/oidc-token"
    with pytest.raises(CredentialsError, match="needs roleArn and oidcProviderArn"):
        resolve({"alicloud:assumeRoleWithOidc": {"oidcTokenFile": "/t"}}, env={})
    with pytest.raises(CredentialsError, match="needs oidcTokenFile"):
        resolve({"alicloud:assumeRoleWithOidc": {"roleArn": ROLE, "oidcProviderArn": OIDC_PROVIDER}}, env={})


def test_provider_order_access_key_then_ecs_role_then_oidc(home):
    oidc = {"alicloud:assumeRoleWithOidc": {"roleArn": ROLE, "oidcProviderArn": OIDC_PROVIDER, "oidcToken": "t" * 8}}
    assert resolve({**AK, **oidc}, env={}).kind == "access_key"
    assert resolve({"alicloud:ecsRoleName": "r", **oidc}, env={}).kind == "ecs_ram_role"
    assert resolve(oidc, env={}).kind == "oidc_role_arn"


def test_credentials_uri_when_there_is_no_access_key(home):
    creds = resolve({}, env={"ALICLOUD_CREDENTIALS_URI": "http://127.0.0.1:9/creds?token=abc"})
    assert creds.kind == "credentials_uri" and creds.account == "uri:127.0.0.1:9/creds"
    assert resolve({**AK, "alicloud:credentialsUri": "http://x"}, env={}).kind == "access_key"


def test_account_id_keys_the_rate_limits_when_set(home):
    assert resolve({**AK, "alicloud:accountId": "1234567890"}, env={}).account == "1234567890"


# --- what configure() keeps, endpoints --------------------------------------------------------------

def test_provider_config_keeps_every_relevant_key():
    stack = {key: f"v-{key}" for key in credentials.ALICLOUD_KEYS}
    stack.update({"kubernetes:kubeconfig": "apiVersion: v1", "kubernetes:context": "edge", "ack-edge-lb:x": "y",
                  "alicloud:region": ""})
    kept = provider_config(stack)
    assert set(kept) == set(credentials.ALICLOUD_KEYS) - {"alicloud:region"}
    assert set(provider_config(stack, kubernetes=True)) - set(kept) == {"kubernetes:kubeconfig", "kubernetes:context"}
    assert {"alicloud:accessKey", "alicloud:securityToken", "alicloud:assumeRole", "alicloud:assumeRoleWithOidc",
            "alicloud:profile", "alicloud:sharedCredentialsFile", "alicloud:ecsRoleName"} <= set(kept)


def test_endpoint_override_for_tests():
    assert endpoint_override("ens", env={"ACK_EDGE_LB_ENS_ENDPOINT": "http://127.0.0.1:8080"}) == ("127.0.0.1:8080", "http")
    assert endpoint_override("ens", env={"ACK_EDGE_LB_ENS_ENDPOINT": "127.0.0.1:9"}) == ("127.0.0.1:9", "http")
    assert endpoint_override("ens", env={}) is None


def test_configured_endpoints_follow_alicloud_protocol():
    config = {"alicloud:endpoints": json.dumps([{"slb": "slb.internal.example"}]), "alicloud:protocol": "HTTP"}
    assert configured_endpoint("slb", config) == ("slb.internal.example", "http")
    assert configured_endpoint("slb", {"alicloud:endpoints": [{"slb": "s.example"}]}) == ("s.example", "https")
    assert configured_endpoint("ens", config) is None


# --- no secret in any text --------------------------------------------------------------------------

SECRETS = ("cfg-secret-0001", "cfg-sts-token-1", "inline-oidc-token-1")


def test_secrets_stay_out_of_repr_and_str(home):
    for creds in (resolve({**AK, "alicloud:securityToken": SECRETS[1]}, env={}),
                  resolve({**AK, "alicloud:assumeRole": {"roleArn": ROLE}}, env={}),
                  resolve({"alicloud:assumeRoleWithOidc": {"roleArn": ROLE, "oidcProviderArn": OIDC_PROVIDER,
                                                           "oidcToken": SECRETS[2]}}, env={})):
        shown = repr(creds) + str(creds) + repr(creds.recipe) + repr(creds.in_region("cn-x"))
        assert not any(secret in shown for secret in SECRETS), shown
        assert "LTAIcfg0000001" not in shown
    assert "LTAI" in str(resolve(AK, env={}))  # enough of the id to tell keys apart


def test_the_positional_form_is_a_static_access_key():
    creds = credentials.Credentials("LTAIbench00001", "bench-secret-1", "cn-hangzhou")
    assert creds.kind == "access_key" and creds.account == "LTAIbench00001" and creds.region_id == "cn-hangzhou"
    assert creds.get_credential().access_key_secret == "bench-secret-1"
    assert "bench-secret-1" not in repr(creds) + str(creds)


def test_redact_masks_known_secrets_and_secret_fields(home):
    resolve({**AK, "alicloud:securityToken": SECRETS[1]}, env={})
    text = redact(f'body {{"AccessKeySecret": "fresh-from-sts", "SecurityToken":"t0k3n", "Other": 1}} '
                  f'and {SECRETS[0]} and Signature=abc%2B&x=1')
    assert "fresh-from-sts" not in text and "t0k3n" not in text and SECRETS[0] not in text and "abc%2B" not in text
    assert '"Other": 1' in text and "x=1" in text


def test_a_failed_session_is_one_error_naming_the_source_not_the_secret(home, tmp_path):
    missing_token = tmp_path / "no-token-here"
    creds = resolve({"alicloud:assumeRoleWithOidc": {"roleArn": ROLE, "oidcProviderArn": OIDC_PROVIDER,
                                                     "oidcTokenFile": str(missing_token)}}, env={})
    with pytest.raises(CredentialsError, match=rf"from OIDC role {ROLE} of alicloud:assumeRoleWithOidc: "
                                               r"FileNotFoundError") as caught:
        creds.check()
    assert not isinstance(caught.value, MissingCredentials)


def test_library_log_lines_are_redacted(home, caplog):
    resolve({**AK, "alicloud:securityToken": SECRETS[1]}, env={})
    with caplog.at_level(logging.WARNING, logger="credentials"):
        try:
            raise ValueError(f'result: {{"AccessKeySecret": "leaked-secret-9", "SecurityToken": "{SECRETS[1]}"}}')
        except ValueError as exc:
            logging.getLogger("credentials").exception(exc)
            logging.getLogger("credentials").warning("Refresh failed, error: %s", exc)
    printed = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert caplog.records and "leaked-secret-9" not in printed and SECRETS[1] not in printed


def test_missing_message_names_every_way():
    text = missing_message()
    for name in ("alicloud:accessKey", "alicloud:secretKey", "alicloud:securityToken", "ALICLOUD_ACCESS_KEY",
                 "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
                 "alicloud:profile", "ALIBABA_CLOUD_PROFILE", "alicloud:sharedCredentialsFile",
                 "ALIBABA_CLOUD_CREDENTIALS_FILE", "alicloud:ecsRoleName", "ALIBABA_CLOUD_ECS_METADATA",
                 "alicloud:assumeRoleWithOidc", "ALIBABA_CLOUD_OIDC_TOKEN_FILE", "alicloud:credentialsUri",
                 "alicloud:assumeRole"):
        assert name in text, name
    assert "\n" not in text  # one line: what an engine error shows
