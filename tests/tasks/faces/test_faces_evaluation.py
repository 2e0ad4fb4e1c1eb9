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


def test_far_calibrated_threshold_over_all_pairs_in_blocks():
    """Against brute force over every pair i < j: the blocked search for the
    smallest mismatched distances gives the same threshold, rates and counts."""
    from jaxdl import metrics
    from jaxdl.tasks.faces.evaluation import far_calibrated_threshold, pair_counts
    emb, labels = _blobs(0.6, people=12, per_person=4, seed=3)
    i, j = np.triu_indices(len(labels), 1)
    d = np.linalg.norm(emb[i] - emb[j], axis=1)
    same = labels[i] == labels[j]
    assert pair_counts(labels) == (int(same.sum()), int((~same).sum())) == (72, 1056)
    for far in (0.0, 1e-3, 0.01, 0.05):
        r = far_calibrated_threshold(emb, labels, far, block=7)
        want = np.sort(d[~same])[int(np.floor(far * 1056 + 1e-4))]
        assert r["threshold"] == pytest.approx(want, abs=1e-9)
        assert r["far"] == np.sum(~same & (d < want)) / 1056 <= far
        assert r["tar"] == pytest.approx(np.sum(same & (d < want)) / 72)
        assert (r["matched_pairs"], r["mismatched_pairs"]) == (72, 1056)
    # far 0.01: 10 false accepts allowed of 1056, the 11th smallest is the threshold
    assert far_calibrated_threshold(emb, labels, 0.01)["far"] == 10 / 1056


def test_decisions_at_threshold_and_clustering_without_k():
    from jaxdl.tasks.faces.evaluation import (clustering_without_k, decisions_at_threshold,
                                              evaluate_embeddings)
    emb, labels = _blobs(0.01, people=20, per_person=4)
    # Separated people: any threshold between the within- and across-person distances
    # accepts every matched pair, rejects every stranger and names every probe.
    r = decisions_at_threshold(emb, labels, 0.5, seed=0, unknown_fraction=0.2)
    assert (r["tar"], r["far"], r["open_set_rejection"], r["known_rejection"],
            r["known_identified"]) == (1.0, 0.0, 1.0, 0.0, 1.0)
    assert (r["matched_pairs"], r["mismatched_pairs"]) == (20 * 6, 80 * 79 // 2 - 120)
    # Threshold 0: nothing accepted; threshold 3 (> 2, unit vectors): everything.
    none = decisions_at_threshold(emb, labels, 0.0)
    assert (none["tar"], none["open_set_rejection"], none["known_rejection"]) == (0, 1, 1)
    both = decisions_at_threshold(emb, labels, 3.0)
    assert (both["tar"], both["far"], both["open_set_rejection"]) == (1.0, 1.0, 0.0)
    # At evaluate_embeddings' own threshold it gives that evaluation's open-set numbers.
    noisy, noisy_labels = _blobs(0.5, people=20, per_person=4, seed=2)
    report = evaluate_embeddings(noisy, noisy_labels, matched_per_fold=10,
                                 mismatched_per_fold=10, cluster=False)
    at = decisions_at_threshold(noisy, noisy_labels, report.threshold)
    for key in ("open_set_rejection", "known_rejection"):
        assert at[key] == pytest.approx(report.results["identification"][key])
    c = clustering_without_k(emb, labels, 0.5)
    assert (c["people_found"], c["true_people"], c["linkage"]) == (20, 20, "average")
    assert c["nmi"] == pytest.approx(1.0, abs=1e-5) and c["ari"] == pytest.approx(1.0)
    assert clustering_without_k(emb, labels, 3.0)["people_found"] == 1
