"""Countermeasure checkpoints: everything needed to rebuild and score, in one file.

A checkpoint is a ``torch.save`` dictionary::

    {
        "lcnn": {"format_version": 1, "kind": "countermeasure", "spec": {...}, "config": {...} or None},
        "state_dict": {...},   # Countermeasure.state_dict()
        ...                    # optional extra entries (optimizer state, step, best score)
    }

Lightning checkpoints written by the training module carry the same ``"lcnn"`` entry. Their
``state_dict`` contains the :class:`~lcnn.countermeasure.Countermeasure` under the attribute ``model``,
so its keys start with ``"model."``; :func:`load_countermeasure` reads both layouts.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any, Mapping

import torch

from lcnn.countermeasure import Countermeasure, build_countermeasure
from lcnn.errors import CheckpointError, ConfigError, UnknownModelError
from lcnn.fileio import atomic_write

__all__ = [
    "FORMAT_VERSION",
    "LIGHTNING_PREFIX",
    "save_checkpoint",
    "load_checkpoint_file",
    "load_countermeasure",
    "match_state_dict",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
LIGHTNING_PREFIX = "model."
# Lists of keys in error messages are cut after this many entries.
MAX_LISTED_KEYS = 20


def save_checkpoint(
    path: str | os.PathLike,
    model: Countermeasure,
    spec: Mapping[str, Any] | None,
    *,
    config: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    force: bool = False,
) -> Path:
    """Write ``model`` with its spec to ``path`` atomically.

    Args:
        path: output file, conventionally ``*.ckpt``.
        model: the countermeasure to save.
        spec: the spec that rebuilds ``model``; ``None`` uses ``model.spec``.
        config: the resolved run configuration as a plain dictionary, or ``None``.
        extra: further top-level entries (for example ``"optimizer"`` or ``"step"``); the keys
            ``"lcnn"`` and ``"state_dict"`` are reserved.
        force: overwrite an existing file.

    Returns:
        ``path`` as a Path.

    Raises:
        CheckpointError: if no spec is given and the model has none, or ``extra`` uses a reserved key.
        OutputExistsError: if ``path`` exists and ``force`` is false.
    """
    if spec is None:
        spec = model.spec
    if spec is None:
        raise CheckpointError(
            "no spec to save: the model was not built by build_countermeasure; pass the spec explicitly."
        )
    checkpoint: dict[str, Any] = {
        "lcnn": {
            "format_version": FORMAT_VERSION,
            "kind": "countermeasure",
            "spec": dict(spec),
            "config": None if config is None else dict(config),
        },
        "state_dict": model.state_dict(),
    }
    for key, value in (extra or {}).items():
        if key in checkpoint:
            raise CheckpointError(f"extra key {key!r} is reserved; rename it.")
        checkpoint[key] = value
    path = Path(path)
    with atomic_write(path, "wb", force=force) as handle:
        torch.save(checkpoint, handle)
    logger.info("saved checkpoint %s", path)
    return path


def load_checkpoint_file(
    path: str | os.PathLike, *, map_location: str | torch.device = "cpu", weights_only: bool = True
) -> dict[str, Any]:
    """Read a checkpoint dictionary with ``torch.load``.

    Args:
        path: checkpoint file.
        map_location: device for the tensors.
        weights_only: restrict unpickling to tensors and plain types. Pass ``False`` only for a file
            you trust, because full unpickling can run arbitrary code.

    Raises:
        CheckpointError: if the file is missing, unreadable, contains objects that ``weights_only``
            rejects, or is not a dictionary.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path} contains objects other than tensors and plain types ({error}); if you trust the "
            "file, load it with weights_only=False."
        ) from error
    except (RuntimeError, EOFError, OSError) as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from error
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} contains a {type(checkpoint).__name__}, not a checkpoint dictionary.")
    return checkpoint


def _listed(keys: list[str]) -> str:
    text = ", ".join(keys[:MAX_LISTED_KEYS])
    if len(keys) > MAX_LISTED_KEYS:
        text += f", ... ({len(keys) - MAX_LISTED_KEYS} more)"
    return text


def match_state_dict(
    model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str = "state dict"
) -> None:
    """Load ``state_dict`` into ``model`` strictly, naming every missing, unexpected or mis-shaped key.

    Raises:
        CheckpointError: if the keys or shapes differ from the model's; nothing is loaded then.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [
        f"{key} (file {tuple(state_dict[key].shape)}, model {tuple(expected[key].shape)})"
        for key in sorted(set(expected) & set(state_dict))
        if tuple(state_dict[key].shape) != tuple(expected[key].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listed(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatches: {_listed(mismatched)}")
    if problems:
        raise CheckpointError(
            f"{source} does not match the model built from its spec; " + "; ".join(problems) + "."
        )
    model.load_state_dict(state_dict, strict=True)


def _model_state_dict(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Return the countermeasure's entries, without the Lightning ``model.`` prefix when present."""
    prefixed = {
        key[len(LIGHTNING_PREFIX):]: value
        for key, value in state_dict.items()
        if key.startswith(LIGHTNING_PREFIX)
    }
    if not prefixed:
        return dict(state_dict)
    ignored = sorted(key for key in state_dict if not key.startswith(LIGHTNING_PREFIX))
    if ignored:
        logger.debug("ignoring Lightning state outside the model: %s", _listed(ignored))
    return prefixed


def load_countermeasure(
    path: str | os.PathLike,
    *,
    map_location: str | torch.device = "cpu",
    weights_only: bool = True,
) -> tuple[Countermeasure, dict[str, Any]]:
    """Rebuild a countermeasure from an lcnn or Lightning checkpoint, in eval mode.

    Args:
        path: checkpoint written by :func:`save_checkpoint`, the training module or ``lcnn import``.
        map_location: device for the tensors; the model is moved there too.
        weights_only: see :func:`load_checkpoint_file`.

    Returns:
        The model and the checkpoint's ``"lcnn"`` entry (``spec``, ``config``, ``format_version``).

    Raises:
        CheckpointError: if the file is not an lcnn countermeasure checkpoint, its format version is
            newer than this release reads, its spec is invalid, or the weights do not match the spec
            (the message lists the missing and unexpected keys).
    """
    checkpoint = load_checkpoint_file(path, map_location=map_location, weights_only=weights_only)
    meta = checkpoint.get("lcnn")
    if not isinstance(meta, dict):
        hint = ""
        if any(str(key).startswith("m_transform.") for key in checkpoint):
            hint = " It looks like a published NII state dict: convert it with `lcnn import nii`."
        raise CheckpointError(f"{path} is not an lcnn checkpoint (no 'lcnn' entry).{hint}")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this release reads versions up to "
            f"{FORMAT_VERSION}. Upgrade lcnn to load it."
        )
    if meta.get("kind") != "countermeasure":
        raise CheckpointError(
            f"{path} contains a {meta.get('kind')!r} model, not a countermeasure; "
            "use the loader for that kind."
        )
    if not isinstance(checkpoint.get("state_dict"), Mapping):
        raise CheckpointError(f"{path} has no 'state_dict' entry.")
    try:
        model = build_countermeasure(meta.get("spec"))
    except (ConfigError, UnknownModelError) as error:
        raise CheckpointError(f"{path} has an invalid spec: {error}") from error
    match_state_dict(model, _model_state_dict(checkpoint["state_dict"]), source=str(path))
    model.to(map_location)
    model.eval()
    return model, meta
