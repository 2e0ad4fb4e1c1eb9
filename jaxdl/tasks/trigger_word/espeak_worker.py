# SPDX-License-Identifier: GPL-3.0-or-later
# This one module is GPL-3.0-or-later (LICENSES/GPL-3.0.txt), as it loads eSpeak NG;
# the rest of jaxdl is Apache-2.0 (LICENSE) and talks to it only over a pipe.
"""The eSpeak NG worker process behind `jaxdl.tasks.trigger_word.voices.ESpeak`.

Started by `ESpeak` as

    python -m jaxdl.tasks.trigger_word.espeak_worker LIB_PATH DATA_PATH

with the paths from the `espeakng-loader` package. eSpeak NG is GPL-3.0: only this
process loads it (through ctypes), never the process that imports jaxdl. For the
same reason this module imports nothing but the standard library (no numpy, no
JAX: nothing that starts threads before the fork below).

Protocol on stdin/stdout (every integer a little-endian int32):

- startup: writes `<sample rate><length><version bytes>` to stdout; a sample rate
  <= 0 (with length 0) means espeak_Initialize failed, and the worker exits.
- then for every request, one JSON line on stdin
  `{"text", "voice", "rate", "volume", "pitch", "range"}`, it forks a child from
  the pristine initialised state; the child synthesises and writes
  `<status><length><payload>`. Status 0: payload is int16 little-endian samples at
  the sample rate; 1: unknown voice (payload: the voice name); 2: an eSpeak call
  failed (payload: which); 3: an exception in the child (payload: its repr).
- EOF on stdin ends the worker; so does a child that dies without replying
  (reported on stderr, which `ESpeak` keeps for its error messages).

Why fork per utterance: eSpeak keeps synthesis state between utterances (pitch
flutter index, glottal cycle counters, automatic gain), so only a copy of the
freshly initialised library makes the output a pure function of the request.
"""

import ctypes
import json
import os
import struct
import sys

# espeak_AUDIO_OUTPUT: synchronous retrieval through the callback, no audio device.
AUDIO_OUTPUT_SYNCHRONOUS = 2
# espeak_PARAMETER ids (speak_lib.h) for the request's fields.
PARAMETERS = (("rate", 1), ("volume", 2), ("pitch", 3), ("range", 4))
ESPEAK_CHARS_UTF8 = 0x1
# eSpeak's random generator's seed (see main).
NOISE_SEED = 0

STATUS_OK, STATUS_UNKNOWN_VOICE, STATUS_ESPEAK_ERROR, STATUS_EXCEPTION = 0, 1, 2, 3

# int callback(short *wav, int numsamples, espeak_EVENT *events)
SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.c_void_p)


def send(data: bytes) -> None:
    """Writes all of `data` to stdout (fd 1), unbuffered: the child exits with
    os._exit, which would drop anything left in a Python buffer."""
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


def _load(lib_path: str):
    """The eSpeak NG shared library with the prototypes of the calls used here."""
    lib = ctypes.CDLL(lib_path)
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetSynthCallback.argtypes = [SYNTH_CALLBACK]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    return lib


def main(lib_path: str, data_path: str) -> None:
    """Initialises eSpeak once, then serves requests from stdin until EOF."""
    lib = _load(lib_path)
    version = b""
    if hasattr(lib, "espeak_Info"):  # older libraries may lack it
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        version = lib.espeak_Info(None) or b""
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
    if rate <= 0:
        send(struct.pack("<ii", rate, 0))
        return
    # espeak_Initialize seeds eSpeak's own random generator (breath noise of some
    # variants: f2, f3, f5, ...) with time(NULL); a fixed seed makes every word the
    # same in every worker, whenever it starts. Libraries without the call keep
    # the clock's seed (reproducible within one worker only).
    if hasattr(lib, "espeak_ng_SetRandSeed"):
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed(NOISE_SEED)
    chunks = []  # empty in the parent; each child fills its own copy

    def callback(wav, n, events):
        if n > 0:
            chunks.append(ctypes.string_at(wav, 2 * n))
        return 0

    keep_alive = SYNTH_CALLBACK(callback)  # referenced for as long as eSpeak may call it
    lib.espeak_SetSynthCallback(keep_alive)
    lib.espeak_SetVoiceByName(b"en")  # loads the English dictionary once, pre-fork
    send(struct.pack("<ii", rate, len(version)) + version)

    def synth(req):
        if lib.espeak_SetVoiceByName(req["voice"].encode()) != 0:
            return STATUS_UNKNOWN_VOICE, req["voice"].encode()
        for name, key in PARAMETERS:
            if lib.espeak_SetParameter(key, req[name], 0) != 0:
                return STATUS_ESPEAK_ERROR, b"espeak_SetParameter(%d, %d) failed" % (
                    key, req[name])
        text = req["text"].encode("utf-8")
        buf = ctypes.create_string_buffer(text)
        err = lib.espeak_Synth(buf, len(text) + 1, 0, 0, 0, ESPEAK_CHARS_UTF8, None, None)
        if err != 0:
            return STATUS_ESPEAK_ERROR, b"espeak_Synth failed with error %d" % err
        lib.espeak_Synchronize()
        return STATUS_OK, b"".join(chunks)

    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                status, payload = synth(json.loads(line))
            except BaseException as err:
                status, payload = STATUS_EXCEPTION, repr(err).encode()
            try:
                send(struct.pack("<ii", status, len(payload)) + payload)
            except BaseException:
                code = 1
            # Skip interpreter teardown: it belongs to the parent (stdin buffer,
            # atexit handlers), which serves the next request.
            os._exit(code)
        _, wait_status = os.waitpid(pid, 0)
        if wait_status != 0:
            sys.stderr.write("eSpeak child exited with status %d\n" % wait_status)
            sys.stderr.flush()
            return


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m jaxdl.tasks.trigger_word.espeak_worker "
                 "LIBESPEAK_NG_PATH ESPEAK_NG_DATA_PATH")
    main(sys.argv[1], sys.argv[2])
