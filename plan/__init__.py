"""The offline plan: what `pulumi preview` would declare and change, computed without the Pulumi CLI.

    offline.py   the program under the Pulumi SDK's mocks, every registration recorded
    diff.py      what changes between two recorded runs, per resource (create, update, replace, delete, same)
    effects.py   what that does in the cloud: address changes, and what ECM or CCM does
    report.py    a plan (a diff against nothing) or a diff, with its effects: what the outputs render
    against.py   the stack as it is at a git ref, planned with the program at that ref
    describe.py  the key properties of each resource type, as text
    render.py    the report as text: summary, address changes, effects, a tree per service and region
    document.py  the report as JSON (docs/plan.schema.json), and reading a plan's JSON back
    traffic.py   the traffic path model (address, load balancer, listeners, backends) the topology draws
    topology.py  the topology as a Mermaid diagram
    __main__.py  `python -m plan <stack>`
"""

# The JSON format of `python -m plan --format json` (docs/plan.schema.json); a new major version is a new value.
SCHEMA = "ack-edge-lb/plan/v1"
