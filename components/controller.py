"""Controller: the in-cluster controller that keeps Pulumi-owned backend groups in step between deployments.

`python -m reconciler.controller` (the image of the repository's Dockerfile) watches EndpointSlices, Nodes,
Services and the BackendGroup records, one replica leading through a Lease. The program declares what it
needs and nothing more:
- the BackendGroup CRD, from `reconciler/crd/backendgroups.yaml` (the file the reconciler is tested against),
  applied and never deleted;
- its Namespace, unless it is one every cluster has (`kube-system`, ...);
- a ServiceAccount, a ClusterRole for the cluster-wide reads and the status writes, a Role for its Lease;
- the Deployment: non-root, read-only root file system, no capabilities, RuntimeDefault seccomp, replicas
  spread over nodes (preferring cloud nodes, which keep their link to the API server and the cloud APIs
  when edge nodes run autonomously), probes on the metrics port;
- a PodDisruptionBudget keeping one replica through drains, and a Service for the metrics.
Credentials are RRSA (the ack-pod-identity-webhook add-on injects the OIDC token and ALIBABA_CLOUD_ROLE_ARN,
ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE, which the credentials library reads), or the
stack's secret AccessKey in a Secret the pods read as environment variables: a secret in the state, never text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi.runtime.config import get_config_secret_keys_env, is_config_secret

from components.annotations import NODEPOOL_LABEL
from reconciler.ratelimit import ENV as RATE_LIMITS_ENV
from stacks.model import Controller as ControllerConfig
from stacks.model import NodePool
from stacks.problems import ConfigError, Problem

CRD_FILE = Path(__file__).resolve().parent.parent / "reconciler" / "crd" / "backendgroups.yaml"
NAME = "ack-edge-lb-controller"      # ServiceAccount, roles, Deployment, PDB, and the Lease (issue 10 design)
SECRET_NAME = f"{NAME}-credentials"
METRICS_SERVICE = f"{NAME}-metrics"
METRICS_PORT = 9102
RUN_AS = 10001                       # the Dockerfile's USER
SELECTOR = {"app.kubernetes.io/name": NAME}
LABELS = {**SELECTOR, "app.kubernetes.io/part-of": "ack-edge-lb", "app.kubernetes.io/managed-by": "pulumi"}
# Namespaces the API server creates itself: declaring one would fail ("already exists").
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

# ack-pod-identity-webhook (https://www.alibabacloud.com/help/en/container-service-for-kubernetes/latest/
# ack-pod-identity-webhook): the namespace label `pod-identity.alibabacloud.com/injection: 'on'` turns injection
# on for its pods, the ServiceAccount annotation `pod-identity.alibabacloud.com/role-name` names the RAM role.
# The same label on the pod turns it on where the namespace is not ours to label (`kube-system`).
RRSA_INJECTION = "pod-identity.alibabacloud.com/injection"
RRSA_ROLE_NAME = "pod-identity.alibabacloud.com/role-name"
# The repository's CRD wins over an older one another field manager applied (pulumi-kubernetes await.go patchForce).
PATCH_FORCE = "pulumi.com/patchForce"
# Changes when the credentials Secret is re-created (a new key replaces it), so the pods restart with it.
CREDENTIALS_REVISION = "ack-edge-lb.io/credentials-revision"
ACCESS_KEY_SETTINGS = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "accessKey", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secretKey"}


def cluster_rules(group: str, plural: str) -> list[dict[str, Any]]:
    """What the controller reads cluster-wide, and the only things it writes (the controller's contract, RBAC).

    Reads are list and watch only: every object comes from an informer's cache, none is fetched by name."""
    return [
        {"apiGroups": [""], "resources": ["services", "nodes"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        # The addresses it publishes: `status.loadBalancer.ingress` of the Services it serves.
        {"apiGroups": [""], "resources": ["services/status"], "verbs": ["update", "patch"]},
        {"apiGroups": [group], "resources": [plural], "verbs": ["get", "list", "watch", "update", "patch"]},
        {"apiGroups": [group], "resources": [f"{plural}/status"], "verbs": ["get", "update", "patch"]},
        # Its finalizer `ack-edge-lb.io/backends`, held until a deleted record's backends are released.
        {"apiGroups": [group], "resources": [f"{plural}/finalizers"], "verbs": ["update"]},
        # Events on the records (Synced, SyncFailed, Released, Drift), through the core API.
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    ]


# Leader election (kubernetes.leaderelection LeaseLock): read, create and renew its own Lease only. `create`
# cannot be narrowed to a name (the name is not known to the authorizer before the object exists).
LEASE_RULES = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [NAME],
     "verbs": ["get", "update"]},
]


def load_crd(path: Path = CRD_FILE) -> dict[str, Any]:
    """The BackendGroup CRD as the repository ships it, read when the program runs."""
    try:
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("(program)", [Problem(str(path), None, f"the BackendGroup CRD cannot be read "
                                                f"({exc.strerror})", "restore reconciler/crd/backendgroups.yaml "
                                                "from the repository")]) from None
    if not (isinstance(crd, dict) and crd.get("apiVersion") == "apiextensions.k8s.io/v1"
            and crd.get("kind") == "CustomResourceDefinition" and (crd.get("metadata") or {}).get("name")):
        raise ConfigError("(program)", [Problem(str(path), None, "is not an apiextensions.k8s.io/v1 "
                                                "CustomResourceDefinition", "restore it from the repository")])
    return crd


def command(namespace: str) -> list[str]:
    return ["python", "-m", "reconciler.controller", "--namespace", namespace, "--metrics-port", str(METRICS_PORT)]


def rate_limits_json(config: ControllerConfig, stack: Optional[Mapping[str, int]] = None) -> Optional[str]:
    """The limits as the controller reads them from ACK_EDGE_LB_RATE_LIMITS: `controller.rateLimits`, else the
    stack's `rateLimits`; None when neither is set (the documented quotas)."""
    limits = config.rate_limits or dict(stack or {})
    if not limits:
        return None
    return json.dumps(dict(sorted(limits.items())), separators=(",", ":"))


def access_key_from_stack(stack: str) -> dict[str, pulumi.Output[str]]:
    """The stack's `alicloud:accessKey` / `alicloud:secretKey` as secrets, by the variable the pods read them as.

    Missing in a preview (and in the offline plan, which has no `alicloud:` settings): a warning, and the
    Secret is planned with empty values; `pulumi up` stops with the problem before anything is declared."""
    config = pulumi.Config("alicloud")
    found = {env: config.get_secret(key) for env, key in ACCESS_KEY_SETTINGS.items()}
    missing = [f"alicloud:{ACCESS_KEY_SETTINGS[env]}" for env, value in found.items() if value is None]
    if missing:
        problem = Problem("controller.credentials.secret", True, f"{' and '.join(missing)} not set, so the "
                          "controller would have no AccessKey", "set them as secrets (`pulumi config set --secret "
                          "alicloud:accessKey <id>`, the same for `alicloud:secretKey`), or use `credentials: "
                          "{rrsa: {roleName: <RAM role>}}`")
        if not pulumi.runtime.is_dry_run():
            raise ConfigError(stack, [problem])
        pulumi.log.warn(str(problem))
    for env, key in ACCESS_KEY_SETTINGS.items():
        if found[env] is not None and not _is_secret(f"alicloud:{key}"):
            pulumi.log.warn(f"alicloud:{key} is stored in plain text in Pulumi.{stack}.yaml; the controller's "
                            f"Secret keeps it secret, but set it with `pulumi config set --secret alicloud:{key}`")
    return {env: pulumi.Output.secret(value if value is not None else "") for env, value in found.items()}


def _is_secret(key: str) -> bool:
    return is_config_secret(key) or key in get_config_secret_keys_env()


@dataclass(frozen=True)
class ControllerArgs:
    config: ControllerConfig
    # Every node pool of the stack: the replicas prefer the cloud pools' nodes.
    node_pools: Sequence[NodePool] = ()
    crd: Optional[dict[str, Any]] = None  # default: load_crd()
    # secret credentials: env variable -> secret value (default: access_key_from_stack)
    access_key: Optional[dict[str, pulumi.Output[str]]] = None
    # The stack's `rateLimits`, the controller's unless `controller.rateLimits` sets its own.
    stack_rate_limits: Mapping[str, int] = field(default_factory=dict)


class Controller(pulumi.ComponentResource):
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: ControllerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        config = args.config
        secret_credentials = config.credentials is not None and bool(config.credentials.secret)
        access_key = None
        if secret_credentials:  # first: a missing AccessKey stops `pulumi up` before anything is registered
            access_key = args.access_key if args.access_key is not None else access_key_from_stack(pulumi.get_stack())
        super().__init__("ack-edge-lb:controller:Controller", name, None, opts)
        crd = args.crd if args.crd is not None else load_crd()
        child = pulumi.ResourceOptions(parent=self)
        meta = k8s.meta.v1.ObjectMetaArgs

        # A patch (server-side apply), not a plain object: BackendSync installs the same CRD when it finds none
        # (reconciler/record.py), and a plain create would then fail with "already exists". Never deleted:
        # deleting a CRD deletes every BackendGroup, the record of which backends each owner added.
        self.crd = k8s.apiextensions.v1.CustomResourceDefinitionPatch(
            f"{name}/crd",
            metadata=meta(name=crd["metadata"]["name"], labels={**(crd["metadata"].get("labels") or {}), **LABELS},
                          annotations={**(crd["metadata"].get("annotations") or {}), PATCH_FORCE: "true"}),
            spec=crd["spec"],  # as the YAML has it (camelCase), as pulumi_kubernetes.yaml passes it on
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True))

        rrsa = config.credentials.rrsa if config.credentials else None
        self.namespace_object: Optional[k8s.core.v1.Namespace] = None
        namespace: pulumi.Input[str] = config.namespace
        if config.namespace not in BUILTIN_NAMESPACES:
            self.namespace_object = k8s.core.v1.Namespace(
                f"{name}/namespace",
                metadata=meta(name=config.namespace, labels={**LABELS, **({RRSA_INJECTION: "on"} if rrsa else {})}),
                opts=child)
            namespace = self.namespace_object.metadata.name  # everything below waits for the namespace
        self.namespace = pulumi.Output.from_input(namespace)

        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}/service-account",
            metadata=meta(name=NAME, namespace=namespace, labels=LABELS,
                          annotations={RRSA_ROLE_NAME: rrsa.role_name} if rrsa else None),
            opts=child)
        subject = [k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=NAME, namespace=namespace)]
        names = crd["spec"]["names"]
        self.cluster_role = k8s.rbac.v1.ClusterRole(
            f"{name}/cluster-role", metadata=meta(name=NAME, labels=LABELS),
            rules=[_rule(r) for r in cluster_rules(crd["spec"]["group"], names["plural"])], opts=child)
        self.cluster_role_binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}/cluster-role-binding", metadata=meta(name=NAME, labels=LABELS),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                             name=self.cluster_role.metadata.name),
            subjects=subject, opts=child)
        self.role = k8s.rbac.v1.Role(
            f"{name}/role", metadata=meta(name=NAME, namespace=namespace, labels=LABELS),
            rules=[_rule(r) for r in LEASE_RULES], opts=child)
        self.role_binding = k8s.rbac.v1.RoleBinding(
            f"{name}/role-binding", metadata=meta(name=NAME, namespace=namespace, labels=LABELS),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role",
                                             name=self.role.metadata.name),
            subjects=subject, opts=child)

        env: list[k8s.core.v1.EnvVarArgs] = []
        pod_annotations: dict[str, pulumi.Input[str]] = {}
        self.secret: Optional[k8s.core.v1.Secret] = None
        if access_key is not None:
            self.secret = k8s.core.v1.Secret(
                f"{name}/credentials",
                metadata=meta(name=SECRET_NAME, namespace=namespace, labels=LABELS),
                type="Opaque",
                # One secret value for the whole map: the state never holds a key in text, not even nested.
                string_data=pulumi.Output.secret(pulumi.Output.all(**access_key)),
                opts=child)
            env += [k8s.core.v1.EnvVarArgs(name=var, value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=self.secret.metadata.name, key=var)))
                for var in ACCESS_KEY_SETTINGS]
            pod_annotations[CREDENTIALS_REVISION] = self.secret.metadata.apply(lambda m: (m.uid if m else None) or "")
        limits = rate_limits_json(config, args.stack_rate_limits)
        if limits is not None:
            env.append(k8s.core.v1.EnvVarArgs(name=RATE_LIMITS_ENV, value=limits))

        self.deployment = k8s.apps.v1.Deployment(
            f"{name}/deployment",
            metadata=meta(name=NAME, namespace=namespace, labels=LABELS),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=config.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=SELECTOR),
                # One extra pod during a rollout, never one fewer: the standby keeps the Lease warm.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=meta(labels={**LABELS, **({RRSA_INJECTION: "on"} if rrsa else {})},
                                  annotations=pod_annotations or None),
                    spec=_pod_spec(config, env, args.node_pools)),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.crd, self.cluster_role_binding,
                                                                 self.role_binding, self.service_account]))
        # What a BackendSync that hands its group to the controller waits for: the CRD of its record, and the
        # Deployment, which pulumi-kubernetes awaits until its pods are ready, so the first wait has a reader;
        # on destroy the BackendSyncs go first, while the controller still runs to release their backends.
        self.backend_dependencies: list[pulumi.Resource] = [self.crd, self.deployment]
        self.disruption_budget = k8s.policy.v1.PodDisruptionBudget(
            f"{name}/disruption-budget",
            metadata=meta(name=NAME, namespace=namespace, labels=LABELS),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                min_available=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=SELECTOR)),
            opts=child)
        self.metrics_service = k8s.core.v1.Service(
            f"{name}/metrics",
            metadata=meta(name=METRICS_SERVICE, namespace=namespace, labels=LABELS),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=SELECTOR,
                ports=[k8s.core.v1.ServicePortArgs(name="metrics", port=METRICS_PORT, target_port="metrics",
                                                   protocol="TCP")]),
            opts=child)
        self.register_outputs({"namespace": self.namespace, "deployment": f"{config.namespace}/{NAME}",
                               "crd": crd["metadata"]["name"]})


def controller_dependencies(controller: Optional[Controller]) -> list[pulumi.Resource]:
    """What a BackendSync waits for: the controller's CRD and Deployment, or nothing without a controller."""
    return list(controller.backend_dependencies) if controller is not None else []


def _rule(rule: dict[str, Any]) -> k8s.rbac.v1.PolicyRuleArgs:
    return k8s.rbac.v1.PolicyRuleArgs(api_groups=rule["apiGroups"], resources=rule["resources"],
                                      resource_names=rule.get("resourceNames"), verbs=rule["verbs"])


def _pod_spec(config: ControllerConfig, env: list[k8s.core.v1.EnvVarArgs],
              node_pools: Sequence[NodePool]) -> k8s.core.v1.PodSpecArgs:
    core = k8s.core.v1
    probe = core.HTTPGetActionArgs(path="/metrics", port="metrics")
    cloud_pools = sorted(p.id for p in node_pools if p.type == "cloud")
    resources = config.resources
    return core.PodSpecArgs(
        service_account_name=NAME,
        automount_service_account_token=True,  # in-cluster config: the API server's token and CA
        enable_service_links=False,
        security_context=core.PodSecurityContextArgs(
            run_as_non_root=True, run_as_user=RUN_AS, run_as_group=RUN_AS,
            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault")),
        affinity=core.AffinityArgs(
            # Preferred, not required: two replicas on a one-node cluster still run.
            pod_anti_affinity=core.PodAntiAffinityArgs(preferred_during_scheduling_ignored_during_execution=[
                core.WeightedPodAffinityTermArgs(weight=100, pod_affinity_term=core.PodAffinityTermArgs(
                    topology_key="kubernetes.io/hostname",
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=SELECTOR)))]),
            node_affinity=core.NodeAffinityArgs(preferred_during_scheduling_ignored_during_execution=[
                core.PreferredSchedulingTermArgs(weight=50, preference=core.NodeSelectorTermArgs(match_expressions=[
                    core.NodeSelectorRequirementArgs(key=NODEPOOL_LABEL, operator="In", values=cloud_pools)]))],
            ) if cloud_pools else None),
        containers=[core.ContainerArgs(
            name="controller",
            image=config.image,
            command=command(config.namespace),
            ports=[core.ContainerPortArgs(name="metrics", container_port=METRICS_PORT, protocol="TCP")],
            env=env or None,
            readiness_probe=core.ProbeArgs(http_get=probe, period_seconds=10, failure_threshold=3),
            liveness_probe=core.ProbeArgs(http_get=probe, initial_delay_seconds=15, period_seconds=20,
                                          failure_threshold=3),
            resources=core.ResourceRequirementsArgs(
                requests=resources.requests.model_dump(exclude_none=True) or None,
                limits=resources.limits.model_dump(exclude_none=True) or None),
            security_context=core.SecurityContextArgs(
                allow_privilege_escalation=False, read_only_root_filesystem=True, run_as_non_root=True,
                capabilities=core.CapabilitiesArgs(drop=["ALL"])),
            volume_mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )],
        # The only writable path: temporary files of the clients (a kubeconfig's certificates, say).
        volumes=[core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs(size_limit="16Mi"))],
    )
