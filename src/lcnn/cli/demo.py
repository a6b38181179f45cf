"""``lcnn demo``: build a small spoofing corpus from real speech, train a countermeasure, report EER."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train and evaluate a countermeasure on a spoofing corpus built from spoken digits",
        description=(
            "Build a spoofing corpus from the Free Spoken Digit Dataset (bona fide) and classic vocoders "
            "(WORLD, Griffin-Lim, LPC; MLSA only in eval), with speaker-disjoint train/dev/eval splits, then "
            "train an LFCC-LCNN-LSTM countermeasure on it and print dev and eval EER per attack, plus the "
            "neural-vocoder (NSF) spoofs as a further unseen attack. The corpus is cached in OUT/corpus."
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    parser.add_argument(
        "--data-dir", default=None, help="folder with speech/fsdd/recordings (default: $LCNN_DATA_DIR)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: 6, from the demo config)")
    parser.add_argument(
        "--limit-per-speaker",
        type=int,
        default=None,
        help="use only N clips per speaker (default: all 500), for a quick run",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes that run the vocoders (default: 2)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a value of the demo configuration, e.g. --set model.name=lcnn9_cm",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing run folder OUT/run")
    parser.set_defaults(func=run)


def _format_table(title: str, report: dict, attacks: dict) -> list[str]:
    lines = [title, f"  {'attack':<8} {'vocoder':<12} {'EER %':>7} {'bona fide':>10} {'spoof':>7}"]
    for attack, values in report["per_attack"].items():
        vocoder = attacks.get(attack, "")
        lines.append(
            f"  {attack:<8} {vocoder:<12} {100 * values['eer']:7.2f} {values['n_bonafide']:10d} {values['n_spoof']:7d}"
        )
    lines.append(f"  {'pooled':<8} {'':<12} {100 * report['eer']:7.2f} {report['n_bonafide']:10d} {report['n_spoof']:7d}")
    return lines


def run(args: argparse.Namespace) -> int:
    from lcnn.demo.run import run_demo

    result = run_demo(
        args.out,
        data_dir=args.data_dir,
        epochs=args.epochs,
        limit_per_speaker=args.limit_per_speaker,
        overrides=args.overrides,
        workers=args.workers,
        force=args.force,
    )
    attacks = {"NSF": "neural (NSF)", **result.attacks}
    names = {"dev": "dev (speakers unseen in training)", "eval": "eval (unseen speakers, V4 unseen vocoder)",
             "eval_nsf": "eval, neural-vocoder spoofs (NSF, unseen)"}
    for name, report in result.reports.items():
        print("\n".join(_format_table(names.get(name, name), report, attacks)))
    print(f"corpus: {result.corpus_dir}\nrun folder: {result.run_dir}")
    return 0
