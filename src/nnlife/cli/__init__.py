"""The ``nnlife`` command line: parse arguments, call the library, print.

Each group of commands lives in its own module with a ``register(subparsers)`` function that
adds its subcommands; a subcommand's ``func(args)`` returns the exit status. A user's mistake
(:class:`nnlife.errors.InputError`) becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import InputError

# Modules of nnlife.cli that register subcommands, in the order --help lists them.
COMMAND_MODULES = [
    "taxonomy",
    "training",
    "analysis",
    "prediction",
    "campaigns",
    "download",
]


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def make_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = Parser(prog="nnlife", description="Learning-curve data sets of random neural networks.")
    parser.add_argument("--version", action="version", version=f"nnlife {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"nnlife {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nnlife {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `nnlife sample ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
