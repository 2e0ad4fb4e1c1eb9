"""A trained trigger-word model at work: predict on clips, score the events, and
find the trigger word in audio of any length.

`predict_clips` runs the model over a clip source; `event_scores` and
`frame_scores` turn its output into the course's metrics (the chime rule matched
to the true trigger words, and per-step scores beside the all-zero baseline);
`detect_in_audio` listens to a recording of any length; `chime` is the bell the
`detect --chime` verb mixes in at each detection.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import metrics
from jaxdl.audio import FeatureSpec
from jaxdl.data import pipeline
from jaxdl.tasks.trigger_word import events
from jaxdl.tasks.trigger_word.generator import (BatchMaker, ClipSpec, segments, spectrogram,
                                                stack, trigger_spans)
from jaxdl.train.steps import predict_step


@jax.jit
def predict(state, inputs):
    """(logits, probabilities) [B, Ty] of spectrograms `inputs` [B, Tx, F]."""
    logits = predict_step(state, {"inputs": inputs})
    return logits, jax.nn.sigmoid(logits)


def predict_clips(state, source, maker: BatchMaker, batch_size: int) -> dict:
    """Logits, probabilities, labels and trigger words of every clip of `source`, in
    order: logits, probs, labels float32 [C, Ty]; truths: C lists of (start, end) s."""
    logits, probs, labels, truths = [], [], [], []
    batches = pipeline.evaluation_batches(source, global_batch_size=batch_size,
                                          transform=lambda ex: ex, process_index=0,
                                          process_count=1)
    for batch in batches:
        keep = np.asarray(batch["mask"]) > 0
        b = maker(batch)
        z, p = predict(state, b["inputs"])
        logits.append(np.asarray(z)[keep])
        probs.append(np.asarray(p)[keep])
        labels.append(b["labels"][keep])
        truths += [t for t, k in zip(trigger_spans(b, maker.spec.sample_rate), keep) if k]
    return {"logits": np.concatenate(logits), "probs": np.concatenate(probs),
            "labels": np.concatenate(labels), "truths": truths}


def clip_panels(source, maker: BatchMaker, predictions: dict, detections: list,
                trigger: str, n: int) -> list[dict]:
    """The first `n` clips of `source` as `jaxdl.tasks.trigger_word.plots.
    trigger_word_clips` draws them: audio, features, labels, probabilities,
    detections and the words said ((start, end, trigger or "other"))."""
    batch = stack(source, range(n))
    audio = np.asarray(maker.audio(batch))
    rate = maker.spec.sample_rate
    panels = []
    for i in range(n):
        layout = {k: v[i] for k, v in batch.items()}
        words = [(s, e, trigger if p else "other") for s, e, p, _ in segments(layout, rate)]
        panels.append({"audio": audio[i], "sample_rate": rate,
                       "features": np.asarray(maker.features(audio[i])),
                       "features_label": ("frequency bin" if isinstance(
                           maker.features, FeatureSpec) else "embedding dimension"),
                       "labels": predictions["labels"][i], "probs": predictions["probs"][i],
                       "detections": detections[i], "truths": words,
                       "name": f"test clip {i}"})
    return panels


def event_rule(eval_config, spec: ClipSpec, num_steps: int) -> dict:
    """The chime rule's min_consecutive and refractory (from the `eval` config group)
    and the matching window: from match_slack before a trigger word ends to
    match_slack after its labels end."""
    e = eval_config
    label_seconds = spec.label_steps * spec.seconds / num_steps
    return {"min_consecutive": e.min_consecutive, "refractory": e.refractory,
            "before": e.match_slack, "after": label_seconds + e.match_slack}


def event_scores(eval_config, spec: ClipSpec, predictions: dict) -> tuple[dict, list]:
    """Event metrics (the chime rule, matched to the true trigger words) and each
    clip's detections."""
    probs = predictions["probs"]
    return events.evaluate_clips(probs, predictions["truths"], spec.seconds,
                                 threshold=eval_config.threshold,
                                 **event_rule(eval_config, spec, probs.shape[1]))


def frame_scores(predictions: dict, threshold: float) -> dict:
    """Per-output-step accuracy, precision, recall and F1, and the accuracy of always
    answering 0 (most steps are 0: the baseline to beat)."""
    labels = predictions["labels"].reshape(-1)
    m = metrics.binary_metrics(labels, predictions["probs"].reshape(-1), threshold)
    return {"frame_accuracy": float(m["accuracy"]), "frame_precision": float(m["precision"]),
            "frame_recall": float(m["recall"]), "frame_f1": float(m["f1"]),
            "all_zero_baseline_accuracy": float(1.0 - labels.mean())}


def chime(sample_rate: int, seconds: float = 0.35) -> np.ndarray:
    """A two-tone bell (880 + 1320 Hz, exponential decay), float32 [n]."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = np.sin(2 * np.pi * 880 * t) + 0.6 * np.sin(2 * np.pi * 1320 * t)
    return (0.4 * tone * np.exp(-t / (seconds / 4))).astype(np.float32)


def with_chimes(audio: np.ndarray, times, sample_rate: int) -> np.ndarray:
    """`audio` [n] with a chime added at each time (seconds), extended by one chime's
    length so the last one is heard whole; clipped to [-1, 1]."""
    bell = chime(sample_rate)
    mixed = np.concatenate([audio, np.zeros(len(bell), np.float32)])
    for t in times:
        s = int(t * sample_rate)
        mixed[s:s + len(bell)] += bell[:len(mixed) - s]
    return np.clip(mixed, -1, 1)


def detect_in_audio(state, audio: np.ndarray, spec: ClipSpec, features: FeatureSpec,
                    mean, std, *, threshold: float, min_consecutive: int,
                    refractory: int) -> np.ndarray:
    """Detection times (seconds) in mono audio of any length at the clip rate.

    Shorter than a clip: zero-padded. Longer: cut into clip-long windows that overlap
    by half; a window's detections in its first quarter are left to the window
    before (which saw more context), and detections within the refractory time of
    one kept are dropped.
    """
    n = spec.num_samples
    hop = n // 2
    starts = list(range(0, max(len(audio) - n, 0) + 1, hop))
    if starts[-1] + n < len(audio):
        starts.append(starts[-1] + hop)
    windows = np.stack([np.pad(audio[s:s + n], (0, max(0, n - len(audio[s:s + n]))))
                        for s in starts]).astype(np.float32)
    x = spectrogram(jnp.asarray(windows), features, mean, std)
    probs = np.asarray(predict(state, x)[1])
    fires = np.asarray(events.detect(probs, threshold=threshold,
                                     min_consecutive=min_consecutive,
                                     refractory=refractory))
    refractory_seconds = refractory * spec.seconds / probs.shape[1]
    found = []
    for w, s in enumerate(starts):
        for t in events.fired_times(fires[w], spec.seconds):
            if w > 0 and t < spec.seconds / 4:
                continue
            found.append(s / spec.sample_rate + t)
    kept: list[float] = []
    for t in sorted(found):
        if t < len(audio) / spec.sample_rate and (not kept or t - kept[-1] > refractory_seconds):
            kept.append(t)
    return np.asarray(kept)


def detect_files(state, paths: list[str], *, spec: ClipSpec, features, mean, std,
                 eval_config, chime_dir: str | None = None, out=None) -> int:
    """`detect_in_audio` on each file: one JSON line per file on `out` ({"path",
    "detections": [seconds, ...]}, or {"path", "error"} for a file that cannot be
    read, and the others go on); with `chime_dir`, each file with a chime at each
    detection. Returns the exit code: 1 if every file failed, else 0."""
    import json
    from pathlib import Path
    from jaxdl.data.audio_files import AudioError, load_audio, write_wav
    e, rate = eval_config, spec.sample_rate
    failures = 0
    for path in paths:
        try:
            audio = load_audio(path, rate)
        except AudioError as err:
            failures += 1
            print(json.dumps({"path": path, "error": str(err)}), file=out, flush=True)
            continue
        times = detect_in_audio(state, audio, spec, features, mean, std,
                                threshold=e.threshold, min_consecutive=e.min_consecutive,
                                refractory=e.refractory)
        line = {"path": path, "detections": [round(float(t), 3) for t in times]}
        if chime_dir:
            target = Path(chime_dir) / f"{Path(path).stem}_chime.wav"
            write_wav(target, with_chimes(audio, times, rate), rate)
            line["chime"] = str(target)
        print(json.dumps(line), file=out, flush=True)
    return 1 if paths and failures == len(paths) else 0


def export_detector(state, *, spec: ClipSpec, features, mean, std, num_steps: int,
                    eval_config, trigger: str, out_dir) -> dict:
    """Writes the detector with `jaxdl.serving.export_function`: clips of audio in,
    the per-step probabilities out (the feature front end and its normalisation
    inside); the signature carries the sample rate, clip length, threshold and chime
    rule. Returns the signature."""
    from jaxdl import serving
    mean, std = jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32)

    def infer(audio):
        _, probs = predict(state, spectrogram(audio, features, mean, std))
        return (probs,)

    e = eval_config
    return serving.export_function(
        infer, [{"name": "audio", "shape": ("batch", spec.num_samples), "dtype": "float32",
                 "description": f"mono clips of {spec.seconds:g} s at {spec.sample_rate} Hz, "
                                f"samples in [-1, 1]"}], out_dir,
        outputs=[{"name": "probs", "shape": ["batch", num_steps], "dtype": "float32",
                  "description": "probability that the trigger word has just ended, "
                                 "per output step (the clip's length / steps apart)"}],
        info={"task": "trigger_word", "trigger": trigger, "sample_rate": spec.sample_rate,
              "clip_seconds": spec.seconds, "output_steps": num_steps,
              "threshold": float(e.threshold),
              "chime_rule": {"min_consecutive": int(e.min_consecutive),
                             "refractory": int(e.refractory)},
              "weights": "ema_params" if state.ema_decay else "params"})
