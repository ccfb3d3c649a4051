"""`python -m stacks`: validate a stack's configuration or plan it offline under Pulumi mocks.

    python -m stacks validate dev
    python -m stacks plan dev [--file Pulumi.dev.yaml] [--json | --format tree|json|mermaid]
    python -m stacks plan dev --against origin/main      # what changes against the stack at a git ref

Exit codes: 0 fine, 2 invalid configuration, 3 the plan at the other ref could not be made.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from rich.console import Console

from stacks.load import load_stack_file, raw_from_stack_file, stack_file
from stacks.problems import ConfigError

INVALID = 2
AGAINST_FAILED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stacks", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("validate", "check the stack configuration only"),
                       ("plan", "show what `pulumi preview` would declare, offline")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("stack", help="stack name, as in Pulumi.<stack>.yaml")
        sub.add_argument("--file", type=Path, help="stack file (default: Pulumi.<stack>.yaml beside Pulumi.yaml)")
        sub.add_argument("--json", action="store_true", help="machine-readable output (= --format json)")
        if name == "plan":
            sub.add_argument("--format", choices=("tree", "json", "mermaid"), default=None,
                             help="tree (default), json, or the topology as a Mermaid diagram")
            sub.add_argument("--against", metavar="GIT_REF",
                             help="compare with the stack as it is at this git ref (file and program)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=False, highlight=False)
    path = args.file or stack_file(args.stack)
    try:
        loaded = load_stack_file(args.stack, path)
    except ConfigError as exc:
        if args.json:
            print(json.dumps({"stack": args.stack, "errors": [p.as_dict() for p in exc.problems]}, indent=2, default=str))
        else:
            err = Console(stderr=True, highlight=False)
            err.print("[red]invalid[/] ", end="")
            err.print(str(exc), markup=False)  # values and patterns hold brackets: printed as they are
        return INVALID

    if args.command == "validate":
        if args.json:
            print(json.dumps({"stack": args.stack, "errors": [],
                              "warnings": [w.as_dict() for w in loaded.warnings]}, indent=2, default=str))
        else:
            for warning in loaded.warnings:
                console.print("[yellow]warning[/] ", end="")
                console.print(str(warning), markup=False)
            console.print(f"stack `{args.stack}` is valid: {len(loaded.config.services)} service(s), "
                          f"{len(loaded.config.node_pools)} node pool(s).")
        return 0

    from stacks.offline import run_program  # imports the Pulumi SDK: only for `plan`
    from stacks.render import print_plan

    run = run_program(raw_from_stack_file(path, args.stack), args.stack, preview=True)
    form = "json" if args.json else (args.format or "tree")
    if args.against:
        from stacks.against import AgainstError, compare

        try:
            report = compare(args.against, args.stack, run)
        except AgainstError as exc:
            Console(stderr=True, highlight=False).print(f"[red]cannot compare[/] {exc}", markup=False)
            return AGAINST_FAILED
        print("\n".join(report.lines()))
    elif form == "json":
        print(json.dumps(run.as_dict(), indent=2, default=str))
    elif form == "mermaid":
        from stacks.topology import fenced, mermaid

        print(fenced(mermaid(run, loaded.config)))
    else:
        print_plan(run, loaded.config, console)
    return 0


if __name__ == "__main__":
    code = main()
    # Close the event loop the Pulumi SDK opened while its file descriptors are still valid.
    import asyncio

    try:
        asyncio.get_event_loop().close()
    except RuntimeError:
        pass
    sys.exit(code)
