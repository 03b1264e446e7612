"""The ``resnet-inspect`` command line. Thin: parse, call the package, print.

A user's mistake (unknown name, bad size, unreadable file, failing factory) prints one line
on stderr and exits with 2; a false claim in an audit exits with 1."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

USAGE_ERROR = 2


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + exits 2; keep it to one line
        raise CliError(f"{self.prog}: {message}")


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="variant name, spec file (.json/.yaml) or path/to/file.py:NAME")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a spec field, e.g. --set layers=2,2,2,2 (repeatable)")


def _cmd_list(args: argparse.Namespace) -> int:
    from .views.terminal import print_variant_list

    print_variant_list(full=args.full)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="resnet-inspect", description="See exactly what a ResNet is.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("list", help="registered variants with parameters, description and source")
    p.add_argument("--full", action="store_true", help="show the full source citation")
    p.set_defaults(func=_cmd_list)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
    return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
