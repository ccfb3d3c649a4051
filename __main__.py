"""ack-edge-lb: expose the stack's Kubernetes Services through edge load balancers.

Thin on purpose: load the stack configuration, declare one EdgeService per service, export.
"""

import pulumi

from components.controller import Controller, ControllerArgs
from components.edge_service import EdgeService, EdgeServiceArgs
from components.providers import RegionalProviders
from stacks.load import load_pulumi_config
from stacks.naming import matched_pools, service_key
from stacks.problems import ConfigError

try:
    loaded = load_pulumi_config()
except ConfigError as exc:
    # Shown as the error of the update, without a stack trace, before anything is declared.
    raise pulumi.RunError(str(exc)) from None

for warning in loaded.warnings:
    pulumi.log.warn(str(warning))

config = loaded.config
# The in-cluster controller, first: the backend groups it keeps are declared by the services below.
controller = None
if config.controller is not None and config.controller.enabled:
    try:
        controller = Controller("controller", ControllerArgs(
            config=config.controller, node_pools=config.node_pools, stack_rate_limits=config.rate_limits))
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
# NLBs and CLBs are regional: their resources get a provider for the cluster's region (components/providers.py).
providers = RegionalProviders()
exposed = {}
for service in config.services:
    key = service_key(service)
    exposed[key] = EdgeService(key, EdgeServiceArgs(
        service=service,
        cluster=config.cluster,
        node_pools=config.node_pools,
        matched_pools=matched_pools(service, config.node_pools),
        protect=config.protected(pulumi.get_stack()),
        providers=providers,
        controller=controller,
    ))

pulumi.export("externalIp", {key: svc.external_ip for key, svc in exposed.items()})
pulumi.export("externalIps", {key: svc.external_ips for key, svc in exposed.items()})
pulumi.export("nodePools", {key: svc.pool_ids for key, svc in exposed.items()})
pulumi.export("loadBalancers", {key: svc.load_balancers for key, svc in exposed.items() if svc.load_balancers})
if controller is not None:
    pulumi.export("controllerNamespace", controller.namespace)
