"""Verification pairs and gallery/probe splits: identity-disjoint folds, right pairs."""

import numpy as np
import pytest

from jaxdl.data.sources import DataError
from jaxdl.tasks.faces.pairs import gallery_probe_split, make_pairs, read_lfw_pairs

LABELS = np.repeat(np.arange(40), 5)


def test_pairs_are_what_they_claim_and_folds_share_no_identity():
    pairs = make_pairs(LABELS, num_folds=10, matched_per_fold=20, mismatched_per_fold=20)
    assert len(pairs) == 400 and pairs.same.sum() == 200
    la, lb = LABELS[pairs.a], LABELS[pairs.b]
    assert np.all((la == lb) == pairs.same)
    assert np.all(pairs.a[pairs.same] != pairs.b[pairs.same])  # two distinct images
    ids_of_fold = [set(la[pairs.fold == f]) | set(lb[pairs.fold == f]) for f in range(10)]
    for f in range(10):
        for g in range(f + 1, 10):
            assert not ids_of_fold[f] & ids_of_fold[g]
    again = make_pairs(LABELS, num_folds=10, matched_per_fold=20, mismatched_per_fold=20)
    np.testing.assert_array_equal(pairs.a, again.a)


def test_pairs_refuse_too_few_identities():
    with pytest.raises(DataError, match="cannot make 10 folds"):
        make_pairs(np.repeat(np.arange(5), 3))


def test_lfw_pairs_file_round_trip_and_errors(tmp_path):
    text = "2 1\nAlice 1 2\nAlice 1 Bob 3\nCarol 2 4\nDan 1 Eve 2\n"
    (tmp_path / "pairs.txt").write_text(text)
    pairs = read_lfw_pairs(tmp_path / "pairs.txt", "/lfw")
    assert list(pairs.same) == [True, False, True, False]
    assert list(pairs.fold) == [0, 0, 1, 1]
    assert pairs.a[0] == "/lfw/Alice/Alice_0001.jpg" and pairs.b[1] == "/lfw/Bob/Bob_0003.jpg"
    (tmp_path / "bad.txt").write_text("2 1\nAlice 1 2\nAlice 1 Bob\nCarol 2 4\nDan 1 Eve 2\n")
    with pytest.raises(DataError, match=r"bad.txt:3: expected a mismatched"):
        read_lfw_pairs(tmp_path / "bad.txt", "/lfw")
    (tmp_path / "short.txt").write_text("10 300\nAlice 1 2\n")
    with pytest.raises(DataError, match="header promises"):
        read_lfw_pairs(tmp_path / "short.txt", "/lfw")


def test_gallery_probe_split_partitions_examples_by_identity():
    split = gallery_probe_split(LABELS, unknown_fraction=0.25, seed=3)
    all_idx = np.concatenate([split.gallery, split.probes, split.unknown])
    assert sorted(all_idx) == list(range(len(LABELS)))
    gallery_ids = LABELS[split.gallery]
    assert len(gallery_ids) == len(set(gallery_ids)) == 30  # one image per enrolled id
    assert set(LABELS[split.probes]) == set(gallery_ids)
    assert not set(LABELS[split.unknown]) & set(gallery_ids)
    assert len(set(LABELS[split.unknown])) == 10
