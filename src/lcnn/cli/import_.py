"""``lcnn import``: convert published countermeasure weights into an lcnn checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

SOURCES = ("nii",)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="convert published countermeasure weights into an lcnn checkpoint",
        description=(
            "Convert published weights into an lcnn checkpoint that `lcnn score` and `lcnn export` read. "
            "Source 'nii': the LFCC-LCNN-LSTM state dict (.pt) published by NII with the ASVspoof 2021 "
            "LFCC-LCNN baseline; its LFCC filterbank and DCT matrices are kept from the file."
        ),
    )
    parser.add_argument("source", choices=SOURCES, help="format of the published weights")
    parser.add_argument("state_dict", type=Path, metavar="STATE_DICT", help="published weights file")
    parser.add_argument("--out", type=Path, required=True, help="lcnn checkpoint to write, e.g. model.ckpt")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lcnn.importers.nii import import_nii

    path = import_nii(args.state_dict, args.out, force=args.force)
    print(f"wrote {path}")
    return 0
