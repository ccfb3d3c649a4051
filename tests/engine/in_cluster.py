"""The in-cluster controller as the cluster would run it for a stack that deploys it: the real one
(`reconciler.controller.manager.Controller`), in this process, against the fake Kubernetes API and the cloud
emulator, from the moment its Deployment exists until it is deleted.

Its pods would get the AccessKey and the endpoints from their environment; here they are its configuration
(`alicloud:accessKey`, `alicloud:endpoints`), so the test process's environment stays as it is. No leader
election (one replica) and no periodic drift read: the lifecycle checks that a no-op `up` writes nothing, and a
Lease renewal would be a write. `settle()` waits until it has nothing due and nothing in progress, as a
no-op check must: the controller publishes a Service's address after it reported the group synced.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

from components.controller import NAME

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
QUIET = 0.3  # idle this long (several coalescing periods, and a watch event's way) counts as settled


class InClusterController:
    def __init__(self, kubeconfig: str, cloud_config: dict[str, Any]):
        self.kubeconfig, self.cloud_config = kubeconfig, cloud_config
        self.controller: Optional[Any] = None
        self.api: Optional[Any] = None
        self.started = 0  # how many times its Deployment started it
        self._lock = threading.Lock()

    def on_kept(self, type_: str, id_: str, inputs: Optional[dict[str, Any]]) -> None:
        """The KubernetesDouble's hook: the controller's Deployment created, or deleted."""
        if type_ != DEPLOYMENT or id_.rsplit("/", 1)[-1] != NAME:
            return
        if inputs is None:
            self.stop()
        else:
            self.start()

    @property
    def running(self) -> bool:
        return self.controller is not None

    def start(self) -> None:
        # Imported here: a world without the controller's Deployment never needs it.
        from reconciler.cluster import load_api_client
        from reconciler.controller.manager import Controller, Options

        with self._lock:
            if self.controller is not None:
                return
            self.api = load_api_client({"kubernetes:kubeconfig": self.kubeconfig})
            controller = Controller(self.api, Options(workers=2, coalesce_seconds=0.02, drift_seconds=0,
                                                      job_poll_seconds=0.05, identity="harness-controller"),
                                    config=self.cloud_config)
            controller.start()
            if not controller.wait_synced(30):
                controller.stop()
                raise AssertionError("the in-cluster controller's caches did not list within 30 s")
            self.controller = controller
            self.started += 1

    def settle(self, timeout: float = 30.0) -> None:
        """Until it has been idle for QUIET seconds; nothing when it does not run."""
        controller = self.controller
        if controller is None:
            return
        deadline, quiet_since = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            if controller.idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= QUIET:
                    return
            else:
                quiet_since = None
            time.sleep(0.02)
        raise AssertionError(f"the in-cluster controller did not settle within {timeout:g} s")

    def stop(self) -> None:
        with self._lock:
            controller, api, self.controller, self.api = self.controller, self.api, None, None
        if controller is not None:
            controller.stop()
        if api is not None:
            api.close()
