"""wav I/O through scipy.io.wavfile, resampling and mixing down (jaxdl.data.audio_files)."""

import struct
import wave

import numpy as np
import pytest
from scipy.io import wavfile

from jaxdl.data import audio_files as F
from jaxdl.errors import UserError

# The KSDATAFORMAT_SUBTYPE_* GUID after its 2-byte format code, as stored in RIFF files.
GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


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
           + struct.pack("<H", 1) + GUID_TAIL)
    (tmp_path / "e.wav").write_bytes(_wav_bytes(ext, raw.tobytes()))
    y, rate = F.read_wav(tmp_path / "e.wav")
    assert rate == 48000
    np.testing.assert_array_equal(y, ints / 2.0 ** 23)
    # ... and the float sub-format.
    ext = (_fmt(0xFFFE, 1, 8000, 32) + struct.pack("<HHI", 22, 32, 4)
           + struct.pack("<H", 3) + GUID_TAIL)
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


# --------------------------------------------------------------------------- scipy behaviour


@pytest.mark.parametrize("dtype,values,expected", [
    # Each format scipy writes, with its extremes: 8-bit is unsigned around 128;
    # signed integers are divided by their full scale; floats come back as stored.
    ("uint8", [0, 1, 127, 128, 255], [-1.0, -127 / 128, -1 / 128, 0.0, 127 / 128]),
    ("int16", [-32768, -1, 0, 1, 32767], [-1.0, -2.0 ** -15, 0.0, 2.0 ** -15, 1 - 2.0 ** -15]),
    ("int32", [-2 ** 31, -1, 0, 2 ** 30, 2 ** 31 - 1],
     [-1.0, -2.0 ** -31, 0.0, 0.5, 1 - 2.0 ** -31]),
    ("int64", [-2 ** 63, 0, 2 ** 62, 2 ** 63 - 1], [-1.0, 0.0, 0.5, 1 - 2.0 ** -63]),
    ("float32", [-1.0, 0.1, 1.5, -3.0], [-1.0, 0.1, 1.5, -3.0]),
    ("float64", [-1.0, 0.1, 1.5, 1e-40], [-1.0, 0.1, 1.5, 1e-40]),
])
@pytest.mark.parametrize("channels", [1, 2])
def test_every_scipy_format_reads_exactly(tmp_path, dtype, values, expected, channels):
    data = np.array(values, dtype)
    if channels == 2:
        data = np.stack([data, data[::-1]], 1)
    wavfile.write(tmp_path / "x.wav", 11025, data)
    y, rate = F.read_wav(tmp_path / "x.wav")
    want = np.array(expected, np.float64).astype(np.float32)[:, None]
    if channels == 2:
        want = np.concatenate([want, want[::-1]], 1)
    assert rate == 11025 and y.dtype == np.float32 and y.shape == (len(values), channels)
    np.testing.assert_array_equal(y, want)


def test_pcm24_exact_and_12_bit_in_16_bit_container(tmp_path):
    ints = np.array([-2 ** 23, -1, 0, 1, 2 ** 22, 2 ** 23 - 1])
    raw = np.stack([ints & 0xFF, (ints >> 8) & 0xFF, (ints >> 16) & 0xFF], -1).astype(np.uint8)
    (tmp_path / "p24.wav").write_bytes(_wav_bytes(_fmt(1, 1, 8000, 24), raw.tobytes()))
    np.testing.assert_array_equal(F.read_wav(tmp_path / "p24.wav")[0][:, 0], ints / 2.0 ** 23)
    # 12 valid bits, left-justified in 2-byte containers (block align 2): scaled by
    # the container, as scipy reads any depth up to 64 bits.
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 12)
    twelve = np.array([-2048, -1, 0, 1024, 2047])
    (tmp_path / "p12.wav").write_bytes(_wav_bytes(fmt, (twelve * 16).astype("<i2").tobytes()))
    np.testing.assert_array_equal(F.read_wav(tmp_path / "p12.wav")[0][:, 0], twelve / 2048.0)


def test_rifx_big_endian(tmp_path):
    fmt = struct.pack(">HHIIHH", 1, 2, 8000, 32000, 4, 16)
    data = np.array([[-32768, 16384], [1, -1]], ">i2").tobytes()
    chunks = (b"fmt " + struct.pack(">I", 16) + fmt + b"data" + struct.pack(">I", len(data))
              + data)
    (tmp_path / "be.wav").write_bytes(b"RIFX" + struct.pack(">I", 4 + len(chunks)) + b"WAVE"
                                      + chunks)
    y, rate = F.read_wav(tmp_path / "be.wav")
    assert rate == 8000
    np.testing.assert_array_equal(y, [[-1.0, 0.5], [2.0 ** -15, -2.0 ** -15]])


def test_written_bytes_are_the_canonical_layout(tmp_path):
    F.write_wav(tmp_path / "p.wav", [0.5, -1.0], 8000)
    assert (tmp_path / "p.wav").read_bytes() == (
        b"RIFF" + struct.pack("<I", 40) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
        + b"data" + struct.pack("<Ihh", 4, 16384, -32768))
    F.write_wav(tmp_path / "f.wav", [[0.25, 2.0]], 8000, bits=32)
    assert (tmp_path / "f.wav").read_bytes() == (
        b"RIFF" + struct.pack("<I", 58) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHHH", 18, 3, 2, 8000, 64000, 8, 32, 0)
        + b"fact" + struct.pack("<II", 4, 1)
        + b"data" + struct.pack("<Iff", 8, 0.25, 2.0))


def test_cut_at_a_frame_boundary_is_still_truncated(tmp_path):
    # scipy alone returns the 98 frames it finds (with a warning); a shortened
    # word is an error here, as any other truncation.
    good = _wav_bytes(_fmt(1, 1, 16000, 16), np.zeros(100, "<i2").tobytes())
    (tmp_path / "cut.wav").write_bytes(good[:-4])
    with pytest.warns(wavfile.WavFileWarning), \
            pytest.raises(F.AudioError, match="'data' chunk declares 200 bytes but only 196"):
        F.read_wav(tmp_path / "cut.wav")


def test_lenient_where_only_the_riff_size_is_wrong(tmp_path):
    # A RIFF size past the end of a complete file (some writers get it wrong): the
    # samples are all there, so they are read; scipy warns.
    data = np.arange(10, dtype="<i2")
    good = bytearray(_wav_bytes(_fmt(1, 1, 8000, 16), data.tobytes()))
    good[4:8] = struct.pack("<I", len(good) + 100)
    (tmp_path / "big.wav").write_bytes(bytes(good))
    with pytest.warns(wavfile.WavFileWarning, match="EOF"):
        y, _ = F.read_wav(tmp_path / "big.wav")
    np.testing.assert_array_equal(y[:, 0], data / 32768.0)
    # Too small, so the data chunk lies outside it: scipy finds no data.
    good[4:8] = struct.pack("<I", 20)
    (tmp_path / "small.wav").write_bytes(bytes(good))
    with pytest.raises(F.AudioError, match="RIFF header's size .20 bytes. ends before"):
        F.read_wav(tmp_path / "small.wav")


def test_unknown_chunks_are_skipped_with_scipys_warning(tmp_path):
    bext = b"bext" + struct.pack("<I", 3) + b"abc" + b"\x00"
    data = np.array([1, -2], "<i2")
    (tmp_path / "b.wav").write_bytes(_wav_bytes(_fmt(1, 1, 8000, 16), data.tobytes(), bext))
    with pytest.warns(wavfile.WavFileWarning, match="not understood"):
        y, _ = F.read_wav(tmp_path / "b.wav")
    np.testing.assert_array_equal(y[:, 0], data / 32768.0)


@pytest.mark.parametrize("content,match", [
    (b"RIFF" + struct.pack("<I", 4) + b"AVI ", "not a RIFF/WAVE"),
    (b"fLaC\x00\x00\x00\x22" + bytes(34), "not a RIFF/WAVE"),
    (b"\x89PNG\r\n\x1a\n" + bytes(20), "not a RIFF/WAVE"),
    (b"RIFF", "not a RIFF/WAVE"),
    (_wav_bytes(_fmt(0xFFFE, 1, 8000, 16) + struct.pack("<HHI", 22, 16, 4)
                + b"\x01\x00" + bytes(14), b"\x00" * 4), "sub-format GUID"),
    (_wav_bytes(_fmt(0xFFFE, 1, 8000, 16) + struct.pack("<HHI", 22, 16, 4)
                + struct.pack("<H", 2) + GUID_TAIL, b"\x00" * 4), "0x0002 .Microsoft ADPCM."),
    (_wav_bytes(_fmt(1, 0, 8000, 16), b""), "0 channels"),
    (_wav_bytes(_fmt(1, 1, 0, 16), b"\x00\x00"), "sample rate of 0"),
    (_wav_bytes(struct.pack("<HHIIHH", 1, 1, 8000, 12345, 2, 16), b"\x00\x00"),
     "scipy: WAV header is invalid: nAvgBytesPerSec"),
    (_wav_bytes(_fmt(3, 1, 8000, 16), b"\x00\x00"), "16-bit floating-point"),
    (b"RIFF" + struct.pack("<I", 44) + b"WAVE" + b"data" + struct.pack("<I", 4) + bytes(4)
     + b"fmt " + struct.pack("<I", 16) + _fmt(1, 1, 8000, 16), "'data' chunk comes before"),
])
def test_more_bad_files(tmp_path, content, match):
    (tmp_path / "bad.wav").write_bytes(content)
    with pytest.raises(F.AudioError, match=match) as err:
        F.read_wav(tmp_path / "bad.wav")
    assert str(tmp_path / "bad.wav") in str(err.value)
    assert isinstance(err.value, UserError)


def test_every_cut_and_corrupt_byte_gives_samples_or_audio_error(tmp_path):
    # Whatever scipy raises on the way (struct.error, numpy's reshape errors, ...)
    # comes out as an AudioError; nothing else escapes.
    lst = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\x00"
    files = [_wav_bytes(_fmt(1, 2, 8000, 16), np.arange(-6, 6, dtype="<i2").tobytes(), lst),
             _wav_bytes(_fmt(3, 1, 8000, 32) + b"\x00\x00", np.float32([0.5, -1]).tobytes()),
             _wav_bytes(_fmt(0xFFFE, 1, 8000, 24) + struct.pack("<HHI", 22, 24, 4)
                        + struct.pack("<H", 1) + GUID_TAIL, bytes(range(12)))]
    path = tmp_path / "x.wav"
    with pytest.warns(wavfile.WavFileWarning):  # some variants make scipy warn
        for good in files:
            variants = [good[:n] for n in range(len(good))]
            variants += [good[:i] + bytes([v]) + good[i + 1:]
                         for i in range(len(good)) for v in (0x00, 0x01, 0x7F, 0xFF)]
            for content in variants:
                path.write_bytes(content)
                try:
                    y, rate = F.read_wav(path)
                except F.AudioError as err:
                    assert err.path == str(path)
                else:
                    assert y.dtype == np.float32 and y.ndim == 2 and rate > 0


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
