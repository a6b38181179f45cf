"""``lcnn export``: export a countermeasure checkpoint to ONNX or TorchScript."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("onnx", "torchscript")
DEFAULT_OPSET = 17
DEFAULT_ATOL = 1e-4


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a countermeasure to ONNX or TorchScript, front end included",
        description=(
            "Export a checkpoint to a file that maps waveform (batch, samples), float32 at the model's "
            "sample rate, to score (batch,), higher = bona fide. Batch and length are dynamic, and each "
            "row is scored as one whole utterance (no lengths input, so do not pad). The export is "
            "checked against PyTorch on --verify-audio files, or on seeded noise, and is not written "
            "when the scores differ by more than --atol."
        ),
    )
    parser.add_argument("checkpoint", type=Path, help="lcnn or Lightning checkpoint")
    parser.add_argument("--format", choices=FORMATS, required=True, help="export format")
    parser.add_argument("--out", type=Path, required=True, help="file to write, e.g. model.onnx")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset version, 14 or newer (default: %(default)s)")
    parser.add_argument("--verify-audio", type=Path, nargs="+", default=None, metavar="AUDIO", help="audio files to compare PyTorch and export scores on (default: seeded noise)")
    parser.add_argument("--atol", type=float, default=DEFAULT_ATOL, help="maximum absolute score difference accepted when checking the export (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lcnn.checkpoint import load_countermeasure
    from lcnn.export import export_model

    model, _ = load_countermeasure(args.checkpoint)
    waveforms = None
    if args.verify_audio:
        from lcnn.audio import load_audio

        waveforms = [load_audio(path, sample_rate=model.sample_rate) for path in args.verify_audio]
    if not args.atol > 0:
        from lcnn.errors import ConfigError

        raise ConfigError(f"--atol must be a positive score difference, got {args.atol}.")
    kwargs = {"force": args.force, "verify_waveforms": waveforms, "atol": args.atol}
    if args.format == "onnx":
        kwargs["opset"] = args.opset
    path = export_model(model, args.out, format=args.format, **kwargs)
    print(f"wrote {path}")
    return 0
