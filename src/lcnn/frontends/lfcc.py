"""Linear-frequency cepstral coefficients as computed by the ASVspoof LFCC baselines.

The front end reproduces the LFCC of the ASVspoof 2019 and 2021 LFCC-LCNN baselines, whose
reference code is the ``LFCC`` class of NII ``project-NN-Pytorch-scripts``
(``sandbox/util_frontend.py``). The steps are pre-emphasis, a centred STFT with a Hamming window,
the power spectrum, linear triangular filters, ``log10``, an orthonormal DCT-II, frame log-energy in
place of the first coefficient, and unscaled deltas and delta-deltas.

Importing published NII weights: the NII state dict stores the filterbank as
``m_frontend.0.lfcc_fb`` with shape ``(kept_bins, n_filter)`` (257 x 20 for the 2019 model) and the
DCT as ``m_frontend.0.l_dct.weight`` with shape ``(n_filter, n_filter)``, rows being coefficients.
They map one to one onto this module's ``filterbank`` and ``dct`` buffers (take the first ``n_lfcc``
rows of the DCT when ``n_lfcc < n_filter``); pass them as ``filterbank=`` and ``dct=`` or copy them
into ``state_dict()`` before ``load_state_dict``.
"""

from __future__ import annotations

import torch

from lcnn.errors import ConfigError
from lcnn.frontends import functional
from lcnn.frontends.base import Frontend, check_band, check_choice, check_positive_int, warn_empty_filters
from lcnn.frontends.stft import PowerSTFT

__all__ = ["LFCC", "LFCC_PRESETS"]

_FLOAT32_EPS = float(torch.finfo(torch.float32).eps)

# Every setting of the two baselines, so a preset never depends on the class defaults.
LFCC_PRESETS: dict[str, dict] = {
    "asvspoof2019": dict(
        sample_rate=16000, n_fft=512, win_length=320, hop_length=160, f_min=0.0, f_max=None,
        n_filter=20, n_lfcc=20, window="hamming", pre_emphasis=0.97, log_energy=True,
        delta_order=2, delta_width=1, normalize_deltas=False, filterbank_layout="asvspoof",
        center=True, pad_mode="constant", log_eps=_FLOAT32_EPS,
    ),
    "asvspoof2021": dict(
        sample_rate=16000, n_fft=1024, win_length=320, hop_length=160, f_min=0.0, f_max=4000.0,
        n_filter=20, n_lfcc=20, window="hamming", pre_emphasis=0.97, log_energy=True,
        delta_order=2, delta_width=1, normalize_deltas=False, filterbank_layout="asvspoof",
        center=True, pad_mode="constant", log_eps=_FLOAT32_EPS,
    ),
}


class LFCC(Frontend):
    """LFCC with deltas: waveform ``(batch, samples)`` -> ``(batch, 1, n_lfcc * (1 + delta_order), frames)``.

    The defaults are the ASVspoof 2019 LFCC-LCNN front end (preset ``"asvspoof2019"``); see
    :meth:`from_preset` for the 2021 one. Feature rows are ``[c_0..c_{n_lfcc-1}, deltas, delta-deltas]``.

    Args:
        sample_rate: Hz of the input waveform.
        n_fft: FFT size.
        win_length: int <= n_fft, samples per frame, the window being centred in the FFT frame.
        hop_length: samples between frames.
        f_min, f_max: filterbank band in Hz; ``f_max=None`` is Nyquist. An f_max above Nyquist
            warns and is lowered to Nyquist.
        n_filter: number of linear triangular filters (peak 1, not area-normalised).
        n_lfcc: cepstral coefficients kept, <= n_filter.
        window: analysis window (periodic), one of ``functional.WINDOWS``.
        pre_emphasis: coefficient of ``x[n] - a x[n-1]`` (first sample kept); 0 disables it.
        log_energy: replace coefficient 0 by ``log10(sum(power) / n_fft + log_eps)`` over the kept bins.
        delta_order: 0 (static only), 1 (+ deltas) or 2 (+ deltas and delta-deltas).
        delta_width: frames on each side in the delta formula; the baselines use 1.
        normalize_deltas: divide deltas by ``2 * sum n**2`` (HTK); the baselines do not.
        filterbank_layout: ``"asvspoof"`` or ``"fft"``; see ``functional.linear_filterbank``.
        center: centre frames on ``t * hop_length`` with ``n_fft // 2`` samples of padding.
        pad_mode: ``"constant"`` (zeros, as the baselines) or ``"reflect"``.
        log_eps: offset inside ``log10``, float32 machine epsilon in the baselines.
        filterbank: optional ``(kept_bins, n_filter)`` matrix replacing the built one.
        dct: optional DCT matrix, ``(n_lfcc, n_filter)`` or ``(n_filter, n_filter)`` (first rows kept).

    Buffers:
        ``filterbank`` ``(kept_bins, n_filter)`` applied to FFT bins ``first_bin : first_bin + kept_bins``;
        ``dct`` ``(n_lfcc, n_filter)``; ``stft.window``, ``stft.dft_real``, ``stft.dft_imag``.

    Raises:
        ConfigError: an invalid setting or matrix shape; the message names the value.

    Example:
        >>> frontend = LFCC.from_preset("asvspoof2019")
        >>> frontend(torch.zeros(2, 16000)).shape
        torch.Size([2, 1, 60, 101])
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_fft: int = 512,
        win_length: int = 320,
        hop_length: int = 160,
        f_min: float = 0.0,
        f_max: float | None = None,
        n_filter: int = 20,
        n_lfcc: int = 20,
        window: str = "hamming",
        pre_emphasis: float = 0.97,
        log_energy: bool = True,
        delta_order: int = 2,
        delta_width: int = 1,
        normalize_deltas: bool = False,
        filterbank_layout: str = "asvspoof",
        center: bool = True,
        pad_mode: str = "constant",
        log_eps: float = _FLOAT32_EPS,
        filterbank: torch.Tensor | None = None,
        dct: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("n_filter", n_filter)
        check_positive_int("n_lfcc", n_lfcc)
        check_positive_int("delta_width", delta_width)
        check_choice("delta_order", delta_order, (0, 1, 2))
        check_choice("filterbank_layout", filterbank_layout, ("asvspoof", "fft"))
        if n_lfcc > n_filter:
            raise ConfigError(f"n_lfcc ({n_lfcc}) must not exceed n_filter ({n_filter}).")
        if not 0.0 <= pre_emphasis < 1.0:
            raise ConfigError(f"pre_emphasis must be in [0, 1); got {pre_emphasis}.")
        if log_eps <= 0:
            raise ConfigError(f"log_eps must be > 0; got {log_eps}.")
        self.stft = PowerSTFT(
            n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
            center=center, pad_mode=pad_mode, power=2.0, sample_rate=sample_rate,
        )
        f_max = check_band(f_min=f_min, f_max=f_max, sample_rate=sample_rate, clamp=True)

        built, first_bin = functional.linear_filterbank(
            sample_rate=sample_rate, n_fft=n_fft, n_filter=n_filter, f_min=f_min, f_max=f_max,
            layout=filterbank_layout,
        )
        if filterbank is None:
            filterbank = built
            warn_empty_filters(filterbank, what="LFCC")
        else:
            filterbank = _as_float32_matrix("filterbank", filterbank, tuple(built.shape))
        if dct is None:
            dct = functional.dct_matrix(n_lfcc, n_filter)
        else:
            dct = torch.as_tensor(dct)
            if dct.dim() == 2 and dct.shape[0] >= n_lfcc and dct.shape[1] == n_filter:
                dct = dct[:n_lfcc]
            dct = _as_float32_matrix("dct", dct, (n_lfcc, n_filter))

        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.f_min = float(f_min)
        self.f_max = f_max
        self.n_filter = n_filter
        self.n_lfcc = n_lfcc
        self.pre_emphasis = float(pre_emphasis)
        self.log_energy = log_energy
        self.delta_order = delta_order
        self.delta_width = delta_width
        self.normalize_deltas = normalize_deltas
        self.filterbank_layout = filterbank_layout
        self.log_eps = float(log_eps)
        self.first_bin = first_bin
        self.n_kept_bins = int(filterbank.shape[0])
        self.n_features = n_lfcc * (1 + delta_order)
        self.register_buffer("filterbank", filterbank)
        self.register_buffer("dct", dct)

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> "LFCC":
        """Build the LFCC of a published system, with any setting overridden by keyword.

        Presets:
            ``"asvspoof2019"``: n_fft 512, 0-8 kHz (whole band at 16 kHz), as the LFCC-LCNN models
            trained on ASVspoof 2019 LA. ``"asvspoof2021"``: n_fft 1024, 0-4 kHz, as the ASVspoof 2021
            LFCC-LCNN baseline. Both: 16 kHz, Hamming window of 320, hop 160, 20 filters, 20
            coefficients with log-energy, deltas and delta-deltas (60 features).

        Raises:
            ConfigError: unknown preset; the message lists the known ones.
        """
        if preset not in LFCC_PRESETS:
            known = ", ".join(sorted(LFCC_PRESETS))
            raise ConfigError(f"unknown LFCC preset {preset!r}; expected one of {known}.")
        settings = dict(LFCC_PRESETS[preset])
        settings.update(overrides)
        return cls(**settings)

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Return the valid frames per utterance, ``(batch,)`` int64: ``1 + lengths // hop_length`` if centred."""
        return self.stft.num_frames(lengths)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Compute LFCC features.

        Args:
            waveform: ``(batch, samples)`` float in [-1, 1].
            lengths: optional ``(batch,)`` valid samples of a zero-padded batch. Samples past each
                length are zeroed after pre-emphasis, and deltas repeat each utterance's last valid
                frame. The valid frames then equal those of each utterance alone.

        Returns:
            ``(batch, 1, n_features, frames)``.
        """
        emphasised = self._emphasise(waveform, lengths)
        power = self.stft(emphasised)
        power = power[:, self.first_bin : self.first_bin + self.n_kept_bins]

        filter_energies = torch.log10(torch.matmul(self.filterbank.T, power) + self.log_eps)
        coefficients = torch.matmul(self.dct, filter_energies)
        if self.log_energy:
            energy = torch.log10(power.sum(dim=1, keepdim=True) / self.n_fft + self.log_eps)
            coefficients = torch.cat([energy, coefficients[:, 1:]], dim=1)

        frame_lengths = None if lengths is None else self.num_frames(lengths)
        parts = [coefficients]
        for _ in range(self.delta_order):
            parts.append(
                functional.deltas(
                    parts[-1], width=self.delta_width, normalize=self.normalize_deltas, lengths=frame_lengths
                )
            )
        return torch.cat(parts, dim=1).unsqueeze(1)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, band=({self.f_min}, {self.f_max}), n_filter={self.n_filter}, "
            f"n_lfcc={self.n_lfcc}, delta_order={self.delta_order}, layout={self.filterbank_layout!r}"
        )


def _as_float32_matrix(name: str, matrix: object, shape: tuple[int, int]) -> torch.Tensor:
    tensor = torch.as_tensor(matrix).detach().to(device="cpu", dtype=torch.float32).clone()
    if tuple(tensor.shape) != shape:
        raise ConfigError(
            f"{name} matrix has shape {tuple(tensor.shape)}; these settings need {shape} "
            "(rows: FFT bins for the filterbank, coefficients for the DCT)."
        )
    return tensor
