"""Audio features in pure JAX: framing, STFT, mel filterbank, log spectrograms.

Everything here is a pure function of arrays and static integers, so it jits,
vmaps, and works on any leading batch axes. Shapes follow from the sample rate,
window, hop and FFT length (never hard-coded): a clip of N samples gives
`num_frames(N, window_length, hop)` frames of `nfft // 2 + 1` linear bins.

For the trigger-word case study (10 s at 16 kHz, window 200, hop 80):
160000 samples -> 1998 frames of 101 bins, one frame every 5 ms.

Dtypes: float64 input stays float64 (with x64 enabled; useful for tests);
anything else is computed in float32 (complex64 for the STFT).

The host-side file I/O (wav reading, resampling) is in `jaxdl.data.audio_files`.
"""

from __future__ import annotations

import dataclasses
import functools

import jax.numpy as jnp
import numpy as np


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def _float_dtype(x: jnp.ndarray):
    """float64 if `x` is float64 (x64 enabled), float32 otherwise."""
    return jnp.float64 if x.dtype == jnp.float64 else jnp.float32


def num_frames(num_samples: int, window_length: int, hop: int) -> int:
    """Number of full frames of `window_length` samples, `hop` apart, in a signal.

    No padding: 1 + (num_samples - window_length) // hop. Raises ValueError when
    the signal is shorter than one window or window/hop are not positive.
    """
    window_length = _check_positive_int("window_length", window_length)
    hop = _check_positive_int("hop", hop)
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise ValueError(f"num_samples must be an integer, got {num_samples!r}")
    if num_samples < window_length:
        raise ValueError(
            f"signal of {num_samples} samples is shorter than one window of "
            f"{window_length} samples: no frame fits (no padding is done)")
    return 1 + (int(num_samples) - window_length) // hop


def frame(signal: jnp.ndarray, window_length: int, hop: int) -> jnp.ndarray:
    """Overlapping frames of `signal` ([..., N]) -> [..., T, window_length].

    T = num_frames(N, window_length, hop); frame t is signal[..., t*hop :
    t*hop + window_length]. One gather with static indices; same dtype as input.
    """
    signal = jnp.asarray(signal)
    if signal.ndim < 1:
        raise ValueError("frame needs a signal with a time axis, got a scalar")
    t = num_frames(signal.shape[-1], window_length, hop)
    idx = hop * np.arange(t)[:, None] + np.arange(window_length)[None, :]
    return signal[..., idx]


def hann_window(length: int, dtype=jnp.float32) -> jnp.ndarray:
    """Periodic Hann window ([length], `dtype`), as scipy.signal.get_window('hann', length).

    w[n] = 0.5 - 0.5 cos(2 pi n / length): the DFT-even form, right for spectral
    analysis (the window's last zero is the first sample of the next period).
    A window of length 1 is [1.], as in scipy.
    """
    length = _check_positive_int("length", length)
    if length == 1:
        return jnp.ones((1,), dtype)
    n = np.arange(length, dtype=np.float64)
    return jnp.asarray(0.5 - 0.5 * np.cos(2.0 * np.pi * n / length), dtype)


def stft(signal: jnp.ndarray, *, window_length: int, hop: int,
         nfft: int | None = None) -> jnp.ndarray:
    """Short-time Fourier transform, time-major: [..., N] -> complex [..., T, nfft//2 + 1].

    Periodic Hann window, no padding at either end, no detrending, one-sided,
    'spectrum' scaling (divided by the window's sum), so that the result equals
    `scipy.signal.stft(x, window='hann', nperseg=window_length,
    noverlap=window_length - hop, nfft=nfft, boundary=None, padded=False,
    detrend=False, scaling='spectrum')[2]` with its last two axes swapped.
    Each frame is zero-padded at its end to `nfft` (default `window_length`;
    smaller is an error). complex64, or complex128 for float64 input.
    """
    window_length = _check_positive_int("window_length", window_length)
    hop = _check_positive_int("hop", hop)
    nfft = window_length if nfft is None else _check_positive_int("nfft", nfft)
    if nfft < window_length:
        raise ValueError(f"nfft ({nfft}) must be at least window_length ({window_length})")
    signal = jnp.asarray(signal)
    signal = signal.astype(_float_dtype(signal))
    window = hann_window(window_length, signal.dtype)
    frames = frame(signal, window_length, hop) * (window / jnp.sum(window))
    return jnp.fft.rfft(frames, n=nfft, axis=-1)


def hz_to_mel(f):
    """HTK mel scale: 2595 log10(1 + f / 700). numpy in, numpy out."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m):
    """Inverse of `hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=32)
def _mel_filterbank_np(num_mel_bins: int, nfft: int, sample_rate: float,
                       fmin: float, fmax: float) -> np.ndarray:
    """The float64 filterbank; cached, read-only. Arguments already validated."""
    bin_hz = np.arange(nfft // 2 + 1) * (sample_rate / nfft)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), num_mel_bins + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_hz[:, None] - lower) / (centre - lower)
    falling = (upper - bin_hz[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    empty = np.flatnonzero(~np.any(weights > 0, axis=0))
    if empty.size:
        m = int(empty[0])
        raise ValueError(
            f"{num_mel_bins} mel bins are too many for nfft={nfft} at {sample_rate} Hz "
            f"between {fmin} and {fmax} Hz: {empty.size} filter(s) contain no FFT bin "
            f"(first: filter {m}, {lower[m]:.1f}-{upper[m]:.1f} Hz, while FFT bins are "
            f"{sample_rate / nfft:.1f} Hz apart); use fewer mel bins or a larger nfft")
    weights.setflags(write=False)
    return weights


def mel_filterbank(num_mel_bins: int, nfft: int, sample_rate: float,
                   fmin: float = 0.0, fmax: float | None = None) -> jnp.ndarray:
    """Triangular mel filters: float32 [nfft//2 + 1, num_mel_bins].

    HTK mel scale (2595 log10(1 + f/700)); num_mel_bins + 2 edges equally spaced
    in mel between `fmin` and `fmax` (default: Nyquist, sample_rate / 2); filter
    m rises linearly from edge m to 1 at edge m+1 and falls to 0 at edge m+2,
    sampled at the FFT bin frequencies k * sample_rate / nfft. Multiply a
    magnitude spectrum [..., nfft//2 + 1] by it to get [..., num_mel_bins].
    Raises ValueError when fmax exceeds Nyquist, fmin >= fmax, or a filter holds
    no FFT bin (too many mel bins for this nfft).
    """
    return jnp.asarray(_mel_weights(num_mel_bins, nfft, sample_rate, fmin, fmax), jnp.float32)


def _mel_weights(num_mel_bins, nfft, sample_rate, fmin=0.0, fmax=None) -> np.ndarray:
    """`mel_filterbank`'s checks, then its float64 numpy weights (read-only)."""
    num_mel_bins = _check_positive_int("num_mel_bins", num_mel_bins)
    nfft = _check_positive_int("nfft", nfft)
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    nyquist = sample_rate / 2.0
    fmax = nyquist if fmax is None else float(fmax)
    fmin = float(fmin)
    if fmax > nyquist:
        raise ValueError(f"fmax ({fmax} Hz) is above the Nyquist frequency ({nyquist} Hz)")
    if not 0.0 <= fmin < fmax:
        raise ValueError(f"need 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    return _mel_filterbank_np(num_mel_bins, nfft, float(sample_rate), fmin, fmax)


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """How raw audio becomes model input: a (log) linear or mel spectrogram.

    Frozen, hence hashable: it can be a static argument of `jax.jit`.

    Fields:
      sample_rate: Hz of the audio it is applied to (sets `frame_seconds`, mel edges).
      window_length, hop: STFT window and hop in samples.
      nfft: FFT length (None: window_length); gives nfft // 2 + 1 linear bins.
      mel_bins: 0 for linear bins, else that many HTK mel filters over 0..Nyquist.
      log: log(magnitude + eps) if True, the magnitude itself otherwise.
      eps: floor inside the log.

    Calling it maps audio [..., N] to float32 [..., T, num_bins] with
    T = spec.num_frames(N) (float64 for float64 input).
    """

    sample_rate: int = 16000
    window_length: int = 200
    hop: int = 80
    nfft: int | None = None
    mel_bins: int = 0
    log: bool = True
    eps: float = 1e-6

    def __post_init__(self):
        _check_positive_int("sample_rate", self.sample_rate)
        _check_positive_int("window_length", self.window_length)
        _check_positive_int("hop", self.hop)
        if self.nfft is not None:
            _check_positive_int("nfft", self.nfft)
            if self.nfft < self.window_length:
                raise ValueError(f"nfft ({self.nfft}) must be at least window_length "
                                 f"({self.window_length})")
        if isinstance(self.mel_bins, bool) or not isinstance(self.mel_bins, (int, np.integer)) \
                or self.mel_bins < 0:
            raise ValueError(f"mel_bins must be a non-negative integer (0 = linear bins), "
                             f"got {self.mel_bins!r}")
        if not isinstance(self.log, bool):
            raise ValueError(f"log must be a bool, got {self.log!r}")
        if not (isinstance(self.eps, (int, float)) and self.eps > 0 and np.isfinite(self.eps)):
            raise ValueError(f"eps must be a positive finite number, got {self.eps!r}")
        if self.mel_bins > 0:
            _mel_weights(self.mel_bins, self.fft_length, self.sample_rate)  # validates

    @property
    def fft_length(self) -> int:
        """The FFT length actually used: nfft, or window_length when nfft is None."""
        return self.window_length if self.nfft is None else self.nfft

    @property
    def num_bins(self) -> int:
        """Features per frame: mel_bins, or fft_length // 2 + 1 linear bins."""
        return self.mel_bins if self.mel_bins > 0 else self.fft_length // 2 + 1

    @property
    def frame_seconds(self) -> float:
        """Seconds between the starts of consecutive frames (hop / sample_rate)."""
        return self.hop / self.sample_rate

    def num_frames(self, num_samples: int) -> int:
        """Frames T in the features of a clip of `num_samples` samples."""
        return num_frames(num_samples, self.window_length, self.hop)

    def __call__(self, audio: jnp.ndarray) -> jnp.ndarray:
        """Features of `audio` [..., N]: float32 [..., num_frames(N), num_bins]."""
        spectrum = stft(audio, window_length=self.window_length, hop=self.hop,
                        nfft=self.fft_length)
        magnitude = jnp.abs(spectrum)
        if self.mel_bins > 0:
            fb = _mel_weights(self.mel_bins, self.fft_length, self.sample_rate)
            magnitude = magnitude @ jnp.asarray(fb, magnitude.dtype)
        if self.log:
            return jnp.log(magnitude + self.eps)
        return magnitude
