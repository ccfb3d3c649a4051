"""The controller (`python -m reconciler.controller`) as real processes against the fake Kubernetes API and the
cloud emulator, both in the test process on 127.0.0.1 (see `world`).

- `world`: `World`, the servers, the kubeconfig file, seeding (nodes, Services, EndpointSlices, NLB `Ip` server
  groups, ENS ELBs, foreign servers, the BackendGroup records as the Pulumi program declares them), replicas,
  and what to observe (the group in the emulator, the record, the Lease holder, Events, the Service status).
- `process`: one replica: argv, environment, its JSON log (stderr) in a file, /metrics parsed with
  prometheus_client's parser, kill -9 and SIGTERM.
- `waits`: bounded polls that fail with what the controllers logged, and a sampler of a group in a thread.

Every wait has a deadline of a few seconds; every replica is killed in the World's teardown.
"""

from tests.controller.process import ControllerProcess, Metrics
from tests.controller.waits import Sampler, hold_for, wait_until
from tests.controller.world import ENS_WRITES, LB_CLASS, NLB_WRITES, REGION, SYSTEM_NS, WRITES, Group, Pod, World

__all__ = ["ENS_WRITES", "LB_CLASS", "NLB_WRITES", "REGION", "SYSTEM_NS", "WRITES", "ControllerProcess", "Group",
           "Metrics", "Pod", "Sampler", "World", "hold_for", "wait_until"]
