"""Credentials on the wire: what the official SDK sends the emulator when the dynamic providers sign with STS
tokens, RAM roles, RRSA (OIDC) and profiles, in process and through Pulumi's dynamic-provider host.

The STS calls go to tests/fake_sts.py (ACK_EDGE_LB_STS_ENDPOINT), the cloud calls to the emulator, which checks
every ACS3 signature against the secret of the key that signed it (`secrets=`) and records the security token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alibabacloud_ens20171110 import models
from alibabacloud_ens20171110.client import Client
from alibabacloud_tea_openapi.models import Config

from cloud import credentials
from cloud.ens import EnsApi
from cloud.retry import CloudError, RetryPolicy
from components.ens_listener import EnsListenerProvider
from reconciler import ratelimit
from reconciler.groups import group_for
from tests.dynhost import DynamicHost, ProviderError, serialize
from tests.emulator import Ens
from tests.fake_sts import FakeSts, SignedEmulator

ROOT = Path(__file__).resolve().parent.parent
FAST = RetryPolicy(attempts=3, base=0.01, cap=0.05, deadline=10)
BASE_AK, BASE_SECRET = "LTAIbase000001", "base-secret-000001"
STS_AK, STS_SECRET, STS_TOKEN = "STS.given00001", "given-sts-secret-01", "given-sts-token-0001"
ROLE = "acs:ram::1234567890:role/edge-lb"
OIDC_PROVIDER = "acs:ram::1234567890:oidc-provider/ack-rrsa-c01"
OIDC_TOKEN = "eyJhbGciOiJSUzI1NiJ9.rrsa-token-0001.sig"
# Every credential variable the settings read, blanked: a host process must see only what a test gives it.
BLANK = {name: "" for _, names, _ in credentials.SETTINGS.values() for name in names}
BLANK.update({name: "" for names in (*credentials.OIDC_ENV.values(), *credentials.ASSUME_ROLE_ENV.values())
              for name in names})
OFFLINE = {"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}  # the library's chain would ask 100.100.100.200


@pytest.fixture
def sts():
    with FakeSts(roles={ROLE}, secrets={BASE_AK: BASE_SECRET}, oidc_tokens={OIDC_TOKEN}) as server:
        yield server


@pytest.fixture
def emulator(sts):
    secrets = {BASE_AK: BASE_SECRET, STS_AK: STS_SECRET, **sts.session_secrets}
    with SignedEmulator([Ens(create_polls=0, start_polls=0)], secrets=secrets) as emu:
        yield emu


@pytest.fixture
def elb(emulator):
    client = Client(Config(access_key_id=BASE_AK, access_key_secret=BASE_SECRET, region_id="cn-hangzhou",
                           endpoint=emulator.endpoint, protocol="http"))
    return client.create_load_balancer(models.CreateLoadBalancerRequest(
        ens_region_id="cn-hefei-cmcc-2", load_balancer_spec="elb.s2.small", network_id="n-1", v_switch_id="vsw-1",
        pay_type="PostPaid")).body.load_balancer_id


@pytest.fixture
def wire(monkeypatch, emulator, sts, tmp_path):
    """This process's environment as a host's would be: endpoints at the fakes, no ambient credentials."""
    for name, value in {**BLANK, **OFFLINE, "HOME": str(tmp_path), "ACK_EDGE_LB_ENS_ENDPOINT":
                        f"http://{emulator.endpoint}", "ACK_EDGE_LB_STS_ENDPOINT": f"http://{sts.endpoint}"}.items():
        monkeypatch.setenv(name, value)
    return emulator


def describe(config, elb):
    api = EnsApi.from_environment(config, FAST)
    assert api.describe_load_balancer(elb)["LoadBalancerId"] == elb
    return api


def listener_inputs(lb_id):
    return {"loadBalancerId": lb_id, "protocol": "tcp", "listenerPort": 80, "backendServerPort": 30080,
            "attributes": {"Scheduler": "rr", "EstablishedTimeout": 500}}


# --- in process -------------------------------------------------------------------------------------

def test_a_security_token_reaches_the_wire(wire, elb):
    describe({"alicloud:accessKey": STS_AK, "alicloud:secretKey": STS_SECRET, "alicloud:securityToken": STS_TOKEN}, elb)
    signer = wire.signers[-1]
    assert (signer.action, signer.access_key_id, signer.security_token) == (
        "DescribeLoadBalancerAttribute", STS_AK, STS_TOKEN)


def test_an_access_key_alone_sends_no_token(wire, elb):
    describe({"alicloud:accessKey": BASE_AK, "alicloud:secretKey": BASE_SECRET}, elb)
    assert wire.signers[-1] == ("DescribeLoadBalancerAttribute", BASE_AK, None)


def test_assume_role_signs_with_the_session_and_keys_rate_limits_by_role(wire, sts, elb):
    config = {"alicloud:accessKey": BASE_AK, "alicloud:secretKey": BASE_SECRET,
              "alicloud:assumeRole": {"roleArn": ROLE, "sessionName": "edge-lb"}}
    api = describe(config, elb)
    (call,) = sts.calls
    assert (call["Action"], call["AccessKeyId"], call["RoleArn"], call["RoleSessionName"]) == (
        "AssumeRole", BASE_AK, ROLE, "edge-lb")  # and FakeSts checked its signature with BASE_SECRET
    session = sts.issued[0]
    assert wire.signers[-1][1:] == (session.access_key_id, session.security_token)
    assert api.account == ROLE and session.access_key_id not in repr(api)
    ratelimit.reset()
    group = group_for("ens", elb, owner="k8s/x", config=config, policy=FAST)
    assert group.api.account == ROLE
    assert group._limiter() is ratelimit.limiter("ens", "backends", ROLE)


def test_sessions_are_refreshed_when_they_near_expiry(wire, sts, elb):
    sts.lifetime = 600  # inside the library's 15-minute margin: every use asks STS again
    api = describe({"alicloud:accessKey": BASE_AK, "alicloud:secretKey": BASE_SECRET,
                    "alicloud:assumeRole": {"roleArn": ROLE, "sessionName": "refresh"}}, elb)
    api.describe_load_balancer(elb)
    tokens = [s.security_token for s in wire.signers[-2:]]
    assert len(sts.issued) >= 2 and tokens[0] != tokens[1] and set(tokens) <= {s.security_token for s in sts.issued}


@pytest.mark.parametrize("inline", [False, True], ids=["token file", "inline token"])
def test_rrsa_oidc_role_signs_with_the_session(wire, sts, elb, tmp_path, inline):
    token_file = tmp_path / "oidc-token"
    token_file.write_text(OIDC_TOKEN)
    block = {"roleArn": ROLE, "oidcProviderArn": OIDC_PROVIDER,
             **({"oidcToken": OIDC_TOKEN} if inline else {"oidcTokenFile": str(token_file)})}
    api = describe({"alicloud:assumeRoleWithOidc": block}, elb)
    (call,) = sts.calls
    assert (call["Action"], call["RoleArn"], call["OIDCProviderArn"], call["OIDCToken"], call["RoleSessionName"]) == (
        "AssumeRoleWithOIDC", ROLE, OIDC_PROVIDER, OIDC_TOKEN, "terraform")
    assert "AccessKeyId" not in call  # anonymous, as STS wants it
    assert wire.signers[-1][1:] == (sts.issued[0].access_key_id, sts.issued[0].security_token)
    assert api.account == ROLE and OIDC_TOKEN not in repr(api) + str(api.creds)


def test_a_refused_role_is_one_clear_error_without_secrets(wire, sts, elb):
    sts.fail_with = (403, "NoPermission")
    api = EnsApi.from_environment({"alicloud:accessKey": BASE_AK, "alicloud:secretKey": BASE_SECRET,
                                   "alicloud:assumeRole": {"roleArn": ROLE}}, FAST)
    with pytest.raises(credentials.CredentialsError, match=rf"RAM role {ROLE} of alicloud:assumeRole.*NoPermission") \
            as caught:
        api.describe_load_balancer(elb)
    assert BASE_SECRET not in str(caught.value) and "DescribeLoadBalancerAttribute" not in wire.calls


def test_a_wrong_secret_for_the_session_is_the_clouds_answer(wire, elb):
    api = EnsApi.from_environment({"alicloud:accessKey": STS_AK, "alicloud:secretKey": "not-the-sts-secret",
                                   "alicloud:securityToken": STS_TOKEN}, FAST)
    with pytest.raises(CloudError, match="SignatureDoesNotMatch") as caught:
        api.describe_load_balancer(elb)
    assert "not-the-sts-secret" not in str(caught.value) and STS_TOKEN not in str(caught.value)


# --- through Pulumi's dynamic-provider host ---------------------------------------------------------

def host_env(emulator, sts, home, **extra):
    return {**BLANK, **OFFLINE, "HOME": str(home), "ACK_EDGE_LB_ENS_ENDPOINT": f"http://{emulator.endpoint}",
            "ACK_EDGE_LB_STS_ENDPOINT": f"http://{sts.endpoint}", **extra}


def provider():
    return EnsListenerProvider(wait_timeout=5.0, poll_interval=0.01, policy=FAST)


def test_host_configured_with_a_secret_security_token_calls_the_cloud(emulator, sts, elb, tmp_path):
    config = {"alicloud:accessKey": STS_AK, "alicloud:secretKey": STS_SECRET, "alicloud:securityToken": STS_TOKEN,
              "alicloud:region": "cn-hangzhou"}
    with DynamicHost(env=host_env(emulator, sts, tmp_path)) as host:
        host.configure(config, secret_keys=["alicloud:secretKey", "alicloud:securityToken"], namespace=False)
        id_, outs = host.create(provider(), listener_inputs(elb))
        stderr = host.stderr_text()
    assert outs["status"] == "Running"
    created = [s for s in emulator.signers if s.action == "CreateLoadBalancerTCPListener"]
    assert created and all(s[1:] == (STS_AK, STS_TOKEN) for s in created)
    shown = json.dumps(outs) + serialize(provider()) + stderr
    assert STS_SECRET not in shown and STS_TOKEN not in shown


def test_host_assumes_an_rrsa_role_from_a_token_file(emulator, sts, elb, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(OIDC_TOKEN)
    block = {"roleArn": ROLE, "oidcProviderArn": OIDC_PROVIDER, "oidcTokenFile": str(token_file)}
    with DynamicHost(env=host_env(emulator, sts, tmp_path)) as host:
        host.configure({"alicloud:assumeRoleWithOidc": block}, namespace=False)
        _, outs = host.create(provider(), listener_inputs(elb))
    assert outs["status"] == "Running" and [c["Action"] for c in sts.calls] == ["AssumeRoleWithOIDC"]
    session = sts.issued[0]
    assert all(s[1:] == (session.access_key_id, session.security_token) for s in emulator.signers
               if s.action.endswith("Listener"))


def test_host_falls_back_to_the_librarys_default_chain(emulator, sts, elb, tmp_path):
    """The CLI's current profile with no profile named: pulumi-alicloud finds nothing, the library's chain does."""
    (tmp_path / ".aliyun").mkdir()
    (tmp_path / ".aliyun" / "config.json").write_text(json.dumps({"current": "dev", "profiles": [
        {"name": "dev", "mode": "AK", "access_key_id": BASE_AK, "access_key_secret": BASE_SECRET}]}))
    with DynamicHost(env=host_env(emulator, sts, tmp_path)) as host:
        host.configure({}, namespace=False)
        _, outs = host.create(provider(), listener_inputs(elb))
    created = [s for s in emulator.signers if s.action == "CreateLoadBalancerTCPListener"]
    assert outs["status"] == "Running" and created and all(s[1:] == (BASE_AK, None) for s in created)


def test_host_without_credentials_names_every_way_and_sends_nothing(emulator, sts, elb, tmp_path):
    with DynamicHost(env=host_env(emulator, sts, tmp_path, ALICLOUD_PROFILE="ci")) as host:
        host.configure({"alicloud:secretKey": "lonely-secret-001"}, secret_keys=["alicloud:secretKey"],
                       namespace=False)
        with pytest.raises(ProviderError) as caught:
            host.create(provider(), listener_inputs(elb))
    summary = caught.value.summary
    assert summary.startswith("cloud.credentials.MissingCredentials: no Alibaba Cloud credentials")
    for name in ("alicloud:accessKey", "ALIBABA_CLOUD_ACCESS_KEY_ID", "alicloud:profile", "alicloud:ecsRoleName",
                 "alicloud:assumeRoleWithOidc", "profile 'ci'"):
        assert name in summary
    assert "lonely-secret-001" not in caught.value.message and emulator.calls["CreateLoadBalancerTCPListener"] == 0


def test_default_chain_missing_in_a_plain_interpreter(tmp_path):
    """The same error outside the host, from the library's chain reading this environment at import."""
    code = ("from cloud.credentials import resolve, MissingCredentials\n"
            "try:\n    resolve().check()\nexcept MissingCredentials as e:\n    print('MISSING', e)\n")
    env = {**os.environ, **BLANK, **OFFLINE, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("MISSING no Alibaba Cloud credentials"), done.stderr
    assert "EnvironmentVariableCredentialsProvider" in done.stdout  # what the chain tried
