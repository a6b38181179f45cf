"""Measure ``lcnn score`` end to end: seconds of audio scored per wall-clock second, and peak memory.

Each measurement runs ``python -m lcnn.cli.main score`` as a child process on FLAC files on disk, so
the time includes interpreter start-up, model loading, the header check, decoding, batching and
writing the score file. Peak memory is ``ru_maxrss`` from ``os.wait4`` on that child. Linux reports
the largest resident set of the child and of the decoding workers it reaped, not their sum.

The child is started by a fresh, small Python launcher rather than by this script, because Linux
carries the resident-set high-water mark of the process that calls ``exec`` into the new program's
``ru_maxrss``. Started from this script, every child would report at least this script's own
memory (torch and the models loaded).

Inputs are made from the three real ASVspoof 2019 LA files under ``$LCNN_DATA_DIR/asvspoof/audio``:

* speed runs: FLAC files of seeded random lengths (1 to 6 s) made by tiling the real audio, so
  batches mix lengths as a real protocol does;
* memory runs: hard links to the three files, repeated, with a fixed-length input
  (``--crop-samples``) so that the model cost per file is small and constant and only the file
  count changes.

The models are randomly initialised, because speed does not depend on the weights. LFCC-LCNN-9 is
``lcnn9_cm`` with a softmax head and the 2019 LFCC preset. LFCC-LCNN-LSTM is ``lcnn_lstm`` with a
sigmoid head and the 2021 LFCC preset. Each runs as an lcnn checkpoint and as an ONNX export.

Usage:
    LCNN_DATA_DIR=/path/to/data python benchmarks/score_speed.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import torch

REPO = Path(__file__).resolve().parents[1]
AUDIO_IDS = ("LA_T_1272637", "LA_D_1003356", "LA_E_6163791")
MODELS = {
    "LFCC-LCNN-9": {
        "frontend": {"name": "lfcc", "preset": "asvspoof2019"},
        "backbone": {"name": "lcnn9_cm"},
        "head": {"name": "softmax"},
    },
    "LFCC-LCNN-LSTM": {
        "frontend": {"name": "lfcc", "preset": "asvspoof2021"},
        "backbone": {"name": "lcnn_lstm"},
        "head": {"name": "sigmoid"},
    },
}
# Runs the command given as JSON in argv[1] and prints its exit status, wall time and ru_maxrss (KiB).
_LAUNCHER = """
import json, os, subprocess, sys, time
command = json.loads(sys.argv[1])
started = time.perf_counter()
child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - started
print(json.dumps({"status": os.waitstatus_to_exitcode(status), "wall": wall, "maxrss_kib": usage.ru_maxrss}))
"""
_SCORED_LINE = re.compile(r"Scored (\d+) trials \(([\d.]+) s of audio\) in ([\d.]+) s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("LCNN_DATA_DIR"), help="data folder (default: $LCNN_DATA_DIR)")
    parser.add_argument("--speed-files", type=int, default=300, help="files per speed run (default: %(default)s)")
    parser.add_argument("--memory-files", type=int, nargs="+", default=[1000, 10000], help="file counts of the memory runs (default: %(default)s)")
    parser.add_argument("--memory-crop", type=int, default=4000, help="--crop-samples of the memory runs (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="model threads (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="decoding processes (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="trials per batch (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON to this file")
    return parser.parse_args()


def machine_info() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime

    import lcnn

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "load_average_at_start": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "soundfile": soundfile.__version__,
        "lcnn": lcnn.__version__,
        "git_commit": commit,
    }


def build_models(folder: Path) -> dict[tuple[str, str], Path]:
    """Save each model as an lcnn checkpoint and an ONNX export; return their paths."""
    from lcnn.checkpoint import save_checkpoint
    from lcnn.countermeasure import build_countermeasure
    from lcnn.export import export_onnx

    paths = {}
    for name, spec in MODELS.items():
        torch.manual_seed(0)
        model = build_countermeasure(spec).eval()
        paths[(name, "PyTorch")] = save_checkpoint(folder / f"{name}.pt", model, None)
        paths[(name, "ONNX")] = export_onnx(model, folder / f"{name}.onnx")
    return paths


def make_speed_inputs(folder: Path, sources: list[np.ndarray], count: int, rate: int) -> float:
    """Write ``count`` FLAC files of 1 to 6 s tiled from the real clips; return their total seconds."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    total = 0
    for i in range(count):
        samples = int(rng.uniform(1.0, 6.0) * rate)
        source = sources[i % len(sources)]
        clip = np.tile(source, samples // source.size + 1)[:samples]
        soundfile.write(folder / f"speed_{i:06d}.flac", clip, rate, subtype="PCM_16")
        total += samples
    return total / rate


def make_memory_inputs(folder: Path, audio_dir: Path, count: int) -> float:
    """Hard-link (or copy) the real files ``count`` times in turn; return their total seconds."""
    folder.mkdir(parents=True)
    total = 0.0
    for i in range(count):
        source = audio_dir / f"{AUDIO_IDS[i % len(AUDIO_IDS)]}.flac"
        target = folder / f"{source.stem}_{i:06d}.flac"
        try:
            os.link(source, target)
        except OSError:
            target.write_bytes(source.read_bytes())
        total += soundfile.info(source).duration
    return total


def run_measured(command: list[str], threads: int) -> tuple[dict, str]:
    """Run ``command`` under the launcher; return its status, wall time and ru_maxrss, and its stderr."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONPATH=str(REPO / "src"))
    with tempfile.TemporaryFile("w+") as log:
        launcher = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, json.dumps(command)], stdout=subprocess.PIPE, stderr=log, env=env, text=True
        )
        log.seek(0)
        text = log.read()
    if launcher.returncode != 0:
        raise RuntimeError(f"the launcher failed with status {launcher.returncode}:\n{text}")
    measured = json.loads(launcher.stdout)
    if measured["status"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed with status {measured['status']}:\n{text}")
    return measured, text


def baseline_rss(threads: int) -> float:
    """Return the peak memory in MiB of a process that only imports the scoring modules."""
    measured, _ = run_measured([sys.executable, "-c", "import lcnn.scoring, lcnn.checkpoint, lcnn.export"], threads)
    return measured["maxrss_kib"] / 1024


def run_score(model: Path, inputs: Path, out: Path, args: argparse.Namespace, *, crop: int | None = None) -> dict:
    """Run ``lcnn score`` in a child process and return its wall time, peak memory and log figures."""
    command = [
        sys.executable, "-m", "lcnn.cli.main", "score", str(model), str(inputs), "--out", str(out), "--force",
        "--workers", str(args.workers), "--batch-size", str(args.batch_size), "--threads", str(args.threads),
        "--log-every", "100000000",
    ]
    if crop is not None:
        command += ["--crop-samples", str(crop)]
    measured, text = run_measured(command, args.threads)
    match = _SCORED_LINE.search(text)
    scored, audio_seconds, loop_seconds = int(match[1]), float(match[2]), float(match[3])
    return {
        "command": " ".join(command[1:]),
        "wall_seconds": measured["wall"],
        "scored": scored,
        "audio_seconds": audio_seconds,
        "loop_seconds": loop_seconds,
        "peak_rss_mib": measured["maxrss_kib"] / 1024,
        "lines": sum(1 for _ in out.open()),
    }


def main() -> int:
    args = parse_args()
    if args.data_dir is None:
        sys.exit("set LCNN_DATA_DIR or --data-dir to the folder holding asvspoof/audio")
    audio_dir = Path(args.data_dir) / "asvspoof" / "audio"
    info = machine_info()
    results = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "settings": vars(args).copy(), "machine": info, "speed": [], "memory": []}
    results["settings"]["data_dir"] = str(args.data_dir)
    results["settings"]["json"] = str(args.json) if args.json else None

    with tempfile.TemporaryDirectory(prefix="lcnn-score-bench-") as temp:
        temp = Path(temp)
        models = build_models(temp)
        results["baseline_rss_mib"] = baseline_rss(args.threads)
        print(f"baseline (imports only): peak RSS {results['baseline_rss_mib']:.0f} MiB", flush=True)
        sources = [soundfile.read(audio_dir / f"{name}.flac", dtype="int16")[0] for name in AUDIO_IDS]
        speed_seconds = make_speed_inputs(temp / "speed", sources, args.speed_files, 16000)

        for (name, kind), path in models.items():
            run = run_score(path, temp / "speed", temp / "speed.txt", args)
            run.update(model=name, kind=kind, files=args.speed_files)
            run["audio_per_wall_second"] = speed_seconds / run["wall_seconds"]
            run["audio_per_loop_second"] = run["audio_seconds"] / run["loop_seconds"]
            results["speed"].append(run)
            print(f"{name:15s} {kind:8s} {run['audio_per_wall_second']:7.1f} s/s end to end, "
                  f"{run['audio_per_loop_second']:7.1f} s/s scoring loop, peak RSS {run['peak_rss_mib']:.0f} MiB", flush=True)

        for count in args.memory_files:
            folder = temp / f"memory_{count}"
            disk_seconds = make_memory_inputs(folder, audio_dir, count)
            run = run_score(models[("LFCC-LCNN-LSTM", "PyTorch")], folder, temp / "memory.txt", args, crop=args.memory_crop)
            run.update(model="LFCC-LCNN-LSTM", kind="PyTorch", files=count, input_audio_seconds=disk_seconds)
            results["memory"].append(run)
            print(f"{count:6d} files: peak RSS {run['peak_rss_mib']:.0f} MiB, {run['wall_seconds']:.1f} s", flush=True)

    results["machine"]["load_average_at_end"] = os.getloadavg()
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
