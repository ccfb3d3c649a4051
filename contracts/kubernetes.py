"""pulumi-kubernetes 4.x resources the program declares: force-new fields, immutable fields, required inputs.

Force-new fields are pulumi-kubernetes' own list (pulumi/pulumi-kubernetes@94977969,
provider/pkg/provider/diff.go `forceNew`, lines 45-205, plus `.metadata.name` and `.metadata.namespace`
for every kind, provider.go line 1560). Its Diff asks for delete-before-replace whenever it replaces an
object with an explicit `metadata.name` (provider.go lines 1644-1655): two objects cannot share a name.
Replacements the *engine* adds through `replaceOnChanges` do not get that flag, so a resource that is
replaced that way needs the `deleteBeforeReplace` option too.

Immutable fields are the API server's: an update that changes one is refused (422 Invalid), and
pulumi-kubernetes updates in place unless the field is in its force-new list.
"""

from __future__ import annotations

from contracts import Contract, Input

DIFF_GO = "pulumi-kubernetes provider/pkg/provider/diff.go"
# Kubernetes API reference, ServiceSpec.loadBalancerClass (kubernetes-validate 1.37 servicespec-v1.json):
# "This field can only be set when creating or updating a Service to type 'LoadBalancer'. Once set, it can
# not be changed."
LB_CLASS_DOC = "Kubernetes API ServiceSpec.loadBalancerClass: 'Once set, it can not be changed.'"

IDENTITY = (
    Input("metadata.name", required=True, force_new=True, source="pulumi-kubernetes provider.go:1560"),
    Input("metadata.namespace", force_new=True, source="pulumi-kubernetes provider.go:1560"),
)

SERVICE = Contract(
    type="kubernetes:core/v1:Service",
    inputs=(
        *IDENTITY,
        Input("spec.clusterIP", force_new=True, source=f"{DIFF_GO} core/v1 Service"),
        Input("spec.loadBalancerClass", immutable=True, source=LB_CLASS_DOC),
        Input("spec.type", values=("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"),
              source="Kubernetes API ServiceSpec.type"),
        Input("spec.externalTrafficPolicy", values=("Cluster", "Local"),
              source="Kubernetes API ServiceSpec.externalTrafficPolicy"),
        Input("spec.ports[*].port", required=True, range=(1, 65535), source="Kubernetes API ServicePort.port"),
        Input("spec.ports[*].protocol", values=("TCP", "UDP", "SCTP"), source="Kubernetes API ServicePort.protocol"),
        Input("spec.ports[*].nodePort", range=(30000, 32767),
              source="kube-apiserver --service-node-port-range default 30000-32767"),
    ),
    outputs=("status", "spec.clusterIP", "spec.ports[*].nodePort", "spec.healthCheckNodePort"),
    delete_before_replace=True,
    source=DIFF_GO,
)

_SELECTOR = "Kubernetes API DaemonSetSpec.selector (required; immutable, and force-new in " + DIFF_GO + ")"

DAEMON_SET = Contract(
    type="kubernetes:apps/v1:DaemonSet",
    inputs=(
        *IDENTITY,
        Input("spec.selector", required=True, force_new=True, source=_SELECTOR),
        Input("spec.template", required=True, source="Kubernetes API DaemonSetSpec.template"),
        Input("spec.template.spec.containers[*].name", required=True, source="Kubernetes API Container.name"),
        Input("spec.template.spec.containers[*].image", required=True, source="Kubernetes API Container.image"),
    ),
    outputs=("status",),
    delete_before_replace=True,
    source=DIFF_GO,
)

# --- the in-cluster controller (components/controller.py) -------------------------------------------------------
# Line numbers are of diff.go at pulumi/pulumi-kubernetes@94977969: `forceNewProperties` 23-38 (every kind:
# `.metadata.name`, `.metadata.namespace`, 207-212), the `forceNew` table 45-83. A kind the table does not list
# (Namespace, ServiceAccount, ClusterRole, Role, policy/v1 PodDisruptionBudget) is
# replaced only when its identity changes; everything else is updated in place.

NAMESPACE = Contract(type="kubernetes:core/v1:Namespace", inputs=IDENTITY, outputs=("status",),
                     delete_before_replace=True, source=DIFF_GO)

SERVICE_ACCOUNT = Contract(type="kubernetes:core/v1:ServiceAccount", inputs=IDENTITY, delete_before_replace=True,
                           source=DIFF_GO)

SECRET = Contract(
    type="kubernetes:core/v1:Secret",
    inputs=(
        *IDENTITY,
        # diff.go:28-29: a Secret is replaced when its type or contents change, unless the provider is configured
        # with `enableSecretMutable` (off by default) and the Secret is not `immutable`.
        Input("type", force_new=True, source=f"{DIFF_GO}:28-29, 155-157 core/v1 Secret"),
        Input("stringData", force_new=True, source=f"{DIFF_GO}:28-29"),
        Input("data", force_new=True, source=f"{DIFF_GO}:28-29"),
    ),
    delete_before_replace=True,
    source=DIFF_GO,
)

_POLICY_RULES = (
    Input("rules[*].verbs", required=True, source="Kubernetes API PolicyRule.verbs (required)"),
)
CLUSTER_ROLE = Contract(type="kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
                        inputs=(*IDENTITY, *_POLICY_RULES), delete_before_replace=True, source=DIFF_GO)
ROLE = Contract(type="kubernetes:rbac.authorization.k8s.io/v1:Role",
                inputs=(*IDENTITY, *_POLICY_RULES), delete_before_replace=True, source=DIFF_GO)


def _binding(type_: str, kinds: tuple[str, ...]) -> Contract:
    return Contract(
        type=type_,
        inputs=(
            *IDENTITY,
            # diff.go:65-69, 192-194 (`roleBinding`: `.roleRef`); the API server also refuses a changed roleRef.
            Input("roleRef", required=True, force_new=True, source=f"{DIFF_GO}:65-69, 192-194"),
            Input("roleRef.apiGroup", required=True, values=("rbac.authorization.k8s.io",),
                  source="Kubernetes API RoleRef.apiGroup (required)"),
            Input("roleRef.kind", required=True, values=kinds, source="Kubernetes API RoleRef.kind (required)"),
            Input("roleRef.name", required=True, source="Kubernetes API RoleRef.name (required)"),
            Input("subjects[*].kind", required=True, values=("ServiceAccount", "User", "Group"),
                  source="Kubernetes API Subject.kind (required)"),
            Input("subjects[*].name", required=True, source="Kubernetes API Subject.name (required)"),
        ),
        delete_before_replace=True,
        source=DIFF_GO,
    )


CLUSTER_ROLE_BINDING = _binding("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", ("ClusterRole",))
ROLE_BINDING = _binding("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", ("Role", "ClusterRole"))

DEPLOYMENT = Contract(
    type="kubernetes:apps/v1:Deployment",
    inputs=(
        *IDENTITY,
        # diff.go:53-56, 171-176 (`deployment`), 243-251 (the label selector's fields).
        Input("spec.selector", required=True, force_new=True, source=f"{DIFF_GO}:53-56, 171-176, 243-251"),
        Input("spec.template", required=True, source="Kubernetes API DeploymentSpec.template"),
        Input("spec.replicas", range=(0, 2**31 - 1), source="Kubernetes API DeploymentSpec.replicas (int32)"),
        Input("spec.template.spec.containers[*].name", required=True, source="Kubernetes API Container.name"),
        Input("spec.template.spec.containers[*].image", required=True, source="Kubernetes API Container.image"),
    ),
    outputs=("status",),
    delete_before_replace=True,
    source=DIFF_GO,
)


def _one_budget(inputs: dict) -> tuple[str, str] | None:
    spec = inputs.get("spec") or {}
    if "minAvailable" in spec and "maxUnavailable" in spec:
        return "spec", "minAvailable and maxUnavailable cannot both be set (Kubernetes API PodDisruptionBudgetSpec)"
    return None


# diff.go:62-64 lists `.spec` for policy/v1beta1 only: a policy/v1 budget is updated in place.
POD_DISRUPTION_BUDGET = Contract(
    type="kubernetes:policy/v1:PodDisruptionBudget",
    inputs=(*IDENTITY, Input("spec.selector", source="Kubernetes API PodDisruptionBudgetSpec.selector")),
    outputs=("status",),
    delete_before_replace=True,
    rules=(_one_budget,),
    source=f"{DIFF_GO}:62-64",
)


def _crd_name(inputs: dict) -> tuple[str, str] | None:
    name = (inputs.get("metadata") or {}).get("name")
    spec = inputs.get("spec") or {}
    plural, group = (spec.get("names") or {}).get("plural"), spec.get("group")
    if isinstance(name, str) and isinstance(plural, str) and isinstance(group, str) and name != f"{plural}.{group}":
        return "metadata.name", f"must be spec.names.plural+\".\"+spec.group ({plural}.{group}), got {name!r}"
    return None


# Declared as a Patch (server-side apply: creates the CRD, or takes over one another field manager created;
# pulumi-kubernetes await.go:190-206). A patch resource is replaced only when its identity changes
# (provider.go:1559-1566); the API server still requires the fields of a CRD it creates.
CUSTOM_RESOURCE_DEFINITION_PATCH = Contract(
    type="kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinitionPatch",
    inputs=(
        *IDENTITY,
        Input("spec.group", required=True, source="Kubernetes API CustomResourceDefinitionSpec.group (required)"),
        Input("spec.names.plural", required=True, source="Kubernetes API CustomResourceDefinitionNames.plural"),
        Input("spec.names.kind", required=True, source="Kubernetes API CustomResourceDefinitionNames.kind"),
        Input("spec.scope", required=True, values=("Namespaced", "Cluster"),
              source="Kubernetes API CustomResourceDefinitionSpec.scope (required)"),
        Input("spec.versions", required=True, source="Kubernetes API CustomResourceDefinitionSpec.versions"),
    ),
    outputs=("status",),
    delete_before_replace=True,
    rules=(_crd_name,),
    source=DIFF_GO,
)

CONTRACTS = (SERVICE, DAEMON_SET, NAMESPACE, SERVICE_ACCOUNT, SECRET, CLUSTER_ROLE, ROLE, CLUSTER_ROLE_BINDING,
             ROLE_BINDING, DEPLOYMENT, POD_DISRUPTION_BUDGET, CUSTOM_RESOURCE_DEFINITION_PATCH)
