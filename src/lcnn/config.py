"""Run configuration: typed dataclasses read from YAML, with dotted command-line overrides.

A configuration file is a YAML mapping whose sections match the dataclasses below. Unknown keys are
rejected with the list of valid ones, values are checked against the field types (``true`` stays a
boolean, ``1e-3`` a float), and ``--set optim.lr=3e-4`` style overrides are applied before checking.
The resolved configuration is saved with every run and inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lcnn.errors import ConfigError

__all__ = [
    "ImageDataConfig",
    "AudioDataConfig",
    "ComponentConfig",
    "OptimConfig",
    "TrainConfig",
    "Config",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
]

TASKS = ("image", "countermeasure")


@dataclass
class ImageDataConfig:
    """Image classification data: MNIST or CIFAR-10."""

    dataset: str = "mnist"
    data_dir: str | None = None
    # Fetch missing files from the canonical addresses (checksums verified) into the user cache.
    download: bool = True
    val_fraction: float = 0.2
    # "last" holds out the final fraction of the training set, as Keras' validation_split does.
    holdout: str = "last"
    augment: bool = False
    limit_train: int | None = None
    # Caps the validation and test sets too, for quick checks; results are then not comparable.
    limit_eval: int | None = None
    batch_size: int = 256
    num_workers: int = 0


@dataclass
class AudioDataConfig:
    """Anti-spoofing data: protocols, audio location and how utterances are batched.

    Protocol paths and ``audio_dir`` may be relative; they resolve against ``root`` when it is set
    and against the working directory otherwise.
    """

    root: str | None = None
    train_protocol: str = ""
    dev_protocol: str = ""
    eval_protocol: str | None = None
    # Folder of every split's audio; the per-split folders below override it (ASVspoof ships one
    # folder per split).
    audio_dir: str = ""
    train_audio_dir: str | None = None
    dev_audio_dir: str | None = None
    eval_audio_dir: str | None = None
    protocol_format: str = "auto"
    sample_rate: int = 16000
    # None trains on whole utterances padded per batch; a number crops or tiles to that many seconds.
    crop_seconds: float | None = None
    eval_crop_seconds: float | None = None
    batch_size: int = 64
    max_batch_seconds: float | None = None
    num_workers: int = 2
    skip_bad: bool = False
    limit_train: int | None = None
    limit_dev: int | None = None
    # Weight of the bona fide class in the softmax head's loss; None weights both classes equally.
    bonafide_weight: float | None = None


@dataclass
class ComponentConfig:
    """A registry entry: a name and the keyword arguments of its constructor."""

    name: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """Adam optimiser and learning-rate schedule."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    # "none", "step" (multiply by gamma every step_size epochs), "cosine" (to 0 at max_epochs),
    # or "onecycle" (linear warm-up then cosine, stepped per batch).
    scheduler: str = "none"
    step_size: int = 5
    gamma: float = 0.5
    warmup_fraction: float = 0.15
    optimizer: str = "adam"
    momentum: float = 0.9
    nesterov: bool = True


@dataclass
class TrainConfig:
    """Training loop settings, passed to the Lightning trainer."""

    max_epochs: int = 10
    # Epochs without improvement of the monitored metric before stopping; None disables early stopping.
    patience: int | None = 3
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    # "16-mixed" or "bf16-mixed" turn on automatic mixed precision on GPUs. CPU runs use "32-true".
    precision: str = "32-true"
    # Batch-norm statistics over the batches of all processes (SyncBatchNorm) in multi-GPU runs.
    # PyTorch's SyncBatchNorm rejects CPU tensors, so CPU runs turn it off with a warning.
    sync_batchnorm: bool = False
    gradient_clip: float | None = None
    log_every_n_steps: int = 50
    # On CPU: channels-last convolutions and glibc keeping freed memory mapped (same numerics, faster
    # training; see benchmarks/keras_vs_lcnn). Ignored on GPUs.
    cpu_speed: bool = True
    threads: int | None = None


@dataclass
class Config:
    """A complete run: task, data, model parts, optimiser and training loop."""

    task: str = "image"
    seed: int = 0
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    audio: AudioDataConfig = field(default_factory=AudioDataConfig)
    model: ComponentConfig = field(default_factory=lambda: ComponentConfig(name="lcnn9"))
    frontend: ComponentConfig = field(default_factory=ComponentConfig)
    head: ComponentConfig = field(default_factory=ComponentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}.")
        if self.train.max_epochs < 1:
            raise ConfigError(f"train.max_epochs (--epochs) must be at least 1, got {self.train.max_epochs}.")
        if self.optim.lr <= 0:
            raise ConfigError(f"optim.lr must be positive, got {self.optim.lr}.")


def _check_value(value: Any, annotation: Any, key: str) -> Any:
    """Return ``value`` converted to ``annotation``, raising ConfigError when it does not fit."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_value(value, option, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}.")
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}.")
        return dict(value)
    if dataclasses.is_dataclass(annotation):
        return _build_dataclass(annotation, value, key)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}.")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}.")
        return value
    if annotation is float:
        if isinstance(value, str):
            # YAML 1.1 reads "3e-4" (no dot) as a string; accept it as the number it means.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}.")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}.")
        return value
    return value


def _build_dataclass(cls: type, values: Any, prefix: str) -> Any:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'configuration'} must be a mapping, got {values!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        where = f"section {prefix!r}" if prefix else "the top level"
        raise ConfigError(
            f"unknown configuration key(s) {', '.join(repr(k) for k in unknown)} in {where}; "
            f"valid keys: {', '.join(names)}."
        )
    kwargs = {}
    for name in names:
        if name in values:
            key = f"{prefix}.{name}" if prefix else name
            kwargs[name] = _check_value(values[name], hints[name], key)
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any]) -> Config:
    """Build a :class:`Config` from a nested mapping, rejecting unknown keys and wrong types."""
    return _build_dataclass(Config, values, "")


def config_to_dict(config: Config) -> dict[str, Any]:
    """Return ``config`` as plain nested dicts, ready for YAML or a checkpoint."""
    return dataclasses.asdict(config)


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides to a nested mapping; values are parsed as YAML scalars.

    Raises:
        ConfigError: an override without ``=``.
    """
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r} must look like section.key=value, e.g. optim.lr=3e-4.")
        dotted, raw = override.split("=", 1)
        keys = dotted.strip().split(".")
        target = values
        for key in keys[:-1]:
            child = target.get(key)
            if child is None:
                child = target[key] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {override!r}: {key!r} is not a section.")
            target = child
        target[keys[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return values


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML configuration file, apply overrides and check it.

    Raises:
        ConfigError: the file is missing, is not YAML, or has unknown keys or wrong types.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"configuration file {path} not found; the shipped ones are in configs/.")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not a valid YAML text file: {error}") from None
    if values is None:
        raise ConfigError(f"{path} is empty; start from one of the configurations in configs/.")
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must contain a YAML mapping at the top level.")
    values = apply_overrides(values, overrides or [])
    try:
        return config_from_dict(values)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
