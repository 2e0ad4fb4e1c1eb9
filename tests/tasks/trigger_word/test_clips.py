"""Trigger-word clips: layouts, rendering, labels, the model's output length, loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import losses
from jaxdl.audio import FeatureSpec
from jaxdl.tasks.trigger_word import generator as tw
from jaxdl.data.sources import DataError
from jaxdl.tasks.trigger_word.model import TriggerWordModel
from jaxdl.tasks.trigger_word.model import conv_output_length

SR = 8000


def toy_bank(num_samples=SR * 4, backgrounds=()):
    """Words of known lengths: 3 'trigger' bursts and 4 'other' bursts of noise."""
    rng = np.random.default_rng(0)
    lengths = [2000, 2400, 1600, 1200, 3000, 800, 2200]
    words = [rng.normal(size=n).astype(np.float32) * np.hanning(n) for n in lengths]
    positive = [True, True, True, False, False, False, False]
    texts = ["go" if p else f"w{i}" for i, p in enumerate(positive)]
    return tw.WordBank.from_words(words, positive, texts, [f"s{i}" for i in range(7)],
                                  sample_rate=SR, num_samples=num_samples,
                                  backgrounds=backgrounds)


def spec(**kw):
    base = dict(sample_rate=SR, seconds=4.0, max_positives=4, max_negatives=2,
                label_steps=7, babble_words=3)
    return tw.ClipSpec(**(base | kw))


def batch_of(layouts, n, start=0):
    items = [layouts[i] for i in range(start, start + n)]
    return {k: np.stack([x[k] for x in items]) for k in items[0]}


def test_bank_normalises_pads_and_refuses_silence():
    bank = toy_bank()
    assert bank.audio.shape == (7, 3000)
    for w, n in zip(bank.audio, bank.lengths):
        np.testing.assert_allclose(np.sqrt(np.mean(w[:n] ** 2)), 1.0, rtol=1e-5)
        assert not np.any(w[n:])
    with pytest.raises(DataError, match="silent"):
        tw.WordBank.from_words([np.zeros(100)], [True], ["x"], ["s"], sample_rate=SR,
                               num_samples=SR)
    with pytest.raises(DataError, match="no trigger"):
        tw.WordBank.from_words([np.ones(100)], [False], ["x"], ["s"], sample_rate=SR,
                               num_samples=SR).check(spec())


@pytest.mark.parametrize("seed", range(5))
def test_layouts_never_overlap_and_respect_gap_and_tail(seed):
    bank, s = toy_bank(), spec(min_gap_seconds=0.05, tail_seconds=0.2)
    layouts = tw.ClipLayouts(bank, s, seed, "train", 200)
    gap, usable = int(0.05 * SR), s.num_samples - int(0.2 * SR)
    counts = []
    for i in range(200):
        l = layouts[i]
        segs = sorted((int(a), int(b)) for a, b, act in zip(l["start"], l["end"], l["active"])
                      if act)
        for (a0, b0), (a1, _) in zip(segs, segs[1:]):
            assert b0 + gap <= a1, (i, segs)
        assert all(0 <= a and b <= usable for a, b in segs)
        # each active word's end is its start plus its bank length; positives are
        # trigger words, in the first max_positives slots
        for k in np.flatnonzero(l["active"]):
            assert l["end"][k] - l["start"][k] == bank.lengths[l["word"][k]]
            assert l["positive"][k] == bank.positive[l["word"][k]] == (k < s.max_positives)
        counts.append((l["positive"] & l["active"]).sum())
    assert set(counts) == {0, 1, 2, 3, 4}  # the course's 0-4 positives all occur


def test_layouts_are_deterministic_and_splits_differ():
    bank, s = toy_bank(), spec()
    a = tw.ClipLayouts(bank, s, 3, "train", 10)
    b = tw.ClipLayouts(bank, s, 3, "train", 10)
    c = tw.ClipLayouts(bank, s, 3, "test", 10)
    for i in range(10):
        for k in a[i]:
            np.testing.assert_array_equal(a[i][k], b[i][k])
    assert any(not np.array_equal(a[i]["start"], c[i]["start"]) for i in range(10))
    with pytest.raises(IndexError):
        a[10]


def test_labels_exactly_label_steps_after_each_positive():
    # Hand-built: Ty = 40 over 4000 samples (100 samples per step).
    end = jnp.array([[950, 2000, 3990, 500]])   # end steps 9, 20, 39, 5
    positive = jnp.array([[True, True, True, False]])
    active = jnp.array([[True, True, True, True]])
    y = np.asarray(tw.clip_labels(end, positive, active, num_samples=4000, num_steps=40,
                                  label_steps=5))[0]
    expected = np.zeros(40)
    expected[10:15] = 1      # steps 10..14 after end step 9
    expected[21:26] = 1      # after end step 20
    # end step 39: nothing left in the clip; the negative at step 5 labels nothing
    np.testing.assert_array_equal(y, expected)
    inactive = np.asarray(tw.clip_labels(end, positive, active.at[0, 0].set(False),
                                         num_samples=4000, num_steps=40, label_steps=5))[0]
    assert inactive[10:15].sum() == 0 and inactive[21:26].sum() == 5


def test_rendered_labels_count_label_steps_per_positive():
    bank, s = toy_bank(), spec(label_steps=3)
    layouts = tw.ClipLayouts(bank, s, 0, "train", 64)
    b = batch_of(layouts, 64)
    num_steps = 200
    y = np.asarray(tw.clip_labels(b["end"], b["positive"], b["active"],
                                  num_samples=s.num_samples, num_steps=num_steps,
                                  label_steps=3))
    for i in range(64):
        ends = [int(e) * num_steps // s.num_samples
                for e, p, a in zip(b["end"][i], b["positive"][i], b["active"][i]) if p and a]
        expected = np.zeros(num_steps)
        for e in ends:
            expected[e + 1:e + 4] = 1
        np.testing.assert_array_equal(y[i], expected)


def test_render_is_deterministic_normalised_and_contains_the_words():
    bank, s = toy_bank(), spec(kinds=("white",), background_db=(-80.0, -80.0))
    layouts = tw.ClipLayouts(bank, s, 0, "train", 8)
    b = batch_of(layouts, 8)
    arrays = bank.arrays()
    a1 = np.asarray(tw.render_clips(b, arrays["words"], arrays["backgrounds"], s))
    a2 = np.asarray(tw.render_clips(b, arrays["words"], arrays["backgrounds"], s))
    np.testing.assert_array_equal(a1, a2)
    assert a1.shape == (8, s.num_samples) and a1.dtype == np.float32
    rms_db = 20 * np.log10(np.sqrt(np.mean(a1 ** 2, axis=1)))
    np.testing.assert_allclose(rms_db, s.target_dbfs, atol=1e-3)
    # With the background 80 dB down, the clip is (a scaled copy of) its words:
    # silence outside them, each word's samples in place.
    for i in range(8):
        mask = np.zeros(s.num_samples, bool)
        rebuilt = np.zeros(s.num_samples)
        for w, st, g, act in zip(b["word"][i], b["start"][i], b["gain"][i], b["active"][i]):
            if act:
                n = bank.lengths[w]
                mask[st:st + n] = True
                rebuilt[st:st + n] += g * bank.audio[w, :n]
        if mask.any():
            assert np.max(np.abs(a1[i][~mask])) < 1e-3 * np.max(np.abs(a1[i]))
            scale = np.dot(a1[i], rebuilt) / np.dot(rebuilt, rebuilt)
            np.testing.assert_allclose(a1[i], scale * rebuilt, atol=2e-3 * np.abs(a1[i]).max())


def _slope(audio, sr):
    """Log-log slope of the power spectrum between 50 Hz and sr/4."""
    p = np.abs(np.fft.rfft(audio)) ** 2
    f = np.fft.rfftfreq(len(audio), 1 / sr)
    sel = (f > 50) & (f < sr / 4)
    return np.polyfit(np.log(f[sel]), np.log(p[sel] + 1e-20), 1)[0]


@pytest.mark.parametrize("kind,lo,hi", [("white", -0.2, 0.2), ("pink", -1.2, -0.8),
                                        ("brown", -2.2, -1.8)])
def test_noise_beds_have_their_spectral_slope(kind, lo, hi):
    bank = toy_bank()
    s = spec(kinds=(kind,), max_positives=0, max_negatives=0)
    b = batch_of(tw.ClipLayouts(bank, s, 0, "train", 2), 2)
    audio = np.asarray(tw.render_clips(b, **bank.arrays(), spec=s))
    for a in audio:
        assert lo < _slope(a, SR) < hi


def test_hum_is_at_mains_frequency_and_file_backgrounds_are_used():
    bed = np.sin(2 * np.pi * 440 * np.arange(SR) / SR).astype(np.float32)
    bank = toy_bank(backgrounds=[bed])
    for kind, peaks in (("hum", (50, 60, 100, 120, 150, 180)), ("file", (440,))):
        s = spec(kinds=(kind,), max_positives=0, max_negatives=0)
        b = batch_of(tw.ClipLayouts(bank, s, 0, "train", 3), 3)
        audio = np.asarray(tw.render_clips(b, **bank.arrays(), spec=s))
        for a in audio:
            f = np.fft.rfftfreq(len(a), 1 / SR)[np.argmax(np.abs(np.fft.rfft(a)))]
            assert min(abs(f - p) for p in peaks) < 1.0, (kind, f)


def test_clip_spec_and_bank_refusals():
    with pytest.raises(ValueError, match="background kinds"):
        tw.ClipSpec(kinds=("rain",))
    with pytest.raises(ValueError, match="word_db"):
        tw.ClipSpec(word_db=(0.0, -6.0))
    with pytest.raises(DataError, match="'file' needs"):
        toy_bank().check(spec(kinds=("file",)))
    with pytest.raises(DataError, match="does not fit"):
        toy_bank(num_samples=2000).check(spec(seconds=0.3))


def test_clip_spec_shapes_training_clips_only():
    """Rooms, louder backgrounds and more other words are for the training clips:
    validation and test clips stay the course's whatever the recipe."""
    from jaxdl.config import load_config
    c = load_config("configs/trigger_word.py")
    c.clip.train_max_negatives = 6
    train, test = tw.clip_spec(c, "train"), tw.clip_spec(c, "test")
    assert (train.max_negatives, test.max_negatives) == (6, c.clip.max_negatives)
    assert train.slots == c.clip.max_positives + 6
    assert train.background_db == tuple(c.clip.train_background_db)
    assert test.background_db == tuple(c.clip.background_db)
    assert train.room_probability > 0 and test.room_probability == 0.0
    assert tw.clip_spec(c, "validation") == test
    c.clip.train_max_negatives = 0      # 0: as the other splits
    assert tw.clip_spec(c, "train").max_negatives == c.clip.max_negatives
    # More slots per training clip: more other words, on average, in the same seconds.
    bank = toy_bank(num_samples=SR * 10)
    few, many = (tw.ClipLayouts(bank, spec(seconds=10.0, max_negatives=m), 0, "train", 200)
                 for m in (2, 6))
    count = lambda clips: np.mean([(~l["positive"] & l["active"]).sum() for l in
                                   (clips[i] for i in range(len(clips)))])
    assert count(many) > count(few) + 1.0


@pytest.mark.parametrize("sample_rate,seconds", [(16000, 10.0), (16000, 2.5), (8000, 3.0),
                                                 (44100, 1.0)])
def test_model_output_length_is_ty(sample_rate, seconds):
    features = FeatureSpec(sample_rate=sample_rate, window_length=200, hop=80)
    n = int(sample_rate * seconds)
    tx = features.num_frames(n)
    model = TriggerWordModel(conv_features=8, gru_features=(4, 4))
    ty = model.output_steps(tx)
    assert ty == (tx - 15) // 4 + 1
    x = jax.eval_shape(features, jax.ShapeDtypeStruct((2, n), jnp.float32))
    out = jax.eval_shape(lambda v, x: model.apply(v, x),
                         jax.eval_shape(model.init, jax.random.key(0), x), x)
    assert out.shape == (2, ty)


def test_course_model_sizes():
    model = TriggerWordModel()
    tx = FeatureSpec().num_frames(160000)
    assert (tx, model.output_steps(tx)) == (1998, 496)
    # The course's 44.1 kHz numbers: Tx = 5511 -> Ty = 1375.
    assert model.output_steps(5511) == 1375
    v = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, tx, 101)))
    n = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(v["params"]))
    # conv 101*15*196+196, 2 GRUs, 3 BN (scale+bias), Dense(1): the course's ~523k
    assert n == 521_913
    with pytest.raises(ValueError, match="shorter than the kernel"):
        conv_output_length(10, 15, 4)


def test_model_is_causal():
    """Changing the input after frame t never changes outputs before t: it can stream."""
    model = TriggerWordModel(conv_features=8, gru_features=(6, 6))
    x = jax.random.normal(jax.random.key(0), (1, 200, 12))
    v = jax.jit(model.init)(jax.random.key(1), x)
    apply = jax.jit(model.apply)  # one compiled program for both calls, not eager ops
    y1 = apply(v, x)
    y2 = apply(v, x.at[:, 150:].add(5.0))
    last_unaffected = (150 - 15) // 4   # output steps whose receptive field ends < 150
    np.testing.assert_allclose(y1[:, :last_unaffected + 1], y2[:, :last_unaffected + 1],
                               atol=1e-6)
    assert not np.allclose(y1[:, -1], y2[:, -1])


def test_weighted_bce_by_hand():
    logits = jnp.array([[2.0, -1.0, 0.5]])
    labels = jnp.array([[1.0, 0.0, 1.0]])
    p = 1 / (1 + np.exp(-np.array([2.0, -1.0, 0.5])))
    by_hand = np.array([-3 * np.log(p[0]), -np.log(1 - p[1]), -3 * np.log(p[2])])
    np.testing.assert_allclose(
        losses.weighted_sigmoid_binary_cross_entropy(logits, labels, 3.0)[0], by_hand,
        rtol=1e-6)
    loss, m = losses.per_step_binary_classification(3.0)(logits, {"labels": labels})
    np.testing.assert_allclose(loss, by_hand.mean(), rtol=1e-6)
    np.testing.assert_allclose(m["frame_accuracy"], 1.0)   # all three on the right side
    _, m = losses.per_step_binary_classification()(logits, {"labels": jnp.array([[0.0, 1.0, 1.0]])})
    np.testing.assert_allclose(m["frame_accuracy"], 1 / 3, rtol=1e-6)
