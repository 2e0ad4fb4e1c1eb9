"""Audio features (jaxdl.audio) against scipy, and wav I/O (jaxdl.data.audio_files)."""

import dataclasses
import struct
import wave

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal

from jaxdl import audio as A
from jaxdl.data import audio_files as F


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


# --------------------------------------------------------------------------- wav files


def _wav_bytes(fmt_body, data, extra_before_data=b""):
    chunks = b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body + extra_before_data
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _fmt(code, channels, rate, bits):
    align = channels * bits // 8
    return struct.pack("<HHIIHH", code, channels, rate, rate * align, align, bits)


def _signal(n=500, channels=1, seed=6):
    return np.random.default_rng(seed).uniform(-0.9, 0.9, (n, channels))


def test_pcm16_and_float32_round_trip(tmp_path):
    x = _signal(channels=2)
    F.write_wav(tmp_path / "a" / "b" / "pcm.wav", x, 16000)
    y, rate = F.read_wav(tmp_path / "a" / "b" / "pcm.wav")
    assert rate == 16000 and y.shape == (500, 2) and y.dtype == np.float32
    assert np.max(np.abs(y - x)) <= 0.5 / 32768 + 1e-7
    assert np.max(np.abs(y - x)) > 0  # it really was quantised
    F.write_wav(tmp_path / "f.wav", x[:, 0], 44100, bits=32)
    y, rate = F.read_wav(tmp_path / "f.wav")
    assert rate == 44100 and y.shape == (500, 1)
    np.testing.assert_array_equal(y[:, 0], x[:, 0].astype(np.float32))


def test_pcm16_clips_and_reads_with_stdlib_wave(tmp_path):
    F.write_wav(tmp_path / "c.wav", np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0]), 8000)
    with wave.open(str(tmp_path / "c.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        ints = np.frombuffer(w.readframes(6), "<i2")
    np.testing.assert_array_equal(ints, [-32768, -32768, 0, 16384, 32767, 32767])


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_widths_written_by_stdlib_wave(tmp_path, width):
    x = _signal(300, channels=2, seed=width)
    scale = 2.0 ** (8 * width - 1)
    ints = np.round(x * scale).astype(np.int64)
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    elif width == 3:
        u = ints.reshape(-1) & 0xFFFFFF
        raw = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], -1).astype(
            np.uint8).tobytes()
    else:
        raw = ints.astype(f"<i{width}").tobytes()
    with wave.open(str(tmp_path / "w.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(width)
        w.setframerate(22050)
        w.writeframes(raw)
    y, rate = F.read_wav(tmp_path / "w.wav")
    assert rate == 22050 and y.shape == (300, 2)
    np.testing.assert_allclose(y, ints / scale, atol=1e-7)
    assert np.max(np.abs(y - x)) <= 0.5 / scale + 1e-7


def test_float64_extensible_and_odd_list_chunk(tmp_path):
    x = _signal(101, channels=1)
    # float64 written by hand, with an odd-sized LIST chunk (and its pad byte) first.
    body = _fmt(3, 1, 16000, 64) + struct.pack("<H", 0)
    lst = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\x00"
    (tmp_path / "d.wav").write_bytes(_wav_bytes(body, x.astype("<f8").tobytes(), lst))
    y, _ = F.read_wav(tmp_path / "d.wav")
    np.testing.assert_array_equal(y[:, 0], x[:, 0].astype(np.float32))
    # WAVE_FORMAT_EXTENSIBLE, PCM 24-bit sub-format, stereo.
    ints = np.array([[0, -1], [8388607, -8388608], [4194304, 12345]], np.int64)
    u = ints.reshape(-1) & 0xFFFFFF
    raw = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], -1).astype(np.uint8)
    ext = (_fmt(0xFFFE, 2, 48000, 24) + struct.pack("<HHI", 22, 24, 3)
           + struct.pack("<H", 1) + F._GUID_TAIL)
    (tmp_path / "e.wav").write_bytes(_wav_bytes(ext, raw.tobytes()))
    y, rate = F.read_wav(tmp_path / "e.wav")
    assert rate == 48000
    np.testing.assert_array_equal(y, ints / 2.0 ** 23)
    # ... and the float sub-format.
    ext = (_fmt(0xFFFE, 1, 8000, 32) + struct.pack("<HHI", 22, 32, 4)
           + struct.pack("<H", 3) + F._GUID_TAIL)
    (tmp_path / "g.wav").write_bytes(_wav_bytes(ext, np.float32([0.25, -0.5]).tobytes()))
    np.testing.assert_array_equal(F.read_wav(tmp_path / "g.wav")[0][:, 0], [0.25, -0.5])


def test_bad_files_raise_audio_error_naming_path(tmp_path):
    good = _wav_bytes(_fmt(1, 1, 16000, 16), np.zeros(100, "<i2").tobytes())
    cases = {
        "truncated.wav": (good[:-51], "truncated"),
        "header_only.wav": (good[:30], "truncated"),
        "text.wav": (b"hello, this is not audio at all", "not a RIFF"),
        "empty.wav": (b"", "empty"),
        "mp3.wav": (_wav_bytes(_fmt(0x0055, 1, 16000, 0), b"\x00" * 10), "0x0055"),
        "nodata.wav": (good[:36], "no 'data'"),
        "nofmt.wav": (b"RIFF" + struct.pack("<I", 12) + b"WAVE" + b"data"
                      + struct.pack("<I", 0), "no 'fmt '"),
        "odd_frames.wav": (_wav_bytes(_fmt(1, 2, 16000, 16), b"\x00" * 6), "truncated"),
    }
    for name, (content, match) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(F.AudioError, match=match) as err:
            F.read_wav(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)
        assert isinstance(err.value, ValueError)
    for missing in (tmp_path / "missing.wav", tmp_path):
        with pytest.raises(F.AudioError, match="cannot read") as err:
            F.read_wav(missing)
        assert str(missing) in str(err.value)


def test_good_header_parses_after_truncation_check(tmp_path):
    # The 'good' bytes the error cases are cut from are themselves readable.
    good = _wav_bytes(_fmt(1, 1, 16000, 16), np.arange(100, dtype="<i2").tobytes())
    (tmp_path / "ok.wav").write_bytes(good)
    y, _ = F.read_wav(tmp_path / "ok.wav")
    np.testing.assert_array_equal(y[:, 0], np.arange(100) / 32768.0)


def test_write_wav_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="bits"):
        F.write_wav(tmp_path / "x.wav", np.zeros(10), 16000, bits=24)
    with pytest.raises(ValueError, match="NaN"):
        F.write_wav(tmp_path / "x.wav", np.array([0.0, np.nan]), 16000)


# --------------------------------------------------------------------------- helpers


def _peak_hz(x, rate):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spec) * rate / len(x)


def test_resample_keeps_frequency_and_amplitude():
    x = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(44100) / 44100)
    y = F.resample(x, 44100, 16000)
    assert y.dtype == np.float32 and len(y) == 16000
    assert _peak_hz(y, 16000) == pytest.approx(1000, abs=1.5)
    middle = y[1000:-1000]
    assert np.max(np.abs(middle)) == pytest.approx(0.5, rel=0.02)
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    same = F.resample(x, 16000, 16000)
    np.testing.assert_array_equal(same, x.astype(np.float32))
    assert len(F.resample(np.zeros((4410, 2)), 44100, 8000)) == 800


def test_load_audio(tmp_path):
    x = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050)
    F.write_wav(tmp_path / "s.wav", np.stack([x, x * 0.0], 1), 22050, bits=32)
    y = F.load_audio(tmp_path / "s.wav", 16000)
    assert y.shape == (16000,) and y.dtype == np.float32
    assert _peak_hz(y, 16000) == pytest.approx(1000, abs=1.5)
    assert np.max(np.abs(y[500:-500])) == pytest.approx(0.25, rel=0.02)  # mean of 2 channels


def test_fit_length_and_to_mono():
    a = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(F.fit_length(a, 3), [1, 2, 3])
    np.testing.assert_array_equal(F.fit_length(a, 3, offset=1), [2, 3, 4])
    np.testing.assert_array_equal(F.fit_length(a, 7), [1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(F.fit_length(a, 4, offset=3), [4, 5, 0, 0])
    assert F.fit_length(a, 0).shape == (0,)
    with pytest.raises(ValueError):
        F.fit_length(a, -1)
    st = np.array([[1.0, 3.0], [-1.0, 0.0]])
    m = F.to_mono(st)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m, [2.0, -0.5])
    np.testing.assert_array_equal(F.to_mono(a), a)


def test_list_audio_files(tmp_path):
    for rel in ["b.wav", "a/z.WAV", "a/c.wav", "a/deep/x.Wav", "notes.txt", "a/y.mp3"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    found = F.list_audio_files(tmp_path)
    assert found == sorted(found)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/c.wav", "a/deep/x.Wav", "a/z.WAV", "b.wav"]
    assert len(F.list_audio_files(tmp_path, (".wav", ".MP3"))) == 5
    with pytest.raises(F.AudioError, match="no audio files") as err:
        F.list_audio_files(tmp_path / "a" / "deep", (".flac",))
    assert str(tmp_path / "a" / "deep") in str(err.value)
    with pytest.raises(F.AudioError, match="no such folder"):
        F.list_audio_files(tmp_path / "nope")
