"""The world a stack's lifecycle runs against: the cloud emulator, the fake Kubernetes API, and what the
cluster's own controllers would do there.

    with stack_world(raw_config) as world:
        engine = Engine(world.world, raw_config)
        engine.up()

Seeded from the stack configuration, as the cluster would be before the first `pulumi up`:
- per node pool, its NodePool (ACK creates one per node pool, labels as configured) and `NODES` Ready
  nodes: ENS nodes carry their instance id label and are Running instances in the ENS emulator; cloud
  nodes carry an ECS providerID;
- per Service the pods of its workload, one per node of the pools it runs in; when the Service is
  applied, the EndpointSlice controller publishes them (named target ports resolve to POD_PORT);
- the BackendGroup CRD, whose records BackendSync writes through the API itself;
- for ELB Services that ECM serves (`ecm`, `user`), the PoolService `<svc>-<pool>` of each matched pool,
  which the controller creates once the Service exists (with its managed-by label);
- while the stack's in-cluster controller has its Deployment, that controller runs (in_cluster.py): the
  BackendSyncs of such a stack hand their groups to it and wait for it. `world.settle()` waits until it is idle.
The dynamic-provider host gets the emulator's endpoints and an AccessKey in its environment, and the
kubeconfig as the secret `kubernetes:kubeconfig`, as a real stack configures pulumi-kubernetes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

from reconciler.record import CRD_FILE
from stacks.load import validate
from stacks.model import Service, StackConfig
from stacks.naming import matched_pools
from tests.emulator import Emulator, Ens, Nlb, Slb
from tests.engine.alicloud_double import AlicloudDouble, Cloud
from tests.engine.engine import World
from tests.engine.in_cluster import InClusterController
from tests.engine.kubernetes_double import KubernetesDouble
from tests.kubeserver import KubeServer

KEY = ("LTAI5tEngineHarness", "harness-secret-not-for-logs")
TOKEN = "harness-token"
NODES = 2
POD_PORT = 8080  # the container port a named targetPort resolves to
REGION = "cn-hangzhou"


@dataclass
class StackWorld:
    world: World
    cloud: Emulator
    kube: KubeServer
    config: StackConfig
    controller: InClusterController

    def settle(self) -> None:
        """Until the in-cluster controller, where it runs, has nothing due and nothing in progress."""
        self.controller.settle()

    def instance_id(self, pool: str, n: int) -> str:
        return f"i-{pool.replace('-', '')}{n}"


def _pods(cfg: StackConfig, svc: Service) -> list[dict[str, Any]]:
    pools = matched_pools(svc, cfg.node_pools)
    return [{"ip": f"172.{16 + i}.{j}.{n + 10}", "node": f"{pool.id}-{n}"}
            for i, pool in enumerate(sorted(cfg.node_pools, key=lambda p: p.id)) if pool in pools
            for j in (1,) for n in range(NODES)]


def _endpoint_ports(svc: Service) -> list[dict[str, Any]]:
    return [{"name": p.name or "", "port": p.target_port if isinstance(p.target_port, int) else
             (POD_PORT if p.target_port else p.port), "protocol": p.protocol} for p in svc.ports]


@contextlib.contextmanager
def stack_world(raw: dict[str, Any], stack: str = "test", *, ecm_after_reads: int = 0,
                portless: int = 0) -> Iterator[StackWorld]:
    """`ecm_after_reads`: ECM creates each PoolService only after that many reads of it (a slow controller).
    `portless`: that many extra pods per Service lack its named target port (their slice has no port)."""
    cfg = validate(raw, stack).config
    with Emulator([Ens(), Nlb(region=REGION), Slb()], secrets={KEY[0]: KEY[1]}) as emu, \
            KubeServer(token=TOKEN) as kube:
        kube.register_crd(CRD_FILE)  # as the controller component declares it (without it, BackendSync installs it)
        for i, pool in enumerate(sorted(cfg.node_pools, key=lambda p: p.id)):
            kube.add_node_pool(pool.id, type="Edge" if pool.type != "cloud" else "Cloud", labels=dict(pool.labels))
            for n in range(NODES):
                node = f"{pool.id}-{n}"
                instance = f"i-{pool.id.replace('-', '')}{n}"
                if pool.type == "cloud":  # an ECS instance, a backend of CLBs and of NLB Instance groups
                    emu.slb.instances[instance] = emu.nlb.instances[instance] = "Running"
                    kube.add_node(node, pool=pool.id, provider_id=f"{REGION}.{instance}",
                                  internal_ip=f"10.0.{i}.{n + 10}")
                else:
                    emu.ens.instances[instance] = "Running"
                    kube.add_node(node, pool=pool.id, instance_id=instance, internal_ip=f"10.1.{i}.{n + 10}")
        services = {(s.namespace, s.name): s for s in cfg.services}
        for svc in cfg.services:
            if svc.load_balancer.type == "elb" and svc.load_balancer.management in ("ecm", "user"):
                for pool in matched_pools(svc, cfg.node_pools):
                    kube.add_pool_service(svc.namespace, svc.name, pool.id, after_reads=ecm_after_reads)

        def publish(live: dict[str, Any]) -> None:
            """The EndpointSlice controller: the Service's pods, once it exists."""
            meta = live["metadata"]
            svc = services.get((meta["namespace"], meta["name"]))
            if svc is not None:
                kube.set_endpoints(svc.namespace, svc.name, _pods(cfg, svc), ports=_endpoint_ports(svc))
                if portless:  # the EndpointSlice controller puts such pods in a slice without that port
                    pods = [{"addresses": [f"172.31.0.{n + 10}"], "nodeName": _pods(cfg, svc)[0]["node"],
                             "conditions": {"ready": True, "serving": True, "terminating": False}}
                            for n in range(portless)]
                    with kube.lock:
                        kube._add_slice(svc.namespace, svc.name, pods, [], "IPv4")  # noqa: SLF001

        endpoint = emu.endpoint if "://" in emu.endpoint else f"http://{emu.endpoint}"
        controller = InClusterController(kube.kubeconfig(TOKEN), {
            "alicloud:accessKey": KEY[0], "alicloud:secretKey": KEY[1],
            "alicloud:endpoints": [{"ens": endpoint, "nlb": endpoint, "slb": endpoint}], "alicloud:protocol": "HTTP"})
        kubernetes = KubernetesDouble(kube.kubeconfig(TOKEN), on_service=publish, on_kept=controller.on_kept)
        alicloud = AlicloudDouble(Cloud(emu.endpoint, KEY, REGION))
        world = World(
            env={"ALIBABA_CLOUD_ACCESS_KEY_ID": KEY[0], "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY[1],
                 "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",  # no ECS metadata lookup: 127.0.0.1 only
                 **{f"ACK_EDGE_LB_{p}_ENDPOINT": endpoint for p in ("ENS", "NLB", "CLB")}},
            # `alicloud:region` unset, as in many stacks: the default provider would work in cn-beijing.
            provider_config={"kubernetes:kubeconfig": kube.kubeconfig(TOKEN)},
            secret_keys=("kubernetes:kubeconfig",),
            doubles={"alicloud": alicloud, "kubernetes": kubernetes})
        try:
            yield StackWorld(world, emu, kube, cfg, controller)
        finally:
            controller.stop()
            kubernetes.close()
