"""Rooms, microphones and voices: the trigger-word augmentations' invariants.

Hand cases (a sine through the low-pass, the impulse response's direct sound and
energy ratio, a resampled sine's pitch), the invariants (length and level kept),
determinism, and that clips without a room are the bits they were before rooms
existed.
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.tasks.trigger_word import generator as tw

from test_clips import SR, batch_of, spec, toy_bank


ROOM_KEYS = ("room", "lowpass", "lowpass_hz", "rt60", "drr_db", "eq_db")


def sine(freq, n, rate=SR):
    return np.sin(2 * np.pi * freq * np.arange(n) / rate).astype(np.float32)


def peak_hz(x, rate):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spectrum) * rate / len(x)


def test_room_response_direct_sound_energy_ratio_and_decay():
    key = jax.random.key(0)
    h = np.asarray(tw.room_response(key, jnp.float32(0.4), jnp.float32(6.0), 8000, 16000))
    tail = h.copy()
    tail[0] -= 1.0
    assert h[0] == pytest.approx(1.0, abs=1e-6)
    assert not np.any(tail[1:40])                    # nothing before 2.5 ms
    np.testing.assert_allclose(10 * np.log10(1.0 / np.sum(tail ** 2)), 6.0, atol=1e-3)
    # 60 dB per rt60: the energy 0.2 s later is 30 dB lower (noise: within 3 dB)
    early = np.mean(tail[800:1600] ** 2)             # 50-100 ms
    late = np.mean(tail[4000:4800] ** 2)             # 250-300 ms
    assert 10 * np.log10(early / late) == pytest.approx(30.0, abs=3.0)


def test_lowpass_keeps_low_and_removes_high():
    n, rate = 16000, 16000
    layout = {"room": jnp.bool_(False), "lowpass": jnp.bool_(True),
              "lowpass_hz": jnp.float32(3500.0), "rt60": jnp.float32(0.3),
              "drr_db": jnp.float32(6.0)}
    key = jax.random.key(1)
    low = tw.apply_room(jnp.asarray(sine(1000, n, rate)), key, layout, rate)
    high = tw.apply_room(jnp.asarray(sine(6000, n, rate)), key, layout, rate)
    mixed = tw.apply_room(jnp.asarray(sine(1000, n, rate) + sine(6000, n, rate)), key,
                          layout, rate)
    # the level is kept (RMS of the input), the 6 kHz tone is gone
    assert np.sqrt(np.mean(np.square(low))) == pytest.approx(np.sqrt(0.5), rel=1e-3)
    spectrum = np.abs(np.fft.rfft(np.asarray(mixed)))
    assert spectrum[6000] < 1e-3 * spectrum[1000]
    # away from the ends (where the tone's onset and end have high frequencies)
    np.testing.assert_allclose(np.asarray(low)[200:-200], sine(1000, n, rate)[200:-200],
                               atol=2e-3)
    assert np.isfinite(np.asarray(high)).all()


@pytest.mark.parametrize("room,lowpass", [(True, False), (False, True), (True, True)])
def test_room_keeps_length_and_level_and_is_deterministic(room, lowpass):
    rng = np.random.default_rng(0)
    speech = jnp.asarray(rng.normal(size=12000).astype(np.float32) * np.hanning(12000))
    layout = {"room": jnp.bool_(room), "lowpass": jnp.bool_(lowpass),
              "lowpass_hz": jnp.float32(3000.0), "rt60": jnp.float32(0.6),
              "drr_db": jnp.float32(3.0)}
    a = tw.apply_room(speech, jax.random.key(3), layout, SR)
    b = tw.apply_room(speech, jax.random.key(3), layout, SR)
    c = tw.apply_room(speech, jax.random.key(4), layout, SR)
    assert a.shape == speech.shape and a.dtype == speech.dtype
    np.testing.assert_allclose(np.sqrt(np.mean(np.square(a))),
                               np.sqrt(np.mean(np.square(speech))), rtol=1e-4)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert room == (not np.array_equal(np.asarray(a), np.asarray(c)))


def test_clips_without_rooms_are_unchanged_and_with_rooms_differ_only_in_words():
    bank = toy_bank()
    plain = tw.ClipLayouts(bank, spec(), 0, "train", 6)
    rooms = tw.ClipLayouts(bank, spec(room_probability=1.0, lowpass_probability=1.0,
                                      lowpass_hz=(2000.0, 3000.0), eq_probability=1.0),
                           0, "train", 6)
    words, beds = bank.arrays()["words"], bank.arrays()["backgrounds"]
    a, b = batch_of(plain, 6), batch_of(rooms, 6)
    for k in a:       # the same words, places and beds: only the room fields differ
        if k not in ROOM_KEYS:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert not a["room"].any() and b["room"].all() and b["lowpass"].all()
    # rendering without the room fields at all: the clips as they were before rooms
    old = {k: v for k, v in a.items() if k not in ROOM_KEYS}
    clips = np.asarray(tw.render_clips(a, words, beds, spec()))
    np.testing.assert_array_equal(clips, np.asarray(tw.render_clips(old, words, beds, spec())))
    roomy = np.asarray(tw.render_clips(b, words, beds, rooms.spec))
    assert roomy.shape == clips.shape and np.isfinite(roomy).all()
    has_words = a["active"].any(axis=1)
    for i in range(6):
        assert has_words[i] == (not np.array_equal(clips[i], roomy[i]))
    # still normalised to the target loudness
    np.testing.assert_allclose(np.sqrt(np.mean(roomy ** 2, axis=1)),
                               10 ** (spec().target_dbfs / 20), rtol=1e-3)


def test_room_settings_are_validated():
    with pytest.raises(ValueError, match="room_probability"):
        spec(room_probability=1.5)
    with pytest.raises(ValueError, match="rt60"):
        spec(rt60=(0.0, 0.5))
    with pytest.raises(ValueError, match="lowpass_hz"):
        spec(lowpass_probability=0.5, lowpass_hz=(3000.0, 4500.0))   # above 4 kHz at 8 kHz
    spec(lowpass_hz=(3000.0, 4500.0))       # unused when its probability is 0


@pytest.mark.parametrize("factor", [0.85, 1.0, 1.2])
def test_speed_perturbation_scales_length_and_pitch(factor):
    x = sine(500, 8000)
    y = tw.speed_perturb(x, factor)
    assert len(y) == pytest.approx(len(x) / factor, abs=1)
    assert peak_hz(y, SR) == pytest.approx(500 * factor, rel=0.01)
    assert y.dtype == np.float32
    if factor == 1.0:
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="positive"):
        tw.speed_perturb(x, 0.0)


def test_speech_bank_speed_is_deterministic():
    kw = dict(trigger="go", negatives=("stop", "yes"), num_positive=2, num_negative=2,
              seed=0, sample_rate=SR, num_samples=SR * 2)
    a = tw.speech_bank("train", speed=(0.8, 1.25), **kw)
    b = tw.speech_bank("train", speed=(0.8, 1.25), **kw)
    plain = tw.speech_bank("train", **kw)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.texts == plain.texts and a.speakers == plain.speakers
    assert not np.array_equal(a.lengths, plain.lengths)


def test_eq_curve_is_smooth_bounded_and_flat_at_zero():
    key = jax.random.key(5)
    flat = np.asarray(tw.eq_curve(key, 801, 1600, jnp.float32(0.0), 16000))
    np.testing.assert_array_equal(flat, np.ones(801, np.float32))
    g = 20 * np.log10(np.asarray(tw.eq_curve(key, 801, 1600, jnp.float32(6.0), 16000)))
    assert np.abs(g).max() <= 6.0 + 1e-4 and np.abs(g).max() > 1.0
    assert np.abs(np.diff(g)).max() < 1.0          # smooth: under 1 dB per 10 Hz bin
    other = np.asarray(tw.eq_curve(jax.random.key(6), 801, 1600, jnp.float32(6.0), 16000))
    assert not np.allclose(10 ** (g / 20), other)
