"""``lcnn train``: train a model from a YAML configuration into a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model from a YAML configuration",
        description=(
            "Train the model described by CONFIG. The run folder receives the resolved config.yaml, "
            "checkpoints/best.ckpt and checkpoints/last.ckpt, a CSV log and metrics.json."
        ),
    )
    parser.add_argument("config", type=Path, help="YAML configuration, e.g. configs/mnist.yaml")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<config name>)")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (overrides train.max_epochs)")
    parser.add_argument(
        "--limit-train", type=int, default=None, help="use at most N training examples, for quick runs"
    )
    parser.add_argument("--data-dir", default=None, help="data folder (default: $LCNN_DATA_DIR, then the user cache)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a configuration value, e.g. --set optim.lr=3e-4 (repeatable)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from checkpoints/last.ckpt")
    parser.add_argument("--force", action="store_true", help="replace an existing, non-empty run folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from lcnn.config import load_config
    from lcnn.errors import ConfigError

    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.max_epochs={args.epochs}")
    config = load_config(args.config, overrides)
    if args.limit_train is not None:
        if args.limit_train <= 0:
            raise ConfigError(f"--limit-train must be a positive number of examples, got {args.limit_train}.")
        if config.task == "image":
            config.data.limit_train = args.limit_train
        else:
            config.audio.limit_train = args.limit_train
    if args.data_dir is not None:
        if config.task == "image":
            config.data.data_dir = args.data_dir
        else:
            config.audio.root = args.data_dir
    if args.resume and args.force:
        raise ConfigError("--resume and --force exclude each other: --force deletes the run being resumed.")
    out = args.out if args.out is not None else Path("runs") / args.config.stem

    from lcnn.training.run import train

    metrics = train(config, out, resume=args.resume, force=args.force)
    print(json.dumps(metrics, indent=2))
    print(f"run folder: {out}")
    return 0
