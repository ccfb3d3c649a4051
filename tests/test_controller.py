"""The in-cluster controller as the program declares it (components/controller.py): under the SDK's mocks, against
the Kubernetes OpenAPI schemas, and through the lifecycle harness with its secrets kept secret in the state."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import kubernetes_validate
import pulumi
import pytest
import yaml
from pulumi.runtime import rpc

from components.controller import (
    CRD_FILE,
    CREDENTIALS_REVISION,
    LEASE_RULES,
    NAME,
    RRSA_INJECTION,
    RRSA_ROLE_NAME,
    RUN_AS,
    cluster_rules,
    load_crd,
)
from plan.offline import RecordingMonitor, Registration, Run, _Mocks, run_under
from stacks.load import PROJECT
from stacks.problems import ConfigError
from tests.engine.engine import Engine
from tests.engine.plugins import unwrap_secrets
from tests.engine.world import KEY, stack_world
from tests.test_manifests import KUBERNETES

IMAGE = "registry.example.com/ack-edge-lb/controller:0123abc"
KINDS = {
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinitionPatch", "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:ServiceAccount", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kubernetes:apps/v1:Deployment",
    "kubernetes:policy/v1:PodDisruptionBudget", "kubernetes:core/v1:Service",
}
SECRET = "kubernetes:core/v1:Secret"
ACCESS_KEY = {"alicloud:accessKey": "LTAI5tControllerTest", "alicloud:secretKey": "controller-secret-never-in-text"}


def with_controller(config: dict, **overrides) -> dict:
    raw = copy.deepcopy(config)
    raw["services"][0]["loadBalancer"] = {"type": "elb", "management": "pulumi"}
    raw["controller"] = {"enabled": True, "image": IMAGE,
                         "credentials": {"rrsa": {"roleName": "ack-edge-lb-controller"}}, **overrides}
    return raw


def plan_with(raw: dict, alicloud: dict[str, str], preview: bool = False, run: Run | None = None) -> Run:
    """The program with `alicloud:` settings too (secret), as `pulumi up` hands them over."""
    run = run or Run(stack="test", preview=preview)
    config = {**{f"{PROJECT}:{k}": json.dumps(v) for k, v in raw.items()}, **alicloud}
    return run_under(RecordingMonitor(_Mocks(preview), run), run, config, secret_keys=list(alicloud))


def controller_objects(run: Run) -> list[Registration]:
    return [r for r in run.resources if r.type.startswith("kubernetes:") and r.parent == "controller"]


def pod(run: Run) -> dict:
    return run.named("controller/deployment").inputs["spec"]["template"]


# --- what is declared ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [None, {"enabled": False, "image": IMAGE}])
def test_no_controller_unless_enabled(config, plan, block):
    if block is not None:
        config["controller"] = block
    run = plan(config)
    assert not [r for r in run.resources if r.type.startswith("ack-edge-lb:controller")]
    assert not controller_objects(run) and "controllerNamespace" not in run.outputs


def test_an_enabled_controller_declares_its_objects_under_one_component(config, plan):
    run = plan(with_controller(config), preview=False)
    component = run.named("controller")
    assert component.type == "ack-edge-lb:controller:Controller" and component.parent is None
    assert {r.type for r in controller_objects(run)} == KINDS  # no Secret with RRSA
    assert all(r.name.startswith("controller/") for r in run.children("controller"))
    assert run.outputs["controllerNamespace"] == "ack-edge-lb-system"
    namespaced = [r for r in controller_objects(run) if "namespace" in r.inputs["metadata"]]
    assert {r.inputs["metadata"]["namespace"] for r in namespaced} == {"ack-edge-lb-system"}
    # Everything in the namespace waits for it.
    assert all("controller/namespace" in r.dependencies for r in namespaced)
    deployment = run.named("controller/deployment")
    assert {"controller/crd", "controller/cluster-role-binding", "controller/role-binding",
            "controller/service-account"} <= set(deployment.dependencies)


def test_the_deployment_runs_the_image_locked_down(config, plan):
    run = plan(with_controller(config, replicas=3, rateLimits={"nlb.servers": 100, "ens.backends": 8}),
               preview=False)
    spec = run.named("controller/deployment").inputs["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/name": NAME}}
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    template = spec["template"]["spec"]
    (container,) = template["containers"]
    assert container["image"] == IMAGE
    assert container["command"] == ["python", "-m", "reconciler.controller", "--namespace", "ack-edge-lb-system",
                                    "--metrics-port", "9102"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert container["env"] == [{"name": "ACK_EDGE_LB_RATE_LIMITS",
                                 "value": '{"ens.backends":8,"nlb.servers":100}'}]
    assert container["resources"] == {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}
    assert template["securityContext"] == {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                                           "seccompProfile": {"type": "RuntimeDefault"}}
    assert template["serviceAccountName"] == NAME and template["automountServiceAccountToken"] is True
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    (anti,) = template["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert anti["podAffinityTerm"]["labelSelector"] == spec["selector"]
    (cloud,) = template["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert cloud["preference"]["matchExpressions"] == [
        {"key": "apps.openyurt.io/nodepool", "operator": "In", "values": ["np-cloud"]}]
    budget = run.named("controller/disruption-budget").inputs["spec"]
    assert budget == {"minAvailable": 1, "selector": spec["selector"]}
    metrics = run.named("controller/metrics").inputs["spec"]
    assert metrics["type"] == "ClusterIP" and metrics["selector"] == spec["selector"]["matchLabels"]
    assert metrics["ports"] == [{"name": "metrics", "port": 9102, "targetPort": "metrics", "protocol": "TCP"}]


def test_resources_are_the_configured_ones(config, plan):
    raw = with_controller(config, resources={"requests": {"cpu": "100m", "memory": "256Mi"},
                                             "limits": {"cpu": "1", "memory": "512Mi"}})
    (container,) = pod(plan(raw, preview=False))["spec"]["containers"]
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"},
                                      "limits": {"cpu": "1", "memory": "512Mi"}}


def test_rrsa_labels_the_namespace_and_pods_and_names_the_role(config, plan):
    run = plan(with_controller(config), preview=False)
    assert run.named("controller/namespace").inputs["metadata"]["labels"][RRSA_INJECTION] == "on"
    assert pod(run)["metadata"]["labels"][RRSA_INJECTION] == "on"
    account = run.named("controller/service-account").inputs["metadata"]
    assert account["annotations"] == {RRSA_ROLE_NAME: "ack-edge-lb-controller"}
    (container,) = pod(run)["spec"]["containers"]
    assert "env" not in container  # the webhook injects the role, the OIDC provider and the token file
    assert not run.of_type(SECRET)


def test_kube_system_is_used_not_declared(config, plan):
    run = plan(with_controller(config, namespace="kube-system"), preview=False)
    assert not run.of_type("kubernetes:core/v1:Namespace")
    assert run.outputs["controllerNamespace"] == "kube-system"
    assert run.named("controller/deployment").inputs["metadata"]["namespace"] == "kube-system"
    # RRSA still reaches the pods: the pod label, where the namespace is not ours to label.
    assert pod(run)["metadata"]["labels"][RRSA_INJECTION] == "on"


# --- RBAC --------------------------------------------------------------------------------------------------------


# The controller's contract (RBAC), verb by verb: exactly this, cluster-wide, and nothing more.
CONTRACT = {
    *{("ack-edge-lb.io", "backendgroups", v) for v in ("get", "list", "watch", "patch", "update")},
    *{("ack-edge-lb.io", "backendgroups/status", v) for v in ("get", "patch", "update")},
    ("ack-edge-lb.io", "backendgroups/finalizers", "update"),
    *{(g, r, v) for g, r in (("discovery.k8s.io", "endpointslices"), ("", "nodes"), ("", "services"))
      for v in ("list", "watch")},
    ("", "services/status", "patch"), ("", "services/status", "update"),
    ("", "events", "create"), ("", "events", "patch"),
}


def test_rbac_is_least_privilege(config, plan):
    run = plan(with_controller(config), preview=False)
    crd = load_crd()
    cluster = run.named("controller/cluster-role").inputs["rules"]
    assert cluster == cluster_rules(crd["spec"]["group"], crd["spec"]["names"]["plural"])
    assert not [rule for rule in cluster if "resourceNames" in rule or "nonResourceURLs" in rule]
    granted = [(group, resource, verb) for rule in cluster for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]]
    assert len(granted) == len(set(granted)), "a verb granted twice"
    assert set(granted) == CONTRACT
    assert not [g for g in granted if "*" in g or g[1] in ("secrets", "services") and g[2] not in
                ("list", "watch")], "no wildcard, no Secret, no Service spec write"
    # Its Lease, in its namespace only: created (a create cannot name its object), then read and renewed by name.
    role = run.named("controller/role").inputs
    assert {(group, resource, verb, tuple(rule.get("resourceNames") or ())) for rule in role["rules"]
            for group in rule["apiGroups"] for resource in rule["resources"] for verb in rule["verbs"]} == {
        ("coordination.k8s.io", "leases", "create", ()), ("coordination.k8s.io", "leases", "get", (NAME,)),
        ("coordination.k8s.io", "leases", "update", (NAME,))}
    assert role["rules"] == LEASE_RULES and role["metadata"]["namespace"] == "ack-edge-lb-system"
    subject = [{"kind": "ServiceAccount", "name": NAME, "namespace": "ack-edge-lb-system"}]
    for binding, kind, role_name in (("controller/cluster-role-binding", "ClusterRole", NAME),
                                     ("controller/role-binding", "Role", NAME)):
        inputs = run.named(binding).inputs
        assert inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name}
        assert inputs["subjects"] == subject


# --- the CRD -----------------------------------------------------------------------------------------------------


def test_the_crd_is_the_repository_file_applied_and_kept(config, plan):
    run = plan(with_controller(config), preview=False)
    crd = run.named("controller/crd")
    shipped = yaml.safe_load(CRD_FILE.read_text())
    assert crd.inputs["spec"] == shipped["spec"]
    assert crd.inputs["metadata"]["name"] == shipped["metadata"]["name"] == "backendgroups.ack-edge-lb.io"
    assert crd.inputs["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"


def test_a_missing_or_foreign_crd_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError) as missing:
        load_crd(tmp_path / "backendgroups.yaml")
    assert "cannot be read" in str(missing.value) and "restore" in str(missing.value)
    other = tmp_path / "other.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(ConfigError, match="is not an apiextensions.k8s.io/v1 CustomResourceDefinition"):
        load_crd(other)


# --- AccessKey credentials ---------------------------------------------------------------------------------------


def test_secret_credentials_go_through_a_secret_never_the_deployment(config):
    raw = with_controller(config, credentials={"secret": True})
    run = plan_with(raw, ACCESS_KEY)
    (secret,) = run.of_type(SECRET)
    assert secret.inputs["metadata"]["name"] == f"{NAME}-credentials" and secret.inputs["type"] == "Opaque"
    assert rpc.is_rpc_secret(secret.inputs["stringData"]), "the whole map is one secret"
    assert unwrap_secrets(secret.inputs["stringData"]) == {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY["alicloud:accessKey"],
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY["alicloud:secretKey"]}
    template = pod(run)
    (container,) = template["spec"]["containers"]
    assert container["env"] == [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": f"{NAME}-credentials", "key": var}}}
        for var in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")]
    assert CREDENTIALS_REVISION in template["metadata"]["annotations"]
    assert RRSA_INJECTION not in template["metadata"]["labels"]
    deployment = json.dumps(run.named("controller/deployment").inputs)
    assert ACCESS_KEY["alicloud:secretKey"] not in deployment and ACCESS_KEY["alicloud:accessKey"] not in deployment


def test_secret_credentials_without_the_access_key_stop_the_update(config):
    raw = with_controller(config, credentials={"secret": True})
    run = Run(stack="test", preview=False)
    with pytest.raises(pulumi.RunError) as caught:
        plan_with(raw, {}, run=run)
    assert not [r for r in run.resources if r.name.startswith("controller")], "stopped before any registration"
    text = str(caught.value)
    assert "controller.credentials.secret" in text and "alicloud:accessKey and alicloud:secretKey not set" in text
    assert "pulumi config set --secret alicloud:accessKey" in text


def test_secret_credentials_without_the_access_key_are_a_warning_in_a_preview(config):
    run = plan_with(with_controller(config, credentials={"secret": True}), {}, preview=True)
    assert any("alicloud:accessKey and alicloud:secretKey not set" in w for w in run.warnings)
    assert run.of_type(SECRET)  # what `up` would declare once the settings are there


# --- the manifests -------------------------------------------------------------------------------------------------


def _validate(r: Registration) -> None:
    body = unwrap_secrets(dict(r.inputs))  # every field of the object: RBAC objects have rules, roleRef, subjects; a Secret data
    if r.type.endswith("Patch"):  # a patch applies a whole CRD: the API server validates it as one
        body["kind"] = body.get("kind") or "CustomResourceDefinition"
    kubernetes_validate.validate(body, KUBERNETES, strict=True)


@pytest.mark.parametrize("credentials", [{"rrsa": {"roleName": "ack-edge-lb-controller"}}, {"secret": True}])
def test_every_controller_object_is_schema_valid(config, credentials):
    raw = with_controller(config, credentials=credentials, rateLimits={"nlb.servers": 100},
                          resources={"requests": {"cpu": "100m"}, "limits": {"cpu": "1", "memory": "1Gi"}})
    run = plan_with(raw, ACCESS_KEY)
    objects = controller_objects(run)
    assert len(objects) == len(KINDS) + ("secret" in credentials)
    for r in objects:
        _validate(r)


def test_the_validator_does_reject_a_broken_deployment(config):
    run = plan_with(with_controller(config), {})
    broken = copy.deepcopy(run.named("controller/deployment"))
    broken.inputs["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"] = {"drop": "ALL"}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(broken)


# --- the lifecycle -------------------------------------------------------------------------------------------------


def test_the_lifecycle_keeps_the_access_key_secret_and_rolls_the_pods_on_a_new_one(config):
    """Controller with an AccessKey beside an ECM Service: create, no-op, refresh, a new key, destroy; the harness
    checkpoint (what the state file keeps) never holds a key in plain text."""
    raw = copy.deepcopy(config)
    raw["controller"] = {"enabled": True, "image": IMAGE, "credentials": {"secret": True}}
    with stack_world(raw, "ctl") as world:
        keys = {"alicloud:accessKey": KEY[0], "alicloud:secretKey": KEY[1]}
        world.world.provider_config.update(keys)
        world.world.secret_keys = (*world.world.secret_keys, *keys)
        engine = Engine(world.world, raw, stack="ctl")

        def assert_no_plain_key() -> None:
            text = engine.state.dumps()
            assert KEY[0] not in text and KEY[1] not in text, "an AccessKey is in the state in plain text"

        preview = engine.preview()
        assert {s.op for s in preview.steps} == {"create"}
        up = engine.up()
        assert {s.name for s in up.steps} >= {"controller", "controller/credentials", "controller/deployment",
                                              "controller/crd", "controller/namespace"}
        assert up.outputs["controllerNamespace"] == "ack-edge-lb-system"
        assert_no_plain_key()
        secret = engine.state.named("controller/credentials")
        assert "stringData" in secret.secret_keys
        revision = engine.state.named("controller/deployment").inputs["spec"]["template"]["metadata"]
        assert revision["annotations"][CREDENTIALS_REVISION] == secret.outputs["metadata"]["uid"]

        assert engine.up().changes == []
        engine.refresh()
        assert engine.preview().changes == []
        assert_no_plain_key()

        # A new key: the Secret is replaced (its contents are force-new, and it is named: deleted first), and the
        # Deployment's pods roll to read it.
        rotated = "harness-secret-rotated"
        world.world.provider_config["alicloud:secretKey"] = rotated
        again = engine.up()
        assert again.step("controller/credentials").op == "replace"
        assert again.step("controller/credentials").delete_before_replace
        assert again.step("controller/deployment").op == "update"
        text = engine.state.dumps()
        assert rotated not in text and KEY[1] not in text

        destroy = engine.destroy()
        assert len(engine.state) == 0 and {s.op for s in destroy.steps} == {"delete"}
        assert not world.kube.services


def test_a_namespaced_object_before_its_namespace_is_refused_by_the_double(config):
    """The harness would catch a missing dependency on the Namespace: the API server refuses such an object."""
    from tests.engine.kubernetes_double import KubernetesDouble
    from tests.engine.plugins import EngineError
    from tests.engine.world import TOKEN
    from tests.kubeserver import KubeServer

    with KubeServer(token=TOKEN) as kube:
        double = KubernetesDouble(kube.kubeconfig(TOKEN))
        try:
            with pytest.raises(EngineError, match='namespaces "ack-edge-lb-system" not found'):
                double.create("kubernetes:core/v1:ServiceAccount",
                              {"metadata": {"name": NAME, "namespace": "ack-edge-lb-system"}})
            double.create("kubernetes:core/v1:Namespace", {"metadata": {"name": "ack-edge-lb-system"}})
            id_, outputs = double.create("kubernetes:core/v1:ServiceAccount",
                                         {"metadata": {"name": NAME, "namespace": "ack-edge-lb-system"}})
            assert id_ == f"ack-edge-lb-system/{NAME}" and outputs["metadata"]["uid"]
            # One name per kind: a ClusterRole and a ClusterRoleBinding of one name are two objects.
            for kind in ("ClusterRole", "ClusterRoleBinding"):
                assert double.create(f"kubernetes:rbac.authorization.k8s.io/v1:{kind}",
                                     {"metadata": {"name": NAME}})[0] == NAME
        finally:
            double.close()


def test_the_component_module_stays_small():
    assert len(Path(__file__).resolve().parents[1].joinpath("components", "controller.py").read_text()
               .splitlines()) <= 400
