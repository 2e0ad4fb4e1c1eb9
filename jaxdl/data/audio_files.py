"""Audio at the edges: reading and writing wav files, resampling, mixing down.

Host-side numpy (files are I/O); the pure feature code is in `jaxdl.audio`.
"""

from __future__ import annotations

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
# The fixed tail of a WAVE_FORMAT_EXTENSIBLE sub-format GUID (KSDATAFORMAT_SUBTYPE_*);
# its first two bytes are the ordinary format code.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_FORMAT_NAMES = {
    0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "mu-law",
    0x0011: "IMA ADPCM", 0x0031: "GSM 6.10", 0x0050: "MPEG", 0x0055: "MPEG Layer 3 (MP3)",
    0x00FF: "AAC", 0x1610: "HE-AAC", 0xF1AC: "FLAC",
}


def _format_name(code: int) -> str:
    return f"0x{code:04X}" + (f" ({_FORMAT_NAMES[code]})" if code in _FORMAT_NAMES else "")


def _parse_fmt(path, body: bytes) -> tuple[int, int, int, int]:
    """(format code, channels, sample rate, bits per sample) of a 'fmt ' chunk body."""
    if len(body) < 16:
        raise AudioError(path, f"'fmt ' chunk too short ({len(body)} bytes, need 16)")
    code, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if code == _EXTENSIBLE:
        if len(body) < 40:
            raise AudioError(path, f"WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short "
                                   f"({len(body)} bytes, need 40)")
        sub_code, tail = struct.unpack_from("<H", body, 24)[0], body[26:40]
        if tail != _GUID_TAIL:
            raise AudioError(path, f"unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID "
                                   f"{body[24:40].hex()}")
        code = sub_code
    if code not in (_PCM, _FLOAT):
        raise AudioError(path, f"unsupported (compressed?) wav format code {_format_name(code)}; "
                               f"only PCM and IEEE float can be read")
    supported = (8, 16, 24, 32) if code == _PCM else (32, 64)
    kind = "PCM" if code == _PCM else "IEEE float"
    if bits not in supported:
        raise AudioError(path, f"unsupported {kind} sample size {bits} bits "
                               f"(supported: {supported})")
    if channels < 1:
        raise AudioError(path, "'fmt ' chunk declares 0 channels")
    if rate < 1:
        raise AudioError(path, "'fmt ' chunk declares a sample rate of 0")
    if block_align != channels * bits // 8:
        raise AudioError(path, f"'fmt ' block align {block_align} does not match {channels} "
                               f"channel(s) of {bits} bits")
    return code, channels, rate, bits


def _decode(data: bytes, code: int, bits: int, channels: int) -> np.ndarray:
    """Samples of a data chunk as float32 [N, C] (integers scaled to [-1, 1))."""
    if code == _FLOAT:
        samples = np.frombuffer(data, "<f4" if bits == 32 else "<f8")
    elif bits == 8:
        samples = (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif bits == 16:
        samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    elif bits == 24:
        b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = (ints ^ 0x800000) - 0x800000  # sign-extend 24 -> 32 bits
        samples = ints.astype(np.float64) / float(1 << 23)
    else:
        samples = np.frombuffer(data, "<i4").astype(np.float64) / float(1 << 31)
    return samples.astype(np.float32).reshape(-1, channels)


def read_wav(path) -> tuple[np.ndarray, int]:
    """Reads a RIFF/WAVE file: (float32 [N, C] samples, sample rate in Hz).

    Reads PCM 8-bit (unsigned), 16/24/32-bit (signed) scaled to [-1, 1), IEEE
    float 32/64 (values as stored), plain or WAVE_FORMAT_EXTENSIBLE; skips other
    chunks (LIST, fact, ...), honouring the pad byte after odd-sized ones.
    Raises AudioError (naming `path`) for unreadable, empty, non-RIFF, truncated
    or compressed files and missing 'fmt '/'data' chunks.
    """
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise AudioError(path, f"cannot read file ({e.strerror or e})") from e
    if not buf:
        raise AudioError(path, "empty file")
    if len(buf) < 12 or buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
        raise AudioError(path, f"not a RIFF/WAVE file (starts with {buf[:12]!r})")
    fmt = data = None
    pos = 12
    while pos + 8 <= len(buf):
        chunk_id, size = buf[pos:pos + 4], struct.unpack_from("<I", buf, pos + 4)[0]
        body = buf[pos + 8:pos + 8 + size]
        if len(body) < size and chunk_id in (b"fmt ", b"data"):
            raise AudioError(path, f"truncated file: {chunk_id.decode('latin-1')!r} chunk "
                                   f"declares {size} bytes but only {len(body)} follow")
        if chunk_id == b"fmt " and fmt is None:
            fmt = _parse_fmt(path, body)
        elif chunk_id == b"data" and data is None:
            data = body
        if len(body) < size:  # an unimportant chunk cut short: nothing more to find
            break
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise AudioError(path, "no 'fmt ' chunk (truncated or not a wav file)")
    if data is None:
        raise AudioError(path, "no 'data' chunk (truncated file?)")
    code, channels, rate, bits = fmt
    frame_bytes = channels * bits // 8
    if len(data) % frame_bytes:
        raise AudioError(path, f"truncated data: {len(data)} bytes is not a whole number of "
                               f"{frame_bytes}-byte sample frames")
    return _decode(data, code, bits, channels), int(rate)


def write_wav(path, audio: np.ndarray, sample_rate: int, *, bits: int = 16) -> None:
    """Writes `audio` (float [N] or [N, C], nominally in [-1, 1]) as a wav file.

    bits=16: PCM 16-bit, clipped to [-1, 1] and rounded to the nearest step of
    1/32768; bits=32: IEEE float32, values as given. Creates parent folders.
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
    if bits == 16:
        code = _PCM
        samples = np.clip(np.rint(np.clip(audio, -1.0, 1.0) * 32768.0), -32768, 32767)
        payload = samples.astype("<i2").tobytes()
    elif bits == 32:
        code = _FLOAT
        payload = audio.astype("<f4").tobytes()
    else:
        raise ValueError(f"bits must be 16 (PCM) or 32 (float), got {bits!r}")
    n, channels = audio.shape
    block_align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", code, channels, int(sample_rate),
                      int(sample_rate) * block_align, block_align, bits)
    chunks = b""
    if code == _FLOAT:  # non-PCM: cbSize field and a 'fact' chunk, as the spec asks
        fmt += struct.pack("<H", 0)
        chunks = b"fact" + struct.pack("<II", 4, n)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + chunks
    chunks += b"data" + struct.pack("<I", len(payload)) + payload
    if len(payload) & 1:
        chunks += b"\x00"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)


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
