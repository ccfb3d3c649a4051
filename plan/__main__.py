"""`python -m plan`: what `pulumi preview` would declare for a stack, offline under Pulumi mocks.

    python -m plan dev                              # the plan of the dev stack, as text
    python -m plan Pulumi.dev.yaml --format json    # a stack file by path; JSON (schema ack-edge-lb/plan/v1)
    python -m plan dev --against origin/main        # what changes against the stack at a git ref (text or json)
    python -m plan dev --format mermaid             # the topology as a Mermaid diagram

Exit codes: 0 done (with --detailed-exitcode: and nothing changes), 2 the configuration is invalid,
3 the plan at the other ref could not be made, 4 (only with --detailed-exitcode) there are changes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from rich.console import Console

from plan import SCHEMA
from stacks.load import load_stack_file, raw_from_stack_file, resolve_stack
from stacks.problems import ConfigError

INVALID = 2
AGAINST_FAILED = 3
CHANGES = 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m plan", description=(__doc__ or "").split("\n")[0],
                                     epilog="exit codes: 0 done, 2 invalid configuration, 3 the other ref could "
                                            "not be planned, 4 changes (with --detailed-exitcode)")
    parser.add_argument("stack", help="stack name (as in Pulumi.<stack>.yaml), or the path of a stack file")
    parser.add_argument("--file", type=Path, help="stack file, when it is not Pulumi.<stack>.yaml beside Pulumi.yaml")
    parser.add_argument("--format", choices=("text", "json", "mermaid"), default="text",
                        help="text (default), json (schema ack-edge-lb/plan/v1, docs/plan.schema.json), or the "
                             "topology as a Mermaid diagram")
    parser.add_argument("--json", action="store_true", help="same as --format json")
    parser.add_argument("--against", metavar="GIT_REF",
                        help="compare with the stack as it is at this git ref (stack file and program)")
    parser.add_argument("--detailed-exitcode", action="store_true",
                        help=f"exit {CHANGES} when the plan changes anything (for CI), 0 when it changes nothing")
    return parser


def _mermaid(report, config) -> str:
    """The topology (plan/topology.py); with --against, its diff form."""
    from plan import topology

    if report.kind == "plan":
        return topology.fenced(topology.mermaid(report.run, config))
    return topology.fenced(topology.mermaid_diff(report.before, report.run, report.diff, config))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    form = "json" if args.json else args.format
    # Piped (a CI log, a PR comment), nothing is wrapped or cut: lines are as long as they need to be.
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 1_000_000)
    try:
        stack, path = resolve_stack(args.stack, args.file)
        loaded = load_stack_file(stack, path)
    except ConfigError as exc:
        if form == "json":
            print(json.dumps({"schema": SCHEMA, "kind": "errors", "stack": exc.stack,
                              "errors": [p.as_dict() for p in exc.problems]}, indent=2, sort_keys=True, default=str))
        else:
            # Plain text: values and patterns hold brackets, and a log is no terminal.
            print(f"invalid {exc}", file=sys.stderr)
        return INVALID

    from plan.offline import run_program  # imports the Pulumi SDK: only once the configuration is valid
    from plan.report import build

    run = run_program(raw_from_stack_file(path, stack), stack, preview=True)
    if args.against:
        from plan.against import AgainstError, compare

        try:
            report = compare(args.against, stack, run)
        except AgainstError as exc:
            print(f"cannot compare: {exc}", file=sys.stderr)
            return AGAINST_FAILED
    else:
        report = build(run)

    if form == "json":
        from plan.document import dumps

        print(dumps(report))
    elif form == "mermaid":
        print(_mermaid(report, loaded.config))
    else:
        from plan.render import print_report

        print_report(report, loaded.config, out)
    return CHANGES if (args.detailed_exitcode and report.changes) else 0


if __name__ == "__main__":
    code = main()
    # Close the event loop the Pulumi SDK opened while its file descriptors are still valid.
    import asyncio

    try:
        asyncio.get_event_loop().close()
    except RuntimeError:
        pass
    sys.exit(code)
