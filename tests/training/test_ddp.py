"""Distributed data-parallel training on the CPU: two gloo processes started by Lightning's "ddp" launcher.

Each run writes a small driver script to a temporary folder and starts it with ``python``, so that
Lightning can start the second process by running the same script again. Every process uses one
thread.
"""

import csv
import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

from lcnn.checkpoint import load_countermeasure
from lcnn.config import TrainConfig
from lcnn.errors import ConfigError
from lcnn.metrics import compute_eer
from lcnn.training.run import _trainer_precision

# Timeout of one driver run; a two-process run takes about 20 s on two cores.
RUN_TIMEOUT_S = 150

DRIVER = textwrap.dedent(
    """
    import json
    import sys
    from pathlib import Path

    import numpy as np
    import torch

    from lcnn.config import config_from_dict
    from lcnn.training import run

    mode, config_path, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    config = config_from_dict(json.loads(Path(config_path).read_text()))
    torch.set_num_threads(1)
    if mode == "train":
        # PyTorch's SyncBatchNorm needs GPUs, so on the CPU each process would normalise its own half
        # batch. Batch norm in eval mode (fixed statistics, trained scale and shift) makes every
        # example's output independent of the rest of its batch, as synced batch norm would.
        from lcnn.training.image_module import ImageClassifier

        def freeze_batch_norm(self, batch, batch_index):
            for module in self.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()

        ImageClassifier.on_train_batch_start = freeze_batch_norm
        run.train(config, out)
    else:
        # Fit without the final test, then keep what each process saw for the checks.
        out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed)
        parts = run.build_task(config)
        trainer = run._make_trainer(config, out, parts, max_epochs=config.train.max_epochs)
        trainer.fit(parts.module, parts.train_loader, parts.val_loader)
        rank = trainer.global_rank
        sampler = parts.train_loader.batch_sampler
        np.save(out / f"dev_rows_rank{rank}.npy", parts.module.last_scores["dev"])
        report = {
            "world_size": trainer.world_size,
            "replica": list(sampler.replica()),
            "train_batches": [list(map(int, batch)) for batch in sampler],
            "num_training_batches": int(trainer.num_training_batches),
            "dev_eer": float(trainer.callback_metrics["dev_eer"]),
        }
        (out / f"rank{rank}.json").write_text(json.dumps(report))
    """
)


def run_driver(tmp_path, mode: str, config: dict, name: str):
    """Run the driver script on ``config`` and return its output folder."""
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    config_path = tmp_path / f"{name}.json"
    config_path.write_text(json.dumps(config))
    out = tmp_path / name
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_PORT", "SLURM_PROCID", "SLURM_NTASKS"):
        env.pop(key, None)
    result = subprocess.run(
        [sys.executable, str(script), mode, str(config_path), str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def ddp_train(devices: int) -> dict:
    return {
        "accelerator": "cpu",
        "devices": devices,
        "strategy": "ddp",
        "patience": None,
        "threads": 1,
    }


def read_metrics_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture()
def mnist_dir(data_dir):
    folder = data_dir / "mnist"
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST is not in {folder}")
    return folder


def test_two_process_mnist_equals_single(mnist_dir, tmp_path):
    base = {
        "task": "image",
        "seed": 0,
        "data": {
            "dataset": "mnist",
            "data_dir": str(mnist_dir),
            "download": False,
            "limit_train": 512,
            "limit_eval": 256,
            "num_workers": 0,
        },
        "model": {"name": "lcnn9", "kwargs": {"dropout": 0.0}},
        # Adam's first steps move each weight by about lr whatever the gradient's size, so rounding
        # noise in near-zero gradients would show up at full size; SGD keeps it at rounding level.
        "optim": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9},
        # Both runs keep the default memory layout, so that only the process count differs.
        "train": {"max_epochs": 2, "cpu_speed": False},
    }
    single = {**base, "data": {**base["data"], "batch_size": 64}, "train": {**base["train"], **ddp_train(1)}}
    double = {**base, "data": {**base["data"], "batch_size": 32}, "train": {**base["train"], **ddp_train(2)}}
    single_out = run_driver(tmp_path, "train", single, "single")
    double_out = run_driver(tmp_path, "train", double, "double")

    single_ckpt = torch.load(single_out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    double_ckpt = torch.load(double_out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert single_ckpt["global_step"] == 16
    # Each process runs 256 / 32 = 8 steps per epoch, so the two runs take the same optimiser steps.
    assert double_ckpt["global_step"] == 16

    single_state, double_state = single_ckpt["state_dict"], double_ckpt["state_dict"]
    assert single_state.keys() == double_state.keys()
    for key, reference in single_state.items():
        if not reference.is_floating_point():
            assert torch.equal(double_state[key], reference), key
            continue
        # Averaging two half-batch gradients rounds differently from one full-batch gradient; the
        # largest difference measured after 16 steps was 3e-6.
        torch.testing.assert_close(double_state[key], reference, rtol=1e-4, atol=3e-5, msg=lambda detail: f"{key}: {detail}")

    single_rows = read_metrics_csv(single_out / "metrics.csv")
    double_rows = read_metrics_csv(double_out / "metrics.csv")
    assert [row["epoch"] for row in double_rows] == ["1", "2"]
    assert float(single_rows[1]["train_loss"]) < float(single_rows[0]["train_loss"])
    for single_row, double_row in zip(single_rows, double_rows):
        assert float(double_row["val_loss"]) == pytest.approx(float(single_row["val_loss"]), rel=1e-5)
        assert float(double_row["val_accuracy"]) == pytest.approx(float(single_row["val_accuracy"]), abs=1e-6)

    single_metrics = json.loads((single_out / "metrics.json").read_text())
    double_metrics = json.loads((double_out / "metrics.json").read_text())
    assert double_metrics["test_loss"] == pytest.approx(single_metrics["test_loss"], rel=1e-5)


def write_corpus(root, *, seed: int = 0) -> None:
    """Write a tiny two-class corpus: bona fide are low tones, spoof are noisy high tones."""
    rng = np.random.default_rng(seed)
    sample_rate = 16000
    for split, count, fixed_length in (("train", 24, None), ("dev", 18, 6400)):
        folder = root / split
        folder.mkdir(parents=True)
        lines = []
        for index in range(count):
            bonafide = index % 3 != 0
            length = fixed_length or int(rng.integers(4000, 9600))
            time = np.arange(length) / sample_rate
            frequency = rng.uniform(200, 500) if bonafide else rng.uniform(2500, 4000)
            wave = 0.3 * np.sin(2 * np.pi * frequency * time) + 0.02 * rng.standard_normal(length)
            if not bonafide:
                wave += 0.1 * rng.standard_normal(length)
            trial_id = f"{split.upper()}_{index:04d}"
            sf.write(folder / f"{trial_id}.wav", wave.astype(np.float32), sample_rate, subtype="PCM_16")
            key = "bonafide" if bonafide else "spoof"
            attack = "-" if bonafide else "A01"
            lines.append(f"SPK{index % 4} {trial_id} - {attack} {key}")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")


def test_two_process_cm_gathers_scores(tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    config = {
        "task": "countermeasure",
        "seed": 0,
        "audio": {
            "root": str(corpus),
            "train_protocol": "train.txt",
            "dev_protocol": "dev.txt",
            "train_audio_dir": "train",
            "dev_audio_dir": "dev",
            "batch_size": 4,
            "num_workers": 0,
        },
        "frontend": {"name": "lfcc", "kwargs": {"preset": "asvspoof2019"}},
        "model": {"name": "lcnn9_cm"},
        "head": {"name": "sigmoid"},
        "optim": {"lr": 1e-3},
        "train": {"max_epochs": 1, **ddp_train(2)},
    }
    out = run_driver(tmp_path, "fit", config, "cm")
    reports = [json.loads((out / f"rank{rank}.json").read_text()) for rank in range(2)]
    rows = [np.load(out / f"dev_rows_rank{rank}.npy") for rank in range(2)]

    for rank, report in enumerate(reports):
        assert report["world_size"] == 2
        assert report["replica"] == [2, rank]

    # 24 training utterances in batches of 4 make 6 batches, so each process gets 3 distinct ones.
    batches = [report["train_batches"] for report in reports]
    assert [len(b) for b in batches] == [3, 3]
    assert [report["num_training_batches"] for report in reports] == [3, 3]
    seen = [index for per_rank in batches for batch in per_rank for index in batch]
    assert sorted(seen) == list(range(24))

    # Both processes hold all 18 development scores, one per index, after the gather.
    for per_rank in rows:
        assert per_rank.shape == (18, 3)
        assert per_rank[:, 0].tolist() == list(range(18))
    np.testing.assert_array_equal(rows[0], rows[1])

    # Scoring the saved weights in this process, one utterance at a time, gives the same scores.
    model, _ = load_countermeasure(out / "checkpoints" / "last.ckpt")
    trials = (corpus / "dev.txt").read_text().split("\n")[:-1]
    scores, labels = [], []
    with torch.no_grad():
        for line in trials:
            trial_id, key = line.split()[1], line.split()[4]
            wave, _ = sf.read(corpus / "dev" / f"{trial_id}.wav", dtype="float32")
            scores.append(float(model(torch.from_numpy(wave)[None])[0]))
            labels.append(1 if key == "bonafide" else 0)
    scores, labels = np.array(scores), np.array(labels)
    np.testing.assert_allclose(rows[0][:, 1], scores, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(rows[0][:, 2], labels)
    eer, _ = compute_eer(scores[labels == 1], scores[labels == 0])
    for report in reports:
        # Lightning stores logged metrics as float32.
        assert report["dev_eer"] == pytest.approx(eer, abs=1e-6)


def test_mixed_precision_on_cpu_falls_back(caplog):
    with caplog.at_level(logging.WARNING, logger="lcnn.training.run"):
        precision = _trainer_precision(TrainConfig(accelerator="cpu", precision="16-mixed"))
    assert precision == "32-true"
    assert "train.precision=16-mixed needs a GPU" in caplog.text
    assert _trainer_precision(TrainConfig(accelerator="cpu", precision="bf16-mixed")) == "32-true"
    assert _trainer_precision(TrainConfig(accelerator="cpu", precision="32-true")) == "32-true"


def test_mixed_precision_kept_for_gpu():
    assert _trainer_precision(TrainConfig(accelerator="gpu", precision="16-mixed")) == "16-mixed"
    assert _trainer_precision(TrainConfig(accelerator="cuda", precision="bf16-mixed")) == "bf16-mixed"


def test_unknown_precision_raises():
    with pytest.raises(ConfigError, match=r"train.precision must be one of .*got 'fp16'"):
        _trainer_precision(TrainConfig(precision="fp16"))
