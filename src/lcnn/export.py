"""Export a countermeasure, front end included, to ONNX or TorchScript, and score with the ONNX file.

The exported model maps a waveform batch ``waveform (batch, samples)`` (float32 in [-1, 1] at the
model's sample rate, batch and length dynamic) to ``score (batch,)``, higher = bona fide. Each row is
scored as one whole utterance of the given length: the export has no lengths input, so rows of a
batch must have equal length, and zero-padding a short row changes its score. Score utterances of
different lengths one at a time (batch 1), or group them by length.

Before writing, the export runs the serialized model (ONNX Runtime or ``torch.jit.load``) on test
waveforms and raises :class:`~lcnn.errors.ExportError` unless its scores equal the PyTorch model's
within the tolerance. ONNX files carry the sample rate, the minimum length and the spec in their metadata
(``metadata_props``); TorchScript files carry the same as the extra file ``lcnn.json``.
"""

from __future__ import annotations

import copy
import importlib
import io
import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from lcnn import __version__
from lcnn.countermeasure import Countermeasure
from lcnn.errors import ExportError
from lcnn.fileio import atomic_write, check_writable
from lcnn.models.lcnn9 import MIN_INPUT_SIZE

__all__ = [
    "FORMATS",
    "DEFAULT_OPSET",
    "ScoringModule",
    "export_model",
    "export_onnx",
    "export_torchscript",
    "export_metadata",
    "minimum_samples",
    "OnnxScorer",
]

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript")
# The TorchScript-based ONNX exporter handles the bidirectional LSTM with a dynamic length from
# opset 14 on; 17 is the newest opset it was verified with here.
DEFAULT_OPSET = 17
MIN_OPSET = 14
INPUT_NAME = "waveform"
OUTPUT_NAME = "score"
TORCHSCRIPT_METADATA = "lcnn.json"
SCORE_CONVENTION = "higher = bona fide"


class ScoringModule(nn.Module):
    """Wrap a countermeasure for export: ``waveform (batch, samples) -> score (batch,)``, whole rows."""

    def __init__(self, model: Countermeasure) -> None:
        super().__init__()
        self.model = model

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Score ``(batch, samples)`` waveforms, each row a whole utterance, giving ``(batch,)``."""
        return self.model(waveform)


def minimum_samples(model: Countermeasure) -> int:
    """Return the fewest samples that give the front end the 16 frames the LCNN stack needs."""
    lengths = torch.arange(1, 60 * model.sample_rate + 1)
    enough = torch.nonzero(model.frontend.num_frames(lengths) >= MIN_INPUT_SIZE).flatten()
    if enough.numel() == 0:
        raise ExportError("the front end gives fewer than 16 frames even for one minute of audio.")
    return int(lengths[enough[0]])


def export_metadata(model: Countermeasure) -> dict[str, str]:
    """Return the metadata stored with an export, as strings."""
    return {
        "sample_rate": str(model.sample_rate),
        "min_samples": str(minimum_samples(model)),
        "score_convention": SCORE_CONVENTION,
        "input": f"{INPUT_NAME}: float32 (batch, samples), each row one whole utterance",
        "spec": json.dumps(model.spec, sort_keys=True),
        "lcnn_version": __version__,
    }


def _test_waveforms(model: Countermeasure, waveforms: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
    if waveforms:
        return [torch.as_tensor(w, dtype=torch.float32).reshape(-1) for w in waveforms]
    # Seeded noise at lengths other than the tracing example's, so a length fixed at trace time shows up.
    generator = torch.Generator().manual_seed(0)
    rate = model.sample_rate
    return [0.1 * torch.randn(int(seconds * rate), generator=generator) for seconds in (0.73, 2.41)]


def _verify(
    run_export,
    reference: nn.Module,
    waveforms: list[torch.Tensor],
    *,
    atol: float,
    rtol: float,
    format_name: str,
) -> float:
    """Compare ``run_export(batch)`` with ``reference(batch)`` on each waveform and on a batch of two."""
    batches = [w.unsqueeze(0) for w in waveforms]
    batches.append(torch.stack([waveforms[0], waveforms[0].flip(0)]))
    worst = 0.0
    for batch in batches:
        with torch.no_grad():
            expected = reference(batch).numpy()
        found = np.asarray(run_export(batch))
        if found.shape != expected.shape:
            raise ExportError(
                f"the {format_name} export returns shape {found.shape} for input {tuple(batch.shape)}, "
                f"expected {expected.shape}."
            )
        difference = np.abs(found - expected)
        worst = max(worst, float(difference.max()))
        if not np.all(difference <= atol + rtol * np.abs(expected)):
            raise ExportError(
                f"the {format_name} export differs from the PyTorch model by up to {difference.max():.3g} "
                f"on input {tuple(batch.shape)} (tolerance atol={atol}, rtol={rtol}). A layer probably "
                "depends on the input length in a way the export fixed. The file was not written."
            )
    return worst


def _import_optional(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ExportError(
            f"{name} is not installed; install the export extra: pip install 'lcnn[export]'."
        ) from error


def _export_copy(model: Countermeasure) -> ScoringModule:
    if model.spec is None:
        raise ExportError(
            "the model has no spec; build it with build_countermeasure or load it from a checkpoint."
        )
    return ScoringModule(copy.deepcopy(model).cpu().eval()).eval()


def _unsupported_operator(error: Exception, opset: int) -> ExportError:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    match = re.search(r"operator '([^']+)'", message)
    if match:
        return ExportError(
            f"cannot export to ONNX: operator {match.group(1)} has no ONNX conversion at opset {opset} "
            f"({message}). Replace it with supported operations (for example a DFT as a matrix product "
            "instead of torch.fft or torch.stft), try a newer --opset, or export to TorchScript."
        )
    return ExportError(f"cannot export to ONNX at opset {opset}: {type(error).__name__}: {message}")


def export_onnx(
    model: Countermeasure,
    path: str | os.PathLike,
    *,
    force: bool = False,
    opset: int = DEFAULT_OPSET,
    verify_waveforms: Sequence[torch.Tensor] | None = None,
    atol: float = 1e-4,
    rtol: float = 1e-5,
) -> Path:
    """Export ``model`` to an ONNX file with dynamic batch and length, then verify it.

    Args:
        model: the countermeasure; it is copied to the CPU in eval mode and left unchanged.
        path: output ``.onnx`` file.
        force: overwrite an existing file.
        opset: ONNX opset version, >= 14.
        verify_waveforms: 1-D waveforms at the model's sample rate to compare on; seeded noise of
            0.73 s and 2.41 s when ``None``.
        atol, rtol: allowed difference between ONNX Runtime and PyTorch scores.

    Returns:
        ``path`` as a Path.

    Raises:
        ExportError: an operator has no ONNX conversion (the message names it), the opset is below
            14, or the exported scores differ from PyTorch's. Nothing is written then.
        OutputExistsError: ``path`` exists and ``force`` is false.
    """
    onnx = _import_optional("onnx")
    onnxruntime = _import_optional("onnxruntime")

    path = check_writable(path, force=force)
    if opset < MIN_OPSET:
        raise ExportError(
            f"opset {opset} is too old for the LSTM with a dynamic length; use --opset {MIN_OPSET} or newer."
        )
    module = _export_copy(model)
    waveforms = _test_waveforms(model, verify_waveforms)
    example = 0.1 * torch.randn(2, 2 * model.sample_rate, generator=torch.Generator().manual_seed(1))
    buffer = io.BytesIO()
    try:
        # No autograd while tracing, so that layers with custom autograd functions take their plain path.
        with warnings.catch_warnings(), torch.no_grad():
            # Tracer and deprecation warnings are expected here, and the verification below catches a bad trace.
            warnings.simplefilter("ignore")
            # NOTE: the TorchScript-based exporter (dynamo=False) is used because the dynamo exporter of
            # PyTorch 2.13 fails on the LSTM with a symbolic length.
            torch.onnx.export(
                module,
                (example,),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch", 1: "samples"}, OUTPUT_NAME: {0: "batch"}},
            )
    except (torch.onnx.errors.OnnxExporterError, RuntimeError) as error:
        raise _unsupported_operator(error, opset) from error

    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in export_metadata(model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    worst = _verify(
        lambda batch: session.run(None, {INPUT_NAME: batch.numpy()})[0],
        module, waveforms, atol=atol, rtol=rtol, format_name="ONNX",
    )
    with atomic_write(path, "wb", force=force) as handle:
        handle.write(data)
    logger.info("exported %s (opset %d); max difference to PyTorch %.3g", path, opset, worst)
    return path


def export_torchscript(
    model: Countermeasure,
    path: str | os.PathLike,
    *,
    force: bool = False,
    verify_waveforms: Sequence[torch.Tensor] | None = None,
    atol: float = 1e-4,
    rtol: float = 1e-5,
) -> Path:
    """Trace ``model`` to a TorchScript file, then verify it at other lengths and batch sizes.

    Args and Raises: as :func:`export_onnx`, without ``opset``. The metadata is stored as the extra
    file ``lcnn.json``; read it with ``torch.jit.load(path, _extra_files={"lcnn.json": ""})``.
    """
    path = check_writable(path, force=force)
    module = _export_copy(model)
    waveforms = _test_waveforms(model, verify_waveforms)
    example = 0.1 * torch.randn(2, 2 * model.sample_rate, generator=torch.Generator().manual_seed(1))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, (example,), check_trace=False)
    except RuntimeError as error:
        raise ExportError(f"cannot trace the model to TorchScript: {error}") from error

    buffer = io.BytesIO()
    metadata = json.dumps(export_metadata(model), sort_keys=True)
    with warnings.catch_warnings():
        # NOTE: PyTorch 2.13 deprecates torch.jit; TorchScript files still save and load.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, buffer, _extra_files={TORCHSCRIPT_METADATA: metadata})
        loaded = torch.jit.load(io.BytesIO(buffer.getvalue()), map_location="cpu")
    worst = _verify(
        lambda batch: loaded(batch).detach().numpy(),
        module, waveforms, atol=atol, rtol=rtol, format_name="TorchScript",
    )
    with atomic_write(path, "wb", force=force) as handle:
        handle.write(buffer.getvalue())
    logger.info("exported %s (TorchScript); max difference to PyTorch %.3g", path, worst)
    return path


def export_model(model: Countermeasure, path: str | os.PathLike, *, format: str, **kwargs: Any) -> Path:
    """Export ``model`` in ``format`` (``"onnx"`` or ``"torchscript"``); see :func:`export_onnx`.

    Raises:
        ExportError: an unknown format, or as the format's export function.
    """
    if format == "onnx":
        return export_onnx(model, path, **kwargs)
    if format == "torchscript":
        kwargs.pop("opset", None)
        return export_torchscript(model, path, **kwargs)
    raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}.")


class OnnxScorer:
    """Score waveforms with an exported ``.onnx`` countermeasure through ONNX Runtime.

    Args:
        path: file written by :func:`export_onnx`.
        providers: ONNX Runtime execution providers; the CPU provider when ``None``.
        num_threads: intra-op threads; ONNX Runtime's default when ``None``.

    Attributes:
        sample_rate: Hz expected by the model, from the file's metadata.
        min_samples: shortest waveform the model accepts.
        metadata: every metadata entry of the file.

    Example:
        >>> scorer = OnnxScorer("model.onnx")
        >>> scores = scorer(np.zeros((1, scorer.sample_rate), dtype=np.float32))   # (1,), higher = bona fide

    Raises:
        ExportError: the file has no lcnn metadata (``sample_rate``).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        providers: Sequence[str] | None = None,
        num_threads: int | None = None,
    ) -> None:
        onnxruntime = _import_optional("onnxruntime")
        options = onnxruntime.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
        self.path = Path(path)
        self.session = onnxruntime.InferenceSession(
            str(self.path), options, providers=list(providers or ["CPUExecutionProvider"])
        )
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        if "sample_rate" not in self.metadata:
            raise ExportError(f"{self.path} has no 'sample_rate' metadata; export it with `lcnn export`.")
        self.sample_rate = int(self.metadata["sample_rate"])
        self.min_samples = int(self.metadata.get("min_samples", 1))

    def __call__(self, waveform: np.ndarray) -> np.ndarray:
        """Score ``(batch, samples)`` waveforms (each row one whole utterance), giving ``(batch,)``.

        Raises:
            ValueError: the input is not 2-D, is shorter than ``min_samples`` or is not finite.
        """
        waveform = np.asarray(waveform, dtype=np.float32)
        if waveform.ndim != 2:
            raise ValueError(
                f"expected a waveform batch of shape (batch, samples), got shape {waveform.shape}."
            )
        if waveform.shape[1] < self.min_samples:
            raise ValueError(
                f"waveforms have {waveform.shape[1]} samples; the model needs at least {self.min_samples} "
                f"({self.min_samples / self.sample_rate:.3f} s at {self.sample_rate} Hz)."
            )
        if not np.all(np.isfinite(waveform)):
            raise ValueError("the waveform contains NaN or infinite samples.")
        return self.session.run(None, {INPUT_NAME: waveform})[0]

    def score_file(self, path: str | os.PathLike) -> float:
        """Load an audio file at the model's sample rate and return its score."""
        from lcnn.audio import load_audio

        waveform = load_audio(path, sample_rate=self.sample_rate).numpy()
        return float(self(waveform[None, :])[0])
