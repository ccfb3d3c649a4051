"""The in-cluster controller: the reconciler's second host, keeping Pulumi-owned backend groups in step with pods.

    __main__.py   the process: flags, logs, metrics server, leader election (a Lease), signals
    manager.py    Controller: watch caches -> work queue -> workers; one group's sync
    informer.py   list + watch caches of one kind (the official client's Watch)
    workqueue.py  due groups, coalesced, one sync per group at a time
    metrics.py    Prometheus metrics
    logs.py       JSON log lines

The work and the ownership live in the BackendGroup records (reconciler/record.py), which the Pulumi dynamic
resource (reconciler/provider.py) declares; the controller only syncs them. Events and the Services' addresses are
written by reconciler/publish.py, which the dynamic resource uses too. No Pulumi here.
"""
