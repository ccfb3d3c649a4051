"""The offline plan: what `pulumi preview` would declare and change, computed without the Pulumi CLI.

    offline.py   the program under the Pulumi SDK's mocks, every registration recorded
    diff.py      what changes between two recorded runs (create, update, replace, delete)
    against.py   the stack as it is at a git ref, planned with the program at that ref
    render.py    the plan as text: a tree per service and region
    topology.py  the topology as a Mermaid diagram
    __main__.py  `python -m plan <stack>`
"""
