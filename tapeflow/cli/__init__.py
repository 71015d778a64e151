"""The ``tapeflow`` command: a small table of subcommands, each a module with ``main(argv) -> int``.

``tapeflow demo`` trains a model on bundled data; ``tapeflow launch`` starts a script on several processes.
To add a subcommand, add one row to :data:`COMMANDS`; the module is imported only when its command runs.

Example:
    >>> from tapeflow.cli import main
    >>> main(["--version"])
    tapeflow 0.1.0
    0
"""

from __future__ import annotations

import importlib
import sys

# name -> (module with main(argv) -> int, one-line help)
COMMANDS = {
    "demo": ("tapeflow.cli.demo", "train a model on a bundled dataset (offline) and plot its history"),
    "launch": ("tapeflow.distributed.launch", "run a training script on N processes with MPI"),
}


def usage() -> str:
    """The top-level help text, listing the subcommands."""
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items())
    return (
        "usage: tapeflow [--help] [--version] <command> [options]\n\n"
        "tapeflow: a NumPy-native deep-learning framework.\n\n"
        f"commands:\n{rows}\n\n"
        "Run `tapeflow <command> --help` for a command's options. Start with: tapeflow demo"
    )


def main(argv=None) -> int:
    """Run the ``tapeflow`` command line; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        from tapeflow import __version__

        print(f"tapeflow {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"tapeflow: unknown command {name!r}; choose one of {sorted(COMMANDS)}\n", file=sys.stderr)
        print(usage(), file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)
