"""`python -m stacks`: check a stack's configuration (the plan is `python -m plan`), print the configuration reference.

    python -m stacks validate dev [--json]
    python -m stacks validate Pulumi.dev.yaml
    python -m stacks reference [--output docs/configuration.md]

Exit codes: 0 valid, 2 invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from rich.console import Console

from stacks.load import load_stack_file, resolve_stack
from stacks.problems import ConfigError

INVALID = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stacks", description=(__doc__ or "").split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check the stack configuration only")
    validate.add_argument("stack", help="stack name, as in Pulumi.<stack>.yaml, or the path of a stack file")
    validate.add_argument("--file", type=Path, help="stack file (default: Pulumi.<stack>.yaml beside Pulumi.yaml)")
    validate.add_argument("--json", action="store_true", help="machine-readable output")
    reference = commands.add_parser("reference", help="print the configuration reference (Markdown), generated "
                                                      "from the models")
    reference.add_argument("--output", type=Path, help="write it to this file instead (docs/configuration.md)")
    return parser


def _reference(output: Optional[Path]) -> int:
    from stacks.reference import markdown

    text = markdown()
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "reference":
        return _reference(args.output)
    out = Console(highlight=False, soft_wrap=True)
    try:
        stack, path = resolve_stack(args.stack, args.file)
        loaded = load_stack_file(stack, path)
    except ConfigError as exc:
        if args.json:
            print(json.dumps({"stack": exc.stack, "errors": [p.as_dict() for p in exc.problems]}, indent=2,
                             sort_keys=True, default=str))
        else:
            err = Console(stderr=True, highlight=False, soft_wrap=True)
            err.print("invalid ", style="red", end="")
            err.print(str(exc), markup=False)  # values and patterns hold brackets: printed as they are
        return INVALID
    if args.json:
        print(json.dumps({"stack": stack, "errors": [], "warnings": [w.as_dict() for w in loaded.warnings]},
                         indent=2, sort_keys=True, default=str))
        return 0
    for warning in loaded.warnings:
        out.print("warning ", style="yellow", end="")
        out.print(str(warning), markup=False)
    out.print(f"stack `{stack}` is valid: {len(loaded.config.services)} service(s), "
              f"{len(loaded.config.node_pools)} node pool(s).", markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
