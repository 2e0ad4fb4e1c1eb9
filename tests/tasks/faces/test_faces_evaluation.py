"""Embedding evaluation end to end on embeddings whose answers are known."""

import numpy as np
import pytest

from jaxdl.tasks.faces.evaluation import evaluate_embeddings, pixel_embeddings


def _blobs(spread, people=40, per_person=5, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.repeat(centres, per_person, 0) + spread * rng.normal(size=(people * per_person, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.repeat(np.arange(people), per_person)


def test_separated_people_score_perfectly():
    emb, labels = _blobs(0.01)
    report = evaluate_embeddings(emb, labels, matched_per_fold=30, mismatched_per_fold=30,
                                 kmeans_restarts=4)
    r = report.results
    assert r["verification"]["accuracy"] == 1.0 and r["verification"]["auc"] == 1.0
    assert r["identification"]["top1"] == 1.0 and r["identification"]["known_rejection"] == 0.0
    assert r["identification"]["open_set_rejection"] == 1.0  # strangers all rejected
    assert r["clustering"]["nmi"] == pytest.approx(1.0, abs=1e-5)
    assert r["clustering"]["purity"] == pytest.approx(1.0)
    # Neighbours of each probe: its own person's gallery image comes first, and the
    # list is the brute-force nearest-first order.
    assert np.all(labels[report.probe_neighbours[:, 0]] == labels[report.probes])
    for probe, nbrs in zip(report.probes[:10], report.probe_neighbours[:10]):
        d = np.linalg.norm(emb[nbrs] - emb[probe], axis=1)
        assert np.all(np.diff(d) >= -1e-6) and len(nbrs) == 5


def test_random_embeddings_score_at_chance():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(40), 5)
    emb = rng.normal(size=(200, 16))
    r = evaluate_embeddings(emb, labels, matched_per_fold=30, mismatched_per_fold=30,
                            cluster=False).results
    assert 0.35 < r["verification"]["accuracy"] < 0.65
    assert 0.3 < r["verification"]["auc"] < 0.7
    assert r["identification"]["top1"] < 0.15  # 32 enrolled people: chance is 1/32
    assert "clustering" not in r


def test_pixel_embeddings_are_standardised_unit_vectors():
    images = np.random.default_rng(0).integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)
    x = pixel_embeddings(images)
    assert x.shape == (3, 48)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(x.mean(1), 0.0, atol=1e-6)
    # Brightness and contrast changes do not move the baseline's embedding.
    brighter = np.clip(images.astype(np.float32) * 0.5 + 40, 0, 255)
    np.testing.assert_allclose(pixel_embeddings(brighter), x, atol=1e-5)


def test_greyscale_source_and_results():
    """The greyscale evaluation path: a source's pictures as BT.601 luma in 3 equal
    channels, scored like the colour ones, with the raw-pixel baseline on the same
    greyscale pixels."""
    from jaxdl.data.sources import ArraySource
    from jaxdl.data.transforms import to_greyscale
    from jaxdl.tasks.faces.evaluation import greyscale_results, pixel_baseline
    from jaxdl.tasks.faces.sources import Greyscale
    emb, labels = _blobs(0.01, people=20, per_person=4)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (80, 6, 6, 3), dtype=np.uint8)
    source = Greyscale(ArraySource({"image": images, "identity": labels.astype(np.int32)}))
    assert len(source) == 80
    ex = source[7]
    assert ex["identity"] == labels[7] and ex["image"].dtype == np.uint8
    np.testing.assert_array_equal(ex["image"], to_greyscale(images[7]))
    assert (ex["image"][..., 0] == ex["image"][..., 2]).all()
    options = dict(matched_per_fold=10, mismatched_per_fold=10, kmeans_restarts=2)
    r = greyscale_results(emb, images, labels, **options)
    assert r["verification"]["accuracy"] == 1.0 and r["identification"]["top1"] == 1.0
    assert r["clustering"]["nmi"] == pytest.approx(1.0, abs=1e-5)
    assert r["raw_pixel_baseline"] == pixel_baseline(to_greyscale(images), labels,
                                                     cluster=False, **options)
    assert r["raw_pixel_baseline"] != pixel_baseline(images, labels, cluster=False, **options)
