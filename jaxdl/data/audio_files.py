"""Audio at the edges: reading and writing wav files, resampling, mixing down.

Host-side numpy (files are I/O); the pure feature code is in `jaxdl.audio`. wav
files are parsed and written by scipy.io.wavfile; this module turns samples into
float32 in [-1, 1] and scipy's failures into AudioErrors that say what is wrong.
"""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path

import numpy as np

from jaxdl.errors import UserError


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """`audio` (float [N] or [N, C]) resampled from `from_rate` to `to_rate` Hz.

    Polyphase filtering (scipy.signal.resample_poly, a Kaiser-windowed low-pass
    against aliasing); returns float32, the input itself when the rates agree.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    audio = np.asarray(audio, np.float32)
    if from_rate == to_rate:
        return audio
    from scipy.signal import resample_poly
    g = math.gcd(int(from_rate), int(to_rate))
    return resample_poly(audio, to_rate // g, from_rate // g, axis=0).astype(np.float32)


class AudioError(UserError, ValueError):
    """An audio file that cannot be read: the message names the path and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        return (type(self), (self.path, self.problem))


_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_FORMAT_NAMES = {
    0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "mu-law",
    0x0011: "IMA ADPCM", 0x0031: "GSM 6.10", 0x0050: "MPEG", 0x0055: "MPEG Layer 3 (MP3)",
    0x00FF: "AAC", 0x1610: "HE-AAC", 0xF1AC: "FLAC",
}
# The last 12 bytes of a WAVE_FORMAT_EXTENSIBLE sub-format GUID (KSDATAFORMAT_SUBTYPE_*,
# RFC 2361) as stored in RIFF and in RIFX files; the first 4 are the format code.
_GUID_TAILS = {"<": b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71",
               ">": b"\x00\x00\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71"}


def _format_name(code: int) -> str:
    return f"0x{code:04X}" + (f" ({_FORMAT_NAMES[code]})" if code in _FORMAT_NAMES else "")


class _Reader(io.BytesIO):
    """A file in memory that notes when a read runs past its end: scipy only warns
    when a file ends early, returning fewer samples than its header declares."""

    ran_out = False

    def read(self, size=-1, /):
        data = super().read(size)
        if size is not None and 0 <= size != len(data):
            self.ran_out = True
        return data


def _diagnose(buf: bytes) -> str | None:
    """What is wrong with the structure of the RIFF/RIFX/RF64 file `buf`, or None.

    Run only when scipy failed or ran past the end of the file, to say why in
    words: a 'fmt ' or 'data' chunk cut short, a missing chunk, an unsupported
    format code, a layout that does not fit, data that is not whole frames.
    """
    order = ">" if buf[:4] == b"RIFX" else "<"
    riff_size = struct.unpack_from(order + "I", buf, 4)[0]  # 0xFFFFFFFF in RF64
    chunks, rf64_data_size, pos = {}, None, 12
    while pos + 8 <= len(buf):
        chunk_id = buf[pos:pos + 4]
        size = struct.unpack_from(order + "I", buf, pos + 4)[0]
        if chunk_id == b"ds64" and size >= 16 and pos + 24 <= len(buf):
            rf64_data_size = struct.unpack_from("<Q", buf, pos + 16)[0]
        if chunk_id == b"data" and size == 0xFFFFFFFF and rf64_data_size is not None:
            size = rf64_data_size  # RF64: the real size is in the ds64 chunk
        body = buf[pos + 8:pos + 8 + size]
        if len(body) < size and chunk_id in (b"fmt ", b"data"):
            return (f"truncated file: {chunk_id.decode('latin-1')!r} chunk declares {size} "
                    f"bytes but only {len(body)} follow")
        chunks.setdefault(chunk_id, (pos, body))
        if len(body) < size:  # an unimportant chunk cut short: nothing more to find
            break
        pos += 8 + size + (size & 1)
    if b"fmt " not in chunks:
        return "no 'fmt ' chunk (truncated or not a wav file)"
    if b"data" not in chunks:
        return "no 'data' chunk (truncated file?)"
    (fmt_pos, fmt), (data_pos, data) = chunks[b"fmt "], chunks[b"data"]
    if len(fmt) < 16:
        return f"'fmt ' chunk too short ({len(fmt)} bytes, need 16)"
    if data_pos < fmt_pos:
        return "the 'data' chunk comes before the 'fmt ' chunk"
    if data_pos >= 8 + riff_size:
        return (f"the RIFF header's size ({riff_size} bytes) ends before the 'data' chunk "
                f"at byte {data_pos}")
    code, channels, _, _, block_align, _ = struct.unpack_from(order + "HHIIHH", fmt)
    if code == _EXTENSIBLE and len(fmt) >= 40 and fmt[28:40] == _GUID_TAILS[order]:
        code = struct.unpack_from(order + "I", fmt, 24)[0]
    elif code == _EXTENSIBLE:
        return (f"unsupported WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk ({len(fmt)} bytes, "
                f"sub-format GUID {fmt[24:40].hex() or 'missing'})")
    if code not in (_PCM, _FLOAT):
        return (f"unsupported (compressed?) wav format code {_format_name(code)}; "
                f"only PCM and IEEE float can be read")
    if channels < 1:
        return "'fmt ' chunk declares 0 channels"
    if block_align < channels or block_align % channels:
        return f"'fmt ' block align {block_align} does not fit {channels} channel(s)"
    if len(data) % block_align:
        return (f"truncated data: {len(data)} bytes is not a whole number of "
                f"{block_align}-byte sample frames")
    return None


def read_wav(path) -> tuple[np.ndarray, int]:
    """Reads a wav file with scipy.io.wavfile: (float32 [N, C] samples, sample rate in Hz).

    RIFF (little-endian), RIFX (big-endian) or RF64 files; integer PCM of any
    depth from 1 to 64 bits (8 bits and fewer unsigned) scaled by its container
    to [-1, 1), e.g. 16-bit x / 32768 and 24-bit x / 2**23; IEEE float 32/64
    (values as stored); plain or WAVE_FORMAT_EXTENSIBLE. Chunks other than 'fmt '
    and 'data' are skipped (scipy's WavFileWarning for unknown ones passes on).
    Raises AudioError (naming `path`) for unreadable, empty, non-wav, truncated,
    compressed or malformed files.
    """
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise AudioError(path, f"cannot read file ({e.strerror or e})") from e
    if not buf:
        raise AudioError(path, "empty file")
    if len(buf) < 12 or buf[:4] not in (b"RIFF", b"RIFX", b"RF64") or buf[8:12] != b"WAVE":
        raise AudioError(path, f"not a RIFF/WAVE file (starts with {buf[:12]!r})")
    from scipy.io import wavfile  # imported on use, like scipy.signal: scipy.io is slow to load
    reader = _Reader(buf)
    try:
        rate, samples = wavfile.read(reader)
    # What scipy raises for broken files: its own ValueErrors, struct.error for a
    # short header, numpy's errors for data that is not whole samples or frames,
    # ZeroDivisionError for 0 channels, UnboundLocalError when no chunk holds data.
    except (ValueError, TypeError, EOFError, struct.error, ZeroDivisionError,
            UnboundLocalError) as e:
        problem = _diagnose(buf) or f"unreadable wav file (scipy: {e or type(e).__name__})"
        raise AudioError(path, problem) from e
    if reader.ran_out:  # scipy returned what it found; a cut 'data' chunk is an error
        problem = _diagnose(buf)
        if problem:
            raise AudioError(path, problem)
    if rate < 1:
        raise AudioError(path, "'fmt ' chunk declares a sample rate of 0")
    if samples.ndim == 1:  # scipy drops the channel axis of mono files
        samples = samples[:, None]
    if samples.dtype.kind == "f":
        return samples.astype(np.float32), int(rate)
    if samples.dtype.kind == "u":  # 1 to 8 bits: unsigned around 128
        return ((samples.astype(np.float32) - 128.0) / 128.0), int(rate)
    # Signed PCM comes left-justified in its container (24-bit as int32 x * 256), so
    # the container's full scale maps every depth to [-1, 1); float64 is exact here.
    scale = float(2 ** (8 * samples.dtype.itemsize - 1))
    return (samples.astype(np.float64) / scale).astype(np.float32), int(rate)


def write_wav(path, audio: np.ndarray, sample_rate: int, *, bits: int = 16) -> None:
    """Writes `audio` (float [N] or [N, C], nominally in [-1, 1]) as a wav file.

    bits=16: PCM 16-bit, clipped to [-1, 1] and rounded to the nearest step of
    1/32768; bits=32: IEEE float32, values as given. Creates parent folders.
    Written by scipy.io.wavfile (RF64 past 4 GiB).
    """
    audio = np.asarray(audio, np.float64)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2 or audio.shape[1] < 1:
        raise ValueError(f"audio must be [N] or [N, C] with C >= 1, got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"audio for {path} contains NaN or infinite values")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) \
            or not 0 < sample_rate < 2 ** 32:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    # scipy picks the sample format from the dtype: int16 -> PCM, float32 -> IEEE
    # float (with the cbSize field and 'fact' chunk that non-PCM formats need).
    if bits == 16:
        samples = np.clip(np.rint(np.clip(audio, -1.0, 1.0) * 32768.0), -32768, 32767)
        samples = samples.astype(np.int16)
    elif bits == 32:
        samples = audio.astype(np.float32)
    else:
        raise ValueError(f"bits must be 16 (PCM) or 32 (float), got {bits!r}")
    from scipy.io import wavfile
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, int(sample_rate), samples)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """float32 [N]: `audio` ([N] or [N, C]) averaged over its channels."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 1:
        return audio
    if audio.ndim != 2:
        raise ValueError(f"audio must be [N] or [N, C], got shape {audio.shape}")
    return audio.mean(axis=1, dtype=np.float32)


def fit_length(audio: np.ndarray, length: int, offset: int = 0) -> np.ndarray:
    """audio[offset:offset + length] ([N] -> [length]), zero-padded at the end if short."""
    if length < 0 or offset < 0:
        raise ValueError(f"length and offset must be non-negative, got {length}, {offset}")
    audio = np.asarray(audio)
    piece = audio[offset:offset + length]
    if len(piece) == length:
        return piece
    pad = [(0, length - len(piece))] + [(0, 0)] * (audio.ndim - 1)
    return np.pad(piece, pad)


def load_audio(path, sample_rate: int) -> np.ndarray:
    """The wav file at `path` as mono float32 [N] at `sample_rate` Hz."""
    audio, rate = read_wav(path)
    return resample(to_mono(audio), rate, sample_rate)


def list_audio_files(folder, extensions=(".wav",)) -> list[Path]:
    """Sorted files under `folder` (recursively) whose extension is one of
    `extensions` (case-insensitive). AudioError if the folder is missing or has none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AudioError(folder, "no such folder")
    wanted = {(e if e.startswith(".") else "." + e).lower() for e in extensions}
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
    if not found:
        raise AudioError(folder, f"no audio files with extension(s) {sorted(wanted)} found")
    return found
