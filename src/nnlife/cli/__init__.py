"""The ``nnlife`` command line: parse arguments, call the library, print.

Each group of commands lives in its own module with a ``register(subparsers)`` function that
adds its subcommands; a subcommand's ``func(args)`` returns the exit status. A user's mistake
(:class:`nnlife.errors.InputError`) becomes one line on stderr and exit status 2.

Start-up time matters (`nnlife load` of one table should take a fraction of a second), so a
command group's module imports only argparse-level things at its top and the library inside
its handlers, and :func:`main` registers only the group of the command given (all groups for
``--help``, no command or an unknown one).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import InputError, InputWarning

# Modules of nnlife.cli that register subcommands, in the order --help lists them.
COMMAND_MODULES = [
    "taxonomy",
    "training",
    "analysis",
    "prediction",
    "campaigns",
    "download",
]
# The module that registers each command (tests check this against what each one registers).
COMMANDS = {
    "sample": "taxonomy",
    "describe": "taxonomy",
    "train": "training",
    "load": "analysis",
    "pack": "analysis",
    "unpack": "analysis",
    "report": "analysis",
    "predict": "prediction",
    "evaluate": "prediction",
    "curves": "prediction",
    "predictor": "prediction",
    "campaign": "campaigns",
    "status": "campaigns",
    "download": "download",
}


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Version(argparse.Action):
    """``--version``, looking the version up only when asked (see ``nnlife.__getattr__``)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help=help or "show program's version number and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[override]
        from .. import __version__

        print(f"nnlife {__version__}")
        parser.exit()


def make_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or, given the arguments, of the command group they name
    (the others are not imported)."""
    parser = Parser(prog="nnlife", description="Learning-curve data sets of random neural networks.")
    parser.add_argument("--version", action=_Version)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    subparsers.required = True
    modules = COMMAND_MODULES
    if argv is not None:
        command = next((a for a in argv if not a.startswith("-")), None)
        if command in COMMANDS:
            modules = [COMMANDS[command]]
    for name in modules:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def _show_input_warnings(command: str):
    """A ``warnings.showwarning`` that prints nnlife's :class:`InputWarning` as one line
    (``nnlife COMMAND: warning: ...``), and any other warning as Python would."""
    import warnings

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, InputWarning):
            print(f"nnlife {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def main(argv: list[str] | None = None) -> int:
    import warnings

    if argv is None:
        argv = sys.argv[1:]
    parser = make_parser(argv)
    args = parser.parse_args(argv)
    previous, warnings.showwarning = warnings.showwarning, _show_input_warnings(args.command)
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
    finally:  # main() is also called in-process (tests, notebooks): leave warnings as they were
        warnings.showwarning = previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
