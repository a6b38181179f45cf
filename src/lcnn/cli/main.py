"""Entry point of the ``lcnn`` command.

Each subcommand lives in ``lcnn.cli.<name>`` and defines ``register(subparsers)``, which adds its
parser and sets ``func``. Subcommand modules import only the standard library at the top, so that
``lcnn --help`` and ``lcnn score --help`` return quickly; heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Idle OpenMP threads sleep instead of spinning: on a CPU shared with other processes, spinning made
# a training step about 4 times slower (benchmarks/keras_vs_lcnn). torch reads this when first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lcnn import __version__

# Subcommand modules, in the order ``lcnn --help`` lists them.
COMMANDS = ("train", "test", "score", "evaluate", "demo", "export", "import_")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="lcnn",
        description="Light CNN (Max-Feature-Map) models for voice anti-spoofing and images.",
    )
    parser.add_argument("--version", action="version", version=f"lcnn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"lcnn.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``lcnn`` command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    from lcnn.errors import LcnnError

    try:
        return int(args.func(args) or 0)
    except LcnnError as error:
        print(f"lcnn {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"lcnn {args.command}: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - the CLI turns any failure into one line unless -v
        if args.verbose:
            raise
        print(
            f"lcnn {args.command}: error: {type(error).__name__}: {error}\n"
            f"(run 'lcnn -v {args.command} ...' to see the traceback)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(f"lcnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
