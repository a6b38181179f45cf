"""PyTorch side of the benchmark: lcnn's LCNN-9 timed as a worker driven by compare.py.

Variants: ``eager`` is the model as built by lcnn; ``fast`` applies ``lcnn.models.optimize_for_cpu``
and ``lcnn.models.tune_glibc_malloc``, and compare.py starts its worker with
``OMP_WAIT_POLICY=PASSIVE``; ``fast_compile`` adds ``torch.compile``.
"""

from __future__ import annotations

import os
import statistics
import time

import torch

from cases import CASES
from protocol import serve
from lcnn.models import LCNN9

_built: dict = {}


def build(case: str, variant: str):
    """Build (once) the model, optimiser and a synthetic batch for one case and variant."""
    key = (case, variant)
    if key in _built:
        return _built[key]
    height, width, channels, classes, batch = CASES[case]
    torch.manual_seed(0)
    model = LCNN9(channels, classes, input_size=(height, width))
    inputs = torch.randn(batch, channels, height, width)
    targets = torch.randint(0, classes, (batch,))
    if variant.startswith("fast"):
        from lcnn.models import optimize_for_cpu, tune_glibc_malloc

        tune_glibc_malloc()
        model = optimize_for_cpu(model, compile=variant == "fast_compile")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    _built[key] = (model, optimizer, inputs, targets)
    return _built[key]


def make_step(case: str, variant: str, mode: str):
    model, optimizer, inputs, targets = build(case, variant)
    loss_fn = torch.nn.CrossEntropyLoss()
    if mode == "train":
        model.train()

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(inputs), targets).backward()
            optimizer.step()

    else:
        model.eval()

        def step() -> None:
            with torch.inference_mode():
                model(inputs)

    return step


def peak_gflops(size: int, repeats: int) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2.0 * size**3 / min(times) / 1e9


def handle(request: dict) -> dict:
    if request["cmd"] == "info":
        return {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
        }
    if request["cmd"] == "peak":
        return {"gflops": peak_gflops(request["size"], request["repeats"])}
    step = make_step(request["case"], request["variant"], request["mode"])
    for _ in range(request["warmup"]):
        step()
    times = []
    for _ in range(request["steps"]):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"step_s": statistics.median(times), "times": times}


if __name__ == "__main__":
    torch.set_num_threads(2)
    torch.set_num_interop_threads(1)
    serve(handle)
