"""Import the published NII LFCC-LCNN-LSTM countermeasure (the ASVspoof 2021 LFCC-LCNN baseline).

Xin Wang (National Institute of Informatics) published the weights of LFCC-LCNN-LSTM models with a
sigmoid output in the nii-yamagishilab/project-NN-Pytorch-scripts repository, as a plain PyTorch
state dict. The model takes a 16 kHz waveform in [-1, 1], whole utterance, without normalisation,
and its score is the output logit, higher meaning bona fide. The conversion maps:

======================================================  ==============================================
NII key                                                 lcnn key
======================================================  ==============================================
``m_frontend.0.lfcc_fb`` ``(bins, filters)``             ``frontend.filterbank`` (same layout)
``m_frontend.0.l_dct.weight`` ``(coefs, filters)``       ``frontend.dct`` (same layout)
``m_transform.0.<i>`` convolutions, in order            ``backbone.stack.layers.<j>.conv``, kernels
                                                        transposed from (frames, freq) to (freq, frames)
``m_transform.0.<i>`` batch norms, in order             ``backbone.stack.layers.<j>``
``m_before_pooling.0.<L>.l_blstm.*_l0[_reverse]``       ``backbone.lstm.*_l<L>[_reverse]``
``m_output_act.0.{weight,bias}``                        ``head.linear.{weight,bias}``
``input_mean``, ``input_std``, ``output_mean/std``      checked to be 0 and 1 (unused by the model)
======================================================  ==============================================

The filterbank and DCT matrices are taken from the file rather than rebuilt, because a rebuilt
filterbank differs from the stored one by about 1e-6. The front-end settings are those of the LFCC
preset whose filterbank matches the file's.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from lcnn.checkpoint import load_checkpoint_file, match_state_dict, save_checkpoint
from lcnn.countermeasure import Countermeasure, build_countermeasure
from lcnn.errors import CheckpointError
from lcnn.fileio import check_writable
from lcnn.frontends import LFCC_PRESETS, create_frontend
from lcnn.nn import MFMConv2d

__all__ = ["convert_nii_state_dict", "load_nii_countermeasure", "import_nii"]

logger = logging.getLogger(__name__)

FILTERBANK_KEY = "m_frontend.0.lfcc_fb"
DCT_KEY = "m_frontend.0.l_dct.weight"
TRANSFORM_PREFIX = "m_transform.0."
NORMALISATION_KEYS = {"input_mean": 0.0, "input_std": 1.0, "output_mean": 0.0, "output_std": 1.0}
LSTM_KEY = re.compile(
    r"m_before_pooling\.0\.(\d+)\.l_blstm\.(weight_ih|weight_hh|bias_ih|bias_hh)_l0(_reverse)?"
)
OUTPUT_KEY = re.compile(r"m_output_act\.0\.(weight|bias)")
BN_PARAMETERS = ("running_mean", "running_var", "num_batches_tracked")
# Largest difference allowed between the file's filterbank and a preset's rebuilt one.
FILTERBANK_ATOL = 1e-4


def _find_preset(filterbank: torch.Tensor) -> str:
    """Return the LFCC preset whose filterbank has the shape and values of ``filterbank``."""
    tried = []
    for preset in sorted(LFCC_PRESETS):
        built = create_frontend("lfcc", preset=preset).filterbank
        if tuple(built.shape) == tuple(filterbank.shape):
            difference = float((built - filterbank).abs().max())
            if difference <= FILTERBANK_ATOL:
                return preset
            tried.append(f"{preset} (max difference {difference:.2g})")
        else:
            tried.append(f"{preset} (shape {tuple(built.shape)})")
    raise CheckpointError(
        f"the LFCC filterbank in the file, shape {tuple(filterbank.shape)}, matches no LFCC preset: "
        f"{'; '.join(tried)}. Only LFCC front ends of the ASVspoof 2019 and 2021 presets can be imported."
    )


def _transform_layers(state_dict: Mapping[str, torch.Tensor]) -> tuple[list[int], list[int]]:
    """Return the indices of the convolutions and of the batch norms in ``m_transform.0``."""
    convolutions, norms = set(), set()
    for key, value in state_dict.items():
        if not key.startswith(TRANSFORM_PREFIX):
            continue
        index, _, parameter = key[len(TRANSFORM_PREFIX):].partition(".")
        if not index.isdigit():
            continue
        if parameter == "weight" and value.dim() == 4:
            convolutions.add(int(index))
        elif parameter == "running_mean":
            norms.add(int(index))
    return sorted(convolutions), sorted(norms)


def _lstm_shape(state_dict: Mapping[str, torch.Tensor]) -> tuple[int, int]:
    """Return ``(hidden_size, num_layers)`` of the bidirectional LSTM layers in the file."""
    layers = {int(match.group(1)) for key in state_dict if (match := LSTM_KEY.fullmatch(key))}
    hidden = state_dict.get("m_before_pooling.0.0.l_blstm.weight_hh_l0")
    if not layers or hidden is None:
        raise CheckpointError(
            "the file has no LSTM layers (keys m_before_pooling.0.<L>.l_blstm.*); it is not an "
            "LFCC-LCNN-LSTM state dict."
        )
    return int(hidden.shape[1]), max(layers) + 1


def convert_nii_state_dict(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Convert an NII LFCC-LCNN-LSTM state dict to an lcnn spec and Countermeasure state dict.

    Returns:
        ``(spec, converted)``; ``build_countermeasure(spec).load_state_dict(converted)`` succeeds.

    Raises:
        CheckpointError: if keys are unexpected or missing (all are listed), a tensor has the wrong
            shape, the normalisation statistics are not 0 and 1, or the filterbank matches no preset.
    """
    if FILTERBANK_KEY not in state_dict or DCT_KEY not in state_dict:
        raise CheckpointError(
            f"missing keys: {', '.join(k for k in (FILTERBANK_KEY, DCT_KEY) if k not in state_dict)}; "
            "only NII models with an LFCC front end can be imported."
        )
    preset = _find_preset(state_dict[FILTERBANK_KEY])
    hidden_size, num_layers = _lstm_shape(state_dict)
    spec = {
        "sample_rate": int(LFCC_PRESETS[preset]["sample_rate"]),
        "frontend": {"name": "lfcc", "preset": preset},
        "backbone": {"name": "lcnn_lstm", "hidden_size": hidden_size, "num_layers": num_layers},
        "head": {"name": "sigmoid"},
    }
    model = build_countermeasure(spec)

    converted: dict[str, torch.Tensor] = {
        "frontend.filterbank": state_dict[FILTERBANK_KEY],
        "frontend.dct": state_dict[DCT_KEY][: model.frontend.n_lfcc],
    }
    used = {FILTERBANK_KEY, DCT_KEY}

    for key, expected in NORMALISATION_KEYS.items():
        if key in state_dict:
            used.add(key)
            value = state_dict[key].float()
            if not torch.allclose(value, torch.full_like(value, expected)):
                raise CheckpointError(
                    f"{key} is {state_dict[key].tolist()}, expected {expected}: the model normalises its "
                    "input or output, which the import does not support."
                )

    source_convs, source_norms = _transform_layers(state_dict)
    layers = list(model.backbone.stack.layers)
    target_convs = [f"backbone.stack.layers.{j}.conv" for j, m in enumerate(layers) if isinstance(m, MFMConv2d)]
    target_norms = [f"backbone.stack.layers.{j}" for j, m in enumerate(layers) if isinstance(m, nn.BatchNorm2d)]
    if len(source_convs) != len(target_convs) or len(source_norms) != len(target_norms):
        raise CheckpointError(
            f"the file's m_transform has {len(source_convs)} convolutions and {len(source_norms)} batch "
            f"norms, but the LCNN stack has {len(target_convs)} and {len(target_norms)}."
        )
    for index, target in zip(source_convs, target_convs):
        for parameter in ("weight", "bias"):
            key = f"{TRANSFORM_PREFIX}{index}.{parameter}"
            if key in state_dict:
                used.add(key)
                value = state_dict[key]
                if value.dim() == 4:
                    # NII maps are (batch, 1, frames, freq) and lcnn maps are (batch, 1, freq, frames).
                    value = value.transpose(2, 3).contiguous()
                converted[f"{target}.{parameter}"] = value
    for index, target in zip(source_norms, target_norms):
        for parameter in BN_PARAMETERS:
            key = f"{TRANSFORM_PREFIX}{index}.{parameter}"
            if key in state_dict:
                used.add(key)
                converted[f"{target}.{parameter}"] = state_dict[key]

    for key, value in state_dict.items():
        if match := LSTM_KEY.fullmatch(key):
            layer, parameter, reverse = match.group(1), match.group(2), match.group(3) or ""
            converted[f"backbone.lstm.{parameter}_l{layer}{reverse}"] = value
            used.add(key)
        elif match := OUTPUT_KEY.fullmatch(key):
            converted[f"head.linear.{match.group(1)}"] = value
            used.add(key)

    # The window and DFT matrices follow from the front-end settings; the file does not store them.
    for key, value in model.state_dict().items():
        if key.startswith("frontend.") and key not in converted:
            converted[key] = value

    unexpected = sorted(set(state_dict) - used)
    missing = sorted(set(model.state_dict()) - set(converted))
    if unexpected or missing:
        raise CheckpointError(
            "the state dict does not match the NII LFCC-LCNN-LSTM layout; "
            f"unexpected keys: {', '.join(unexpected) or 'none'}; "
            f"missing lcnn keys: {', '.join(missing) or 'none'}."
        )
    match_state_dict(model, converted, source="the converted NII state dict")
    return spec, converted


def load_nii_countermeasure(path: str | os.PathLike) -> Countermeasure:
    """Read an NII state dict file and return the equivalent Countermeasure in eval mode.

    Raises:
        CheckpointError: as :func:`convert_nii_state_dict`, or if the file cannot be read.
    """
    state_dict = load_checkpoint_file(path, map_location="cpu")
    if not all(isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise CheckpointError(
            f"{path} is not a plain state dict of tensors; if it is an lcnn checkpoint, use it directly."
        )
    try:
        spec, converted = convert_nii_state_dict(state_dict)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from error
    model = build_countermeasure(spec)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def import_nii(path: str | os.PathLike, out: str | os.PathLike, *, force: bool = False) -> Path:
    """Convert the NII state dict at ``path`` into an lcnn checkpoint at ``out``.

    Raises:
        CheckpointError: as :func:`load_nii_countermeasure`.
        OutputExistsError: if ``out`` exists and ``force`` is false.
    """
    check_writable(out, force=force)
    model = load_nii_countermeasure(path)
    extra = {"source": {"format": "nii", "file": Path(path).name}}
    saved = save_checkpoint(out, model, model.spec, extra=extra, force=force)
    logger.info("imported %s as %s", path, saved)
    return saved
