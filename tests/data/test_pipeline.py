"""Pipelines: shards make up the global batch, resumption is exact, padding is masked."""

import numpy as np
import pytest

from jaxdl.data import pipeline
from jaxdl.data.sources import ArraySource, Concat, Subset
from jaxdl.data.transforms import channel_stats, image_augmentation, normalize_image

SOURCE = ArraySource({"x": np.arange(50, dtype=np.int64)})
ident = lambda ex: {"x": ex["x"]}


def _batches(pi=0, pc=1, **kw):
    ds = pipeline.training_batches(SOURCE, global_batch_size=8, seed=7, num_epochs=3,
                                   transform=ident, process_index=pi, process_count=pc, **kw)
    return [ds[i] for i in range(len(ds))]


def test_epochs_are_permutations_and_reshuffled():
    batches = _batches()
    assert len(batches) == 150 // 8
    stream = np.concatenate([b["x"] for b in batches])
    assert len(stream) == 3 * (50 // 8) * 8  # whole batches of whole epochs
    first, second = stream[:50], stream[50:100]
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert list(first) != list(second)
    assert list(np.concatenate([b["id"] for b in batches])) == list(range(len(stream)))


def test_process_shards_make_up_the_global_batch():
    whole = _batches()
    shards = [_batches(pi=p, pc=2) for p in range(2)]
    for i, b in enumerate(whole):
        parts = np.concatenate([shards[0][i]["x"], shards[1][i]["x"]])
        assert sorted(parts) == sorted(b["x"]) and len(shards[0][i]["x"]) == 4


def test_same_seed_same_batches_with_augmentation():
    src = ArraySource({"image": np.random.default_rng(0).integers(0, 255, (20, 6, 6, 3),
                                                                  dtype=np.uint8),
                       "label": np.zeros(20, np.int32)})
    aug = image_augmentation(flip=True, crop_padding=1, brightness=0.1)
    make = lambda: pipeline.training_batches(src, global_batch_size=4, seed=1, num_epochs=1,
                                             transform=lambda e: e, augment=aug,
                                             process_index=0, process_count=1)
    a, b = make(), make()
    for i in range(len(a)):
        np.testing.assert_array_equal(a[i]["image"], b[i]["image"])


def test_iterator_state_round_trip():
    ds = pipeline.training_batches(SOURCE, global_batch_size=8, seed=7, num_epochs=2,
                                   transform=ident, process_index=0, process_count=1)
    it = pipeline.prefetch(ds)
    for _ in range(5):
        next(it)
    state = it.get_state()
    expected = [next(it)["x"] for _ in range(3)]
    resumed = pipeline.prefetch(ds)
    resumed.set_state(state)
    for want in expected:
        np.testing.assert_array_equal(next(resumed)["x"], want)


def test_evaluation_pads_and_masks():
    ds = pipeline.evaluation_batches(SOURCE, global_batch_size=16, transform=ident,
                                     process_index=0, process_count=1)
    batches = [ds[i] for i in range(len(ds))]
    assert len(batches) == 4
    mask = np.concatenate([b["mask"] for b in batches])
    xs = np.concatenate([b["x"] for b in batches])
    assert mask.sum() == 50 and list(xs[mask > 0]) == list(range(50))


def test_too_small_training_set_is_refused():
    with pytest.raises(ValueError, match="fewer than one batch"):
        pipeline.training_batches(Subset(SOURCE, np.arange(3)), global_batch_size=8, seed=0,
                                  num_epochs=1, transform=ident, process_index=0,
                                  process_count=1)


def test_concat_and_subset_index_through():
    c = Concat([Subset(SOURCE, [5, 6]), Subset(SOURCE, [1])])
    assert len(c) == 3 and [c[i]["x"] for i in range(3)] == [5, 6, 1]
    with pytest.raises(IndexError):
        Subset(SOURCE, [50])


def test_normalisation_uses_given_statistics():
    images = np.array([[[[0, 255, 51]]], [[[255, 255, 153]]]], np.uint8)
    mean, std = channel_stats(images)
    np.testing.assert_allclose(mean, [0.5, 1.0, 0.4], atol=1e-6)
    np.testing.assert_allclose(std, [0.5, 1e-3, 0.2], atol=1e-6)  # std floored at 1e-3
    out = normalize_image(images, mean, std)
    np.testing.assert_allclose(out[:, 0, 0, 0], [-1.0, 1.0], atol=1e-6)


LABELS = np.repeat(np.arange(10), [5, 5, 5, 5, 5, 5, 5, 5, 2, 1])  # ids 8, 9: too few


def test_pk_batches_hold_p_identities_with_k_images_each():
    for step in range(20):
        idx = pipeline.pk_batch_indices(LABELS, identities_per_batch=4,
                                        images_per_identity=3, seed=0, step=step)
        assert len(idx) == 12 and len(set(idx)) == 12  # distinct examples
        ids, counts = np.unique(LABELS[idx], return_counts=True)
        assert len(ids) == 4 and set(counts) == {3}
        assert not set(ids) & {8, 9}  # identities with fewer than K images never drawn
    a = pipeline.pk_batch_indices(LABELS, identities_per_batch=4, images_per_identity=3,
                                  seed=0, step=5)
    b = pipeline.pk_batch_indices(LABELS, identities_per_batch=4, images_per_identity=3,
                                  seed=0, step=5)
    np.testing.assert_array_equal(a, b)


def test_pk_batches_refuse_data_that_cannot_fill_a_batch():
    from jaxdl.data.sources import DataError
    with pytest.raises(DataError, match="only 8 of 10 identities"):
        pipeline.pk_batch_indices(LABELS, identities_per_batch=9, images_per_identity=3,
                                  seed=0, step=0)


def test_identity_batches_shard_into_the_global_batch():
    src = ArraySource({"x": np.arange(len(LABELS)), "identity": LABELS})
    make = lambda pi, pc: pipeline.identity_batches(
        src, LABELS, identities_per_batch=4, images_per_identity=2, num_steps=6, seed=1,
        transform=lambda e: e, process_index=pi, process_count=pc)
    whole, halves = make(0, 1), [make(p, 2) for p in range(2)]
    assert len(whole) == 6
    for s in range(6):
        assert len(halves[0][s]["x"]) == 4
        merged = np.concatenate([halves[0][s]["x"], halves[1][s]["x"]])
        assert sorted(merged) == sorted(whole[s]["x"])
        ids, counts = np.unique(whole[s]["identity"], return_counts=True)
        assert len(ids) == 4 and set(counts) == {2}
