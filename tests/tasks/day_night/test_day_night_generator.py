"""Invariants of the procedural day'n'night scene generator (jaxdl.tasks.day_night.generator)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.tasks.day_night import generator as day_night

N = 1024  # one compiled batch size for the whole file keeps it fast


@pytest.fixture(scope="module")
def batch():
    """1,024 scenes from key 0, as numpy arrays."""
    out = day_night.render_scenes(jax.random.key(0), N)
    return {k: np.asarray(v) for k, v in out.items()}


def _brightness(images: np.ndarray) -> np.ndarray:
    """Mean brightness in [0, 1] of uint8 images [n, H, W, 3] -> [n]."""
    return images.reshape(len(images), -1).mean(axis=1) / 255.0


def test_constants_are_consistent():
    assert (day_night.DAY, day_night.NIGHT) == (0, 1)
    assert day_night.LABEL_NAMES == ("day", "night")
    kinds = day_night.SCENE_KINDS
    assert len(set(kinds)) == len(kinds) == len(day_night.SCENE_KIND_LABELS)
    for hard_case in ("overcast_day", "dawn_dusk_day", "moonlit_night", "city_night"):
        assert hard_case in kinds
    for name, label in zip(kinds, day_night.SCENE_KIND_LABELS):
        assert label == (day_night.DAY if name.endswith("_day") else day_night.NIGHT), name
    assert sum(day_night.SCENE_KIND_PROBS) == pytest.approx(1.0)


def test_quantize_hand_computed():
    x = jnp.asarray([-0.2, 0.0, 0.2 / 255, 0.7 / 255, 0.5, 1.0, 1.3], jnp.float32)
    q = day_night.quantize(x)
    assert q.dtype == jnp.uint8
    # 0.5 * 255 = 127.5 rounds half to even -> 128.
    np.testing.assert_array_equal(np.asarray(q), [0, 0, 0, 1, 128, 255, 255])


def test_render_scene_shapes_dtypes_ranges():
    out = day_night.render_scene(jax.random.key(3))
    assert out["image"].shape == (64, 64, 3) and out["image"].dtype == jnp.float32
    assert out["label"].shape == () and out["label"].dtype == jnp.int32
    assert out["kind"].shape == () and out["kind"].dtype == jnp.int32
    image = np.asarray(out["image"])
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert image.std() > 0.01  # a scene, not a flat fill
    kind = int(out["kind"])
    assert 0 <= kind < len(day_night.SCENE_KINDS)
    assert int(out["label"]) == day_night.SCENE_KIND_LABELS[kind]


def test_render_scenes_shapes_dtypes(batch):
    assert batch["image"].shape == (N, 64, 64, 3) and batch["image"].dtype == np.uint8
    assert batch["label"].shape == (N,) and batch["label"].dtype == np.int32
    assert batch["kind"].shape == (N,) and batch["kind"].dtype == np.int32
    assert set(np.unique(batch["label"])) == {0, 1}
    # uint8 images use most of their range: saturated suns, lamps and windows, dark nights.
    assert batch["image"].max() == 255 and batch["image"].min() <= 5


def test_same_key_same_bits(batch):
    again = day_night.render_scenes(jax.random.key(0), N)
    for name in ("image", "label", "kind"):
        np.testing.assert_array_equal(np.asarray(again[name]), batch[name])
    one = day_night.render_scene(jax.random.key(5))
    two = day_night.render_scene(jax.random.key(5))
    np.testing.assert_array_equal(np.asarray(one["image"]), np.asarray(two["image"]))


def test_different_keys_differ(batch):
    other = np.asarray(day_night.render_scenes(jax.random.key(1), N)["image"])
    flat, other_flat = batch["image"].reshape(N, -1), other.reshape(N, -1)
    # No image repeats within a batch, and none equals its counterpart from another key.
    assert len({row.tobytes() for row in flat}) == N
    assert not np.any(np.all(flat == other_flat, axis=1))
    # Images differ substantially, not by a pixel: mean absolute difference per pair.
    mean_abs = np.abs(flat.astype(np.int32) - other_flat.astype(np.int32)).mean(axis=1)
    assert np.median(mean_abs) > 20.0


def test_render_scenes_equals_stacked_render_scene(batch):
    keys = jax.random.split(jax.random.key(0), N)
    for i in range(64):
        single = day_night.render_scene(keys[i])
        np.testing.assert_array_equal(
            np.asarray(day_night.quantize(single["image"])), batch["image"][i], err_msg=f"scene {i}")
        assert int(single["label"]) == batch["label"][i]
        assert int(single["kind"]) == batch["kind"][i]


def test_vmap_of_render_scene_matches_labels_and_kinds(batch):
    keys = jax.random.split(jax.random.key(0), N)[:128]
    out = jax.vmap(day_night.render_scene)(keys)
    assert out["image"].shape == (128, 64, 64, 3)
    np.testing.assert_array_equal(np.asarray(out["label"]), batch["label"][:128])
    np.testing.assert_array_equal(np.asarray(out["kind"]), batch["kind"][:128])


def test_label_balance(batch):
    night_fraction = batch["label"][:512].mean()
    assert 0.40 <= night_fraction <= 0.60, night_fraction


def test_every_kind_appears_with_its_label(batch):
    counts = np.bincount(batch["kind"], minlength=len(day_night.SCENE_KINDS))
    assert len(counts) == len(day_night.SCENE_KINDS)
    # Each kind is drawn with probability >= 0.11: at least 60 of 1,024 (mean >= 113).
    assert counts.min() >= 60, dict(zip(day_night.SCENE_KINDS, counts))
    expected = np.asarray(day_night.SCENE_KIND_LABELS)[batch["kind"]]
    np.testing.assert_array_equal(batch["label"], expected)
    for k, name in enumerate(day_night.SCENE_KINDS):
        labels = set(batch["label"][batch["kind"] == k].tolist())
        assert labels == {day_night.NIGHT if name.endswith("_night") else day_night.DAY}, name


def test_brightness_is_lower_at_night_but_overlaps(batch):
    brightness = _brightness(batch["image"])
    day, night = brightness[batch["label"] == 0], brightness[batch["label"] == 1]
    assert night.mean() < day.mean() - 0.1, (night.mean(), day.mean())
    # The ranges overlap: the brightest night is brighter than the darkest day, by a margin.
    assert night.max() > day.min() + 0.1, (night.max(), day.min())
    # The hard kinds do the overlapping: bright city/full-moon nights, dim dusk/overcast days.
    kind_mean = {name: brightness[batch["kind"] == k].mean()
                 for k, name in enumerate(day_night.SCENE_KINDS)}
    assert kind_mean["city_night"] > kind_mean["clear_night"]
    assert kind_mean["dawn_dusk_day"] < kind_mean["clear_day"]
    assert kind_mean["overcast_day"] < kind_mean["clear_day"]


def test_brightness_threshold_is_a_weak_classifier(batch):
    """The best single threshold on mean brightness, chosen on these very images, is < 0.92."""
    brightness = _brightness(batch["image"])
    labels = batch["label"]
    thresholds = np.unique(brightness)
    accuracy = max(((brightness < t) == labels).mean() for t in thresholds)
    assert 0.7 < accuracy < 0.92, accuracy
