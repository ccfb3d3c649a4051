"""The backend reconciler: keep one load balancer backend group equal to what the cluster says should serve a Service.

    cluster.py (Kubernetes client)                 groups.py (official SDK per LB kind, ratelimit.py)
                 \\                                  /
        desired.py  --->  planner.py (pure)  --->  sync.py (batched, rate-limited, retried)

Hosts: `provider.py` wraps it as a Pulumi dynamic resource (BackendSync); nothing else here depends on Pulumi.
"""
