"""``lcnn test``: evaluate a training checkpoint on its test set."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "test",
        help="evaluate a checkpoint written by 'lcnn train' on its test set",
        description="Rebuild the data of the checkpoint's stored configuration and report the test metrics.",
    )
    parser.add_argument("checkpoint", type=Path, help="a .ckpt file from a run folder, e.g. runs/mnist/checkpoints/best.ckpt")
    parser.add_argument("--data-dir", default=None, help="data folder (default: the one stored in the checkpoint's config)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from lcnn.training.run import test_checkpoint

    metrics = test_checkpoint(args.checkpoint, data_dir=args.data_dir)
    print(json.dumps(metrics, indent=2))
    return 0
