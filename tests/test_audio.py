"""Audio features (jaxdl.audio) against scipy; wav I/O is in tests/data/test_audio_files.py."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal

from jaxdl import audio as A


def _scipy_stft(x, window_length, hop, nfft):
    _, _, z = scipy.signal.stft(
        x, window="hann", nperseg=window_length, noverlap=window_length - hop, nfft=nfft,
        boundary=None, padded=False, detrend=False, return_onesided=True,
        scaling="spectrum")
    return np.swapaxes(z, -1, -2)


# --------------------------------------------------------------------------- STFT


@pytest.mark.parametrize("window_length,hop,nfft", [(200, 80, None), (256, 128, None),
                                                     (200, 80, 256)])
def test_stft_matches_scipy_float32(window_length, hop, nfft):
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    ours = np.asarray(A.stft(x, window_length=window_length, hop=hop, nfft=nfft))
    ref = _scipy_stft(x, window_length, hop, nfft)
    assert ours.dtype == np.complex64
    assert ours.shape == ref.shape == (A.num_frames(4000, window_length, hop),
                                       (nfft or window_length) // 2 + 1)
    assert np.max(np.abs(ours - ref)) < 1e-5


def test_stft_matches_scipy_with_batch_axes():
    x = np.random.default_rng(1).standard_normal((2, 3, 1601)).astype(np.float32)
    ours = np.asarray(A.stft(x, window_length=200, hop=80, nfft=256))
    ref = _scipy_stft(x, 200, 80, 256)
    assert ours.shape == ref.shape == (2, 3, 18, 129)
    assert np.max(np.abs(ours - ref)) < 1e-5


def test_stft_float64_stays_float64_and_is_exact():
    x = np.random.default_rng(2).standard_normal(3000)
    with jax.enable_x64(True):
        ours = np.asarray(A.stft(jnp.asarray(x, jnp.float64), window_length=200, hop=80))
    assert ours.dtype == np.complex128
    assert np.max(np.abs(ours - _scipy_stft(x, 200, 80, None))) < 1e-12


def test_stft_is_not_trivially_small():
    # Guard against a comparison that passes because both sides are ~0: a unit
    # sine at an exact bin has |X| = 1/2 with 'spectrum' scaling.
    n = np.arange(2000)
    x = np.sin(2 * np.pi * 10 * n / 200).astype(np.float32)
    mag = np.abs(np.asarray(A.stft(x, window_length=200, hop=80)))
    np.testing.assert_allclose(mag[:, 10], 0.5, atol=1e-5)


def test_hann_window_matches_scipy():
    for n in (1, 2, 7, 200, 256):
        np.testing.assert_allclose(A.hann_window(n), scipy.signal.get_window("hann", n),
                                   atol=1e-7)


def test_stft_rejects_nfft_below_window():
    with pytest.raises(ValueError, match="nfft"):
        A.stft(np.zeros(1000, np.float32), window_length=200, hop=80, nfft=128)


def test_frame_contents():
    x = np.arange(20.0, dtype=np.float32)
    f = np.asarray(A.frame(x, 6, 4))
    assert f.shape == (4, 6)
    np.testing.assert_array_equal(f[2], np.arange(8, 14))
    np.testing.assert_array_equal(f[-1], np.arange(12, 18))


# --------------------------------------------------------------------------- shapes


def test_num_frames_hand_computed():
    assert A.num_frames(160000, 200, 80) == 1998   # 1 + 159800 // 80
    assert A.num_frames(200, 200, 80) == 1
    assert A.num_frames(279, 200, 80) == 1
    assert A.num_frames(280, 200, 80) == 2
    assert A.num_frames(441000, 441, 441) == 1000
    with pytest.raises(ValueError, match="shorter than one window"):
        A.num_frames(199, 200, 80)
    for bad in [(1000, 0, 80), (1000, 200, 0), (1000, -1, 80), (1000, 200, -5)]:
        with pytest.raises(ValueError, match="positive"):
            A.num_frames(*bad)


@pytest.mark.parametrize("rate,seconds,window,hop,nfft,mel", [
    (16000, 0.25, 200, 80, None, 0),
    (8000, 0.3, 128, 64, 256, 0),
    (22050, 0.2, 512, 160, None, 40),
    (44100, 0.1, 441, 220, 512, 0),
])
def test_feature_spec_shapes(rate, seconds, window, hop, nfft, mel):
    spec = A.FeatureSpec(sample_rate=rate, window_length=window, hop=hop, nfft=nfft,
                         mel_bins=mel)
    n = int(rate * seconds)
    x = np.random.default_rng(3).standard_normal(n).astype(np.float32)
    out = spec(x)
    expected_bins = mel or (nfft or window) // 2 + 1
    assert spec.num_bins == expected_bins
    assert out.shape == (1 + (n - window) // hop, expected_bins) == (spec.num_frames(n),
                                                                    spec.num_bins)
    assert out.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(out)))


def test_feature_spec_trigger_word_defaults():
    spec = A.FeatureSpec()
    assert spec.num_bins == 101
    assert spec.num_frames(10 * 16000) == 1998
    assert spec.frame_seconds == pytest.approx(0.005)


def test_feature_spec_values_are_log_magnitude():
    x = np.random.default_rng(4).standard_normal(1000).astype(np.float32)
    spec = A.FeatureSpec(eps=1e-3)
    ref = np.log(np.abs(_scipy_stft(x, 200, 80, None)) + 1e-3)
    np.testing.assert_allclose(spec(x), ref, atol=1e-4)
    lin = dataclasses.replace(spec, log=False)
    np.testing.assert_allclose(lin(x), np.abs(_scipy_stft(x, 200, 80, None)), atol=1e-5)
    mel = A.FeatureSpec(mel_bins=20, log=False)
    fb = np.asarray(A.mel_filterbank(20, 200, 16000))
    np.testing.assert_allclose(mel(x), np.abs(_scipy_stft(x, 200, 80, None)) @ fb,
                               atol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(sample_rate=0), "sample_rate"), (dict(window_length=0), "window_length"),
    (dict(hop=-1), "hop"), (dict(nfft=128), "nfft"), (dict(mel_bins=-1), "mel_bins"),
    (dict(eps=0.0), "eps"), (dict(log=1), "log"), (dict(hop=80.0), "hop"),
    (dict(mel_bins=90), "too many"),
])
def test_feature_spec_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        A.FeatureSpec(**kwargs)


# --------------------------------------------------------------------------- content


@pytest.mark.parametrize("k", [3, 17, 50, 99])
def test_sine_at_bin_k_peaks_at_bin_k(k):
    rate, window = 16000, 200
    t = np.arange(4000) / rate
    x = (0.3 * np.sin(2 * np.pi * k * rate / window * t + 0.7)).astype(np.float32)
    feats = np.asarray(A.FeatureSpec()(x))
    assert np.all(np.argmax(feats, axis=-1) == k)
    # Hann leakage reaches only the neighbours: two bins away is at the floor.
    assert np.all(feats[:, k] - feats[:, k + 2 if k + 2 <= 100 else k - 2] > 5)


def test_mel_filterbank_properties():
    rate, nfft, m = 16000, 512, 40
    fb = np.asarray(A.mel_filterbank(m, nfft, rate))
    assert fb.shape == (nfft // 2 + 1, m) and fb.dtype == np.float32
    assert np.all(fb >= 0) and np.all(fb <= 1)
    assert np.all(np.count_nonzero(fb, axis=0) >= 1)
    # Independent check of the triangle: centres from the HTK formula; the value
    # at the FFT bin nearest a centre is 1 minus its distance over the half-width.
    mel = lambda f: 2595 * np.log10(1 + f / 700)           # noqa: E731
    hz = lambda mm: 700 * (10 ** (mm / 2595) - 1)         # noqa: E731
    edges = hz(np.linspace(mel(0), mel(rate / 2), m + 2))
    bins = np.arange(nfft // 2 + 1) * rate / nfft
    for j in range(m):
        lo, c, hi = edges[j:j + 3]
        b = int(np.argmin(np.abs(bins - c)))
        width = (c - lo) if bins[b] <= c else (hi - c)
        assert fb[b, j] == pytest.approx(1 - abs(bins[b] - c) / width, abs=1e-5)
        assert np.all(fb[(bins <= lo) | (bins >= hi), j] == 0)
        assert np.argmax(fb[:, j]) in (b, b - 1, b + 1)
    # Where a centre falls exactly on a bin, the filter's peak is exactly 1.
    fb2 = np.asarray(A.mel_filterbank(1, 200, 16000, fmin=hz(mel(4000.0) - 300),
                                      fmax=hz(mel(4000.0) + 300)))
    assert fb2.max() == pytest.approx(1.0, abs=1e-5)
    assert fb2[50, 0] == pytest.approx(1.0, abs=1e-5)  # bin 50 of 200 at 16 kHz = 4 kHz
    assert 0 < fb2[49, 0] < 1 and 0 < fb2[51, 0] < 1


def test_mel_filterbank_errors():
    with pytest.raises(ValueError, match="Nyquist"):
        A.mel_filterbank(10, 256, 16000, fmax=9000)
    with pytest.raises(ValueError, match="no FFT bin"):
        A.mel_filterbank(128, 64, 16000)
    with pytest.raises(ValueError, match="fmin"):
        A.mel_filterbank(10, 256, 16000, fmin=5000, fmax=4000)


# --------------------------------------------------------------------------- jit/vmap


def test_jit_vmap_match_one_by_one():
    x = np.random.default_rng(5).standard_normal((3, 2400)).astype(np.float32)
    for spec in (A.FeatureSpec(), A.FeatureSpec(mel_bins=16, nfft=256)):
        one = np.stack([np.asarray(spec(xi)) for xi in x])
        np.testing.assert_allclose(jax.jit(spec)(x), one, atol=1e-5)
        np.testing.assert_allclose(jax.vmap(spec)(x), one, atol=1e-5)
        np.testing.assert_allclose(spec(x), one, atol=1e-5)
        as_static = jax.jit(lambda s, a: s(a), static_argnums=0)
        np.testing.assert_allclose(as_static(spec, x), one, atol=1e-5)
    assert hash(A.FeatureSpec()) == hash(A.FeatureSpec(16000, 200, 80))
