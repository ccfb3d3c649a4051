"""BackendSync: keep one load balancer backend group equal to what the cluster says should serve a Service.

    cluster.py (Kubernetes client)                 groups.py (official SDK per LB kind)
                 \\                                  /
        desired.py  --->  planner.py (pure)  --->  apply.py (batched, rate-limited, retried)

`provider.py` wraps it as a Pulumi dynamic resource; nothing below it depends on Pulumi.
"""
