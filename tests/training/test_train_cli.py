"""End-to-end training runs through the ``lcnn`` command on the real MNIST files."""

import json
import os
import pickle

import pytest
import torch

from lcnn.cli.main import main

QUICK = [
    "--set", "data.batch_size=64",
    "--set", "data.limit_eval=1000",
    # Faster batch-norm statistics, so that a run of a few dozen steps evaluates sensibly.
    "--set", "model.kwargs.bn_momentum=0.1",
]


@pytest.fixture()
def mnist_env(data_dir, monkeypatch):
    if not (data_dir / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST is not in {data_dir / 'mnist'}")
    monkeypatch.setenv("LCNN_DATA_DIR", str(data_dir))
    torch.set_num_threads(2)
    return data_dir


def test_short_mnist_run_learns(mnist_env, tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["train", "configs/mnist.yaml", "--epochs", "2", "--limit-train", "3000", "--out", str(out), *QUICK])
    assert status == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # An untrained 10-class network is right about 10% of the time.
    assert metrics["test_accuracy"] > 0.8
    assert metrics["epochs"] == 2
    assert metrics["seconds"] > 0
    assert 0 < metrics["test_loss"] < 1.0
    for name in ("config.yaml", "checkpoints/best.ckpt", "checkpoints/last.ckpt", "metrics.csv"):
        assert (out / name).is_file(), name
    assert "test_accuracy" in capsys.readouterr().out


def test_resume_refuse_and_test_command(mnist_env, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "configs/mnist.yaml", "--limit-train", "256", "--out", str(out), *QUICK]
    assert main([*base, "--epochs", "1"]) == 0
    first = json.loads((out / "metrics.json").read_text())
    assert first["epochs"] == 1

    # A second start into the same folder must not overwrite it.
    assert main([*base, "--epochs", "1"]) == 2
    assert "already exists" in capsys.readouterr().err

    assert main([*base, "--epochs", "2", "--resume"]) == 0
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["epochs"] == 2
    last = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    # Lightning stores the number of completed epochs.
    assert last["epoch"] == 2
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,")
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2"]
    assert last["lcnn"]["config"]["data"]["limit_train"] == 256

    capsys.readouterr()
    assert main(["test", str(out / "checkpoints" / "best.ckpt")]) == 0
    tested = json.loads(capsys.readouterr().out)
    assert tested["test_accuracy"] == pytest.approx(resumed["test_accuracy"], abs=1e-6)


def test_resume_without_run_names_fix(tmp_path, capsys):
    assert main(["train", "configs/mnist.yaml", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "checkpoints/last.ckpt" in capsys.readouterr().err


def test_unknown_config_key_exit_code(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("task: image\ntrain:\n  epochs: 3\n")
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "unknown configuration key(s) 'epochs'" in err
    assert "max_epochs" in err


def test_missing_data_folder_names_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LCNN_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("LCNN_CACHE_DIR", str(tmp_path / "cache"))
    status = main([
        "train", "configs/mnist.yaml", "--out", str(tmp_path / "run"),
        "--data-dir", str(tmp_path / "empty"), "--set", "data.download=false",
    ])
    assert status == 2
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err


def test_test_command_rejects_pickled_code(tmp_path, capsys):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    checkpoint = tmp_path / "evil.ckpt"
    with open(checkpoint, "wb") as handle:
        pickle.dump({"lcnn": Payload()}, handle)
    assert main(["test", str(checkpoint)]) == 2
    assert not marker.exists()
    assert "cannot read" in capsys.readouterr().err


def test_unexpected_error_is_one_line(tmp_path, capsys):
    text_file = tmp_path / "notes.ckpt"
    text_file.write_text("not a checkpoint")
    status = main(["export", str(text_file), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    assert status in (1, 2)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("lcnn export: error:")
