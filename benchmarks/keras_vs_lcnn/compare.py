"""Time lcnn's PyTorch LCNN-9 against the original Keras LCNN-9, in alternating rounds.

Starts one Keras worker and one PyTorch worker per variant (each on 2 threads). In every round it
sends each worker in turn a request to run a warm-up and then timed steps of every case, so all of
them see the same machine load.
Only one worker computes at a time. Prints a Markdown table and writes the raw numbers as JSON.

Usage (run.sh sets up the Keras environment first):
    python compare.py --keras-python benchmarks/.venv-keras/bin/python --rounds 3 --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cases import CASES, step_flops

HERE = Path(__file__).resolve().parent


class Worker:
    def __init__(self, argv: list[str], env: dict | None = None) -> None:
        self.process = subprocess.Popen(
            argv, cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def ask(self, **request) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.process.args} exited before returning a response to {request}")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.write('{"cmd": "quit"}\n')
        self.process.stdin.close()
        self.process.wait(timeout=60)


def machine_info() -> dict:
    model = "unknown"
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name"):
            model = line.split(":", 1)[1].strip()
    load = Path("/proc/loadavg").read_text().split()[:3]
    return {"cpu": model, "python": platform.python_version(), "loadavg": load}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keras-python", required=True, help="python of the Keras environment")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per round (default 3)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round (default 20)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    parser.add_argument(
        "--variants", nargs="+", default=["eager", "fast"], help="PyTorch variants: eager fast fast_compile"
    )
    parser.add_argument("--peak-size", type=int, default=2048, help="matmul size for the fp32 peak")
    parser.add_argument("--peak-repeats", type=int, default=10, help="matmuls per round; the best counts")
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    args = parser.parse_args()

    env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    keras_worker = Worker([args.keras_python, "keras_lcnn9.py"], env)
    # One PyTorch process per variant: the OpenMP wait policy is read once, at start-up.
    torch_workers = {}
    for variant in args.variants:
        variant_env = dict(env, OMP_WAIT_POLICY="PASSIVE") if variant.startswith("fast") else env
        torch_workers[variant] = Worker([sys.executable, "torch_lcnn9.py"], variant_env)
    record = {
        "command": " ".join(sys.argv),
        "machine_before": machine_info(),
        "keras": keras_worker.ask(cmd="info"),
        "torch": {variant: worker.ask(cmd="info") for variant, worker in torch_workers.items()},
        "settings": vars(args) | {"output": str(args.output)},
    }
    peak_worker = torch_workers[args.variants[0]]
    peaks = []
    runs: dict[str, list[float]] = {}
    for round_index in range(args.rounds):
        peaks.append(peak_worker.ask(cmd="peak", size=args.peak_size, repeats=args.peak_repeats)["gflops"])
        for case in args.cases:
            for mode in args.modes:
                steps = {"warmup": args.warmup, "steps": args.steps, "case": case, "mode": mode}
                reply = keras_worker.ask(cmd="bench", **steps)
                record["keras"]["jit_compile"] = reply["jit_compile"]
                runs.setdefault(f"{case}|{mode}|keras", []).append(reply["step_s"])
                for variant in args.variants:
                    reply = torch_workers[variant].ask(cmd="bench", variant=variant, **steps)
                    runs.setdefault(f"{case}|{mode}|{variant}", []).append(reply["step_s"])
        print(f"round {round_index + 1}/{args.rounds} done, peak {peaks[-1]:.1f} GFLOP/s", file=sys.stderr)
    keras_worker.close()
    for worker in torch_workers.values():
        worker.close()

    peak = statistics.median(peaks)
    record |= {"machine_after": machine_info(), "peak_gflops": peak, "peaks": peaks, "step_s": runs}
    args.output.write_text(json.dumps(record, indent=1) + "\n")

    print(f"fp32 matmul peak (2 threads, {args.peak_size}^2, best of {args.peak_repeats}, "
          f"median over rounds): {peak:.1f} GFLOP/s; "
          f"load before {record['machine_before']['loadavg']}, after {record['machine_after']['loadavg']}")
    print("| case | step | framework | samples/s | lcnn/Keras | GFLOP/sample | % of peak |")
    print("|---|---|---|---:|---:|---:|---:|")
    for case in args.cases:
        batch = CASES[case][-1]
        for mode in args.modes:
            flops = step_flops(case, mode)
            keras_rate = batch / statistics.median(runs[f"{case}|{mode}|keras"])
            for name in ["keras"] + args.variants:
                rate = batch / statistics.median(runs[f"{case}|{mode}|{name}"])
                ratio = "" if name == "keras" else f"{rate / keras_rate:.2f}"
                label = "Keras" if name == "keras" else f"lcnn {name}"
                print(f"| {case} | {mode} | {label} | {rate:.0f} | {ratio} | {flops / 1e9:.4f} | "
                      f"{100 * rate * flops / 1e9 / peak:.0f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
