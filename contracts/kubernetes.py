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

CONTRACTS = (SERVICE, DAEMON_SET)
