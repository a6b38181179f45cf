"""``lcnn score``: score audio files or a protocol with a countermeasure checkpoint or ONNX export."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".flac", ".wav")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``score`` parser to ``subparsers``."""
    parser = subparsers.add_parser(
        "score",
        help="score audio files or a protocol and write an ASVspoof score file",
        description=(
            "Score audio with a countermeasure and write one line per trial, higher = bona fide. "
            "Give audio files or folders (searched recursively for .flac and .wav), or a protocol "
            "with --protocol and --audio-dir. Format 2019 writes 'trial_id attack key score' "
            "(attack and key come from the protocol, '-' when unknown); 2021 writes 'trial_id score'."
        ),
    )
    parser.add_argument("checkpoint", type=Path, help="lcnn checkpoint (.pt), Lightning checkpoint (.ckpt) or ONNX export (.onnx)")
    parser.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="audio files or folders to score")
    parser.add_argument("--protocol", type=Path, default=None, help="trial list: ASVspoof 2019/2021 protocol or CSV (default: none)")
    parser.add_argument("--audio-dir", type=Path, default=None, help="folder containing <trial_id>.flac for the protocol's trials (default: none)")
    parser.add_argument("--out", type=Path, default=None, help="score file to write (default: standard output)")
    parser.add_argument("--format", dest="score_format", choices=("2019", "2021"), default="2019", help="score-file layout (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="maximum trials per batch (default: %(default)s)")
    parser.add_argument("--max-batch-seconds", type=float, default=None, help="maximum padded audio per batch in seconds (default: no limit)")
    parser.add_argument("--workers", type=int, default=2, help="audio decoding processes; 0 decodes in the main process (default: %(default)s)")
    parser.add_argument("--crop-samples", type=int, default=None, help="score only the first N samples, tiled when shorter (default: the evaluation crop of the training config, else whole utterances)")
    parser.add_argument("--no-resample", action="store_true", help="treat audio at another sample rate than the model's as unusable instead of resampling it with soxr")
    parser.add_argument("--skip-bad", type=Path, default=None, metavar="FILE", help="skip unusable audio files and list them in FILE (default: stop with an error; the header check lists every unusable file at once)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the model, PyTorch or ONNX Runtime (default: the library's own choice)")
    parser.add_argument("--device", default="cpu", help="PyTorch device of the model, e.g. cuda:0 (default: %(default)s)")
    parser.add_argument("--log-every", type=int, default=1000, metavar="N", help="log progress every N files when standard error is not a terminal (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="overwrite existing --out and --skip-bad files")
    parser.set_defaults(func=run)


def _audio_files(inputs: list[Path]) -> list[Path]:
    from lcnn.errors import DataError

    files: list[Path] = []
    missing = [str(path) for path in inputs if not path.exists()]
    if missing:
        raise DataError(f"input not found: {', '.join(missing)}")
    for path in inputs:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
            if not found:
                raise DataError(f"no {' or '.join(AUDIO_EXTENSIONS)} file under {path}")
            files.extend(found)
        else:
            files.append(path)
    return files


def _build_trials(args: argparse.Namespace) -> list:
    """Return the trials to score: the protocol's (with audio paths) or one unlabelled trial per file."""
    import dataclasses

    from lcnn.data.protocols import Trial, read_protocol, resolve_audio_paths
    from lcnn.errors import DataError

    if args.protocol is None:
        if args.audio_dir is not None:
            raise DataError("--audio-dir needs --protocol; to score every file of a folder, give the folder as INPUT.")
        if not args.inputs:
            raise DataError("nothing to score: give audio files or folders as INPUT, or --protocol with --audio-dir.")
        return [Trial(trial_id=path.stem, label=None, path=str(path)) for path in _audio_files(args.inputs)]

    trials = read_protocol(args.protocol)
    if args.audio_dir is not None:
        return resolve_audio_paths(trials, args.audio_dir)
    if args.inputs:
        by_stem = {path.stem: str(path) for path in _audio_files(args.inputs)}
        missing = [trial.trial_id for trial in trials if trial.trial_id not in by_stem]
        if missing:
            raise DataError(
                f"{len(missing)} of {len(trials)} trials of {args.protocol} have no audio file among the inputs; "
                f"first missing ids: {', '.join(missing[:10])}. Check that the inputs and the protocol are of the same split."
            )
        return [dataclasses.replace(trial, path=by_stem[trial.trial_id]) for trial in trials]
    if any(trial.path is None for trial in trials):
        raise DataError(f"{args.protocol} gives no audio paths; pass --audio-dir with the folder of its audio files.")
    return trials


class _Progress:
    """Progress display: a tqdm bar on a terminal, a log line every ``log_every`` files otherwise."""

    def __init__(self, log_every: int) -> None:
        self.log_every = max(log_every, 1)
        self.bar = None
        self.logged = 0
        self.started = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        if sys.stderr.isatty():
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="file", desc="scoring", file=sys.stderr, dynamic_ncols=True)
            self.bar.update(done - self.bar.n)
        elif done - self.logged >= self.log_every or done == total:
            self.logged = done
            elapsed = time.perf_counter() - self.started
            logger.info("Scored %d/%d files (%.1f files/s)", done, total, done / elapsed if elapsed > 0 else 0.0)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _load_model(args: argparse.Namespace):
    """Return the model to score with and the crop length: --crop-samples, else the training config's."""
    if str(args.checkpoint).endswith(".onnx"):
        # NOTE: an ONNX file does not record the evaluation crop of its training run; pass --crop-samples.
        return args.checkpoint, args.crop_samples
    import zipfile

    import torch

    from lcnn.checkpoint import load_countermeasure
    from lcnn.errors import CheckpointError, ConfigError

    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ConfigError(f"--device {args.device!r} is not a device name; use cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {args.device}: CUDA is not available on this machine; use --device cpu.")
    path = str(args.checkpoint)
    if zipfile.is_zipfile(path) and any(name.endswith("extra/lcnn.json") for name in zipfile.ZipFile(path).namelist()):
        raise CheckpointError(
            f"{path} is a TorchScript export, which lcnn score does not read; score with the lcnn checkpoint "
            f"it was exported from, or export to ONNX (lcnn export ... --format onnx) and score the .onnx file."
        )
    model, meta = load_countermeasure(args.checkpoint, map_location=device)
    if args.crop_samples is not None:
        return model, args.crop_samples
    audio = ((meta or {}).get("config") or {}).get("audio") or {}
    seconds = audio.get("eval_crop_seconds")
    if seconds is None:
        return model, None
    crop = int(round(seconds * model.sample_rate))
    logger.info("Scoring the first %d samples of each file (tiled when shorter), as the model was evaluated in training", crop)
    return model, crop


def run(args: argparse.Namespace) -> int:
    """Score the requested trials and write the score file; return the exit status."""
    from lcnn.errors import ConfigError
    from lcnn.scoring import score_trials

    if args.log_every <= 0:
        raise ConfigError(f"--log-every must be a positive integer, got {args.log_every}.")
    if args.threads is not None:
        if args.threads <= 0:
            raise ConfigError(f"--threads must be a positive integer, got {args.threads}.")
        import torch

        torch.set_num_threads(args.threads)
    trials = _build_trials(args)
    scorer, crop_samples = _load_model(args)
    progress = _Progress(args.log_every)
    try:
        score_trials(
            scorer,
            trials,
            args.out if args.out is not None else sys.stdout,
            score_format=args.score_format,
            batch_size=args.batch_size,
            workers=args.workers,
            max_batch_seconds=args.max_batch_seconds,
            crop_samples=crop_samples,
            allow_resample=not args.no_resample,
            skip_bad=args.skip_bad is not None,
            skipped_path=args.skip_bad,
            force=args.force,
            progress=progress,
            device=args.device,
            num_threads=args.threads,
        )
    finally:
        progress.close()
    if args.out is not None:
        logger.info("Wrote %s", args.out)
    return 0
