"""Evaluation protocols for face verification and identification (pure numpy).

- Verification pairs, LFW style: 10 folds of matched and mismatched pairs, the
  folds identity-disjoint, so a threshold picked on 9 folds is scored on people it
  never saw. `make_pairs` draws them from labelled examples; `read_lfw_pairs`
  reads LFW's own `pairs.txt`.
- Identification: `gallery_probe_split` keeps one image per enrolled identity in
  the gallery, the rest as probes, and some identities out of the gallery
  altogether for the open-set "not in the database" test.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from jaxdl.data.sources import DataError


@dataclasses.dataclass
class Pairs:
    """Verification pairs: examples a[i] and b[i], `same[i]` if one identity."""

    a: np.ndarray         # int64 [P] example indices (or paths, for read_lfw_pairs)
    b: np.ndarray
    same: np.ndarray      # bool [P]
    fold: np.ndarray      # int32 [P] in [0, num_folds)

    def __len__(self) -> int:
        return len(self.same)


def make_pairs(labels: np.ndarray, *, num_folds: int = 10, matched_per_fold: int = 300,
               mismatched_per_fold: int = 300, seed: int = 0) -> Pairs:
    """LFW-style pairs from labelled examples (labels: int [N], identity of each).

    Identities are dealt into `num_folds` disjoint groups; each fold's pairs use
    only its own identities: matched pairs are two distinct images of one person,
    mismatched pairs images of two different people of that fold. Identities
    with a single image only serve in mismatched pairs. Deterministic in `seed`.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.unique(labels))
    if len(ids) < 2 * num_folds:
        raise DataError(f"{len(ids)} identities cannot make {num_folds} folds of "
                        "pairs (at least 2 identities per fold are needed)")
    by_id = {i: np.flatnonzero(labels == i) for i in ids}
    a, b, same, fold = [], [], [], []
    for f, group in enumerate(np.array_split(ids, num_folds)):
        multi = [i for i in group if len(by_id[i]) >= 2]
        if not multi:
            raise DataError(f"fold {f} has no identity with two images for matched pairs")
        for _ in range(matched_per_fold):
            x, y = rng.choice(by_id[rng.choice(multi)], size=2, replace=False)
            a.append(x), b.append(y), same.append(True), fold.append(f)
        for _ in range(mismatched_per_fold):
            i, j = rng.choice(group, size=2, replace=False)
            a.append(rng.choice(by_id[i])), b.append(rng.choice(by_id[j]))
            same.append(False), fold.append(f)
    return Pairs(np.asarray(a, np.int64), np.asarray(b, np.int64),
                 np.asarray(same, bool), np.asarray(fold, np.int32))


def read_lfw_pairs(pairs_file: str | Path, image_root: str | Path) -> Pairs:
    """LFW's `pairs.txt`: a header "FOLDS N", then per fold N matched lines
    `name i j` and N mismatched lines `name1 i name2 j`; images are
    `image_root/name/name_000i.jpg`. Returns Pairs of file paths (str).

    Raises DataError naming the line for a malformed file.
    """
    pairs_file = Path(pairs_file)
    lines = [l.split() for l in pairs_file.read_text().splitlines() if l.strip()]
    try:
        folds, n = int(lines[0][0]), int(lines[0][1])
    except (IndexError, ValueError):
        raise DataError(f"{pairs_file}:1: expected a header 'FOLDS PAIRS_PER_SET'") from None
    if len(lines) - 1 != folds * 2 * n:
        raise DataError(f"{pairs_file}: header promises {folds} folds x {2 * n} pairs, "
                        f"found {len(lines) - 1} lines")
    path = lambda name, i: str(Path(image_root) / name / f"{name}_{int(i):04d}.jpg")
    a, b, same, fold = [], [], [], []
    for k, parts in enumerate(lines[1:]):
        f, matched = k // (2 * n), (k % (2 * n)) < n
        try:
            if matched and len(parts) == 3:
                a.append(path(parts[0], parts[1])), b.append(path(parts[0], parts[2]))
            elif not matched and len(parts) == 4:
                a.append(path(parts[0], parts[1])), b.append(path(parts[2], parts[3]))
            else:
                raise ValueError
        except ValueError:
            kind = "matched 'name i j'" if matched else "mismatched 'name1 i name2 j'"
            raise DataError(f"{pairs_file}:{k + 2}: expected a {kind} line, got "
                            f"{' '.join(parts)!r}") from None
        same.append(matched), fold.append(f)
    return Pairs(np.asarray(a), np.asarray(b), np.asarray(same, bool),
                 np.asarray(fold, np.int32))


@dataclasses.dataclass
class GalleryProbes:
    gallery: np.ndarray       # int64 example indices, one per enrolled identity
    probes: np.ndarray        # int64 examples of enrolled identities (not in gallery)
    unknown: np.ndarray       # int64 examples of identities never enrolled


def gallery_probe_split(labels: np.ndarray, *, unknown_fraction: float = 0.2,
                        seed: int = 0) -> GalleryProbes:
    """Enrols 1 - unknown_fraction of the identities with one gallery image each;
    their other images are probes; the rest of the identities are unknown
    (open-set probes that should be rejected). Deterministic in `seed`."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.unique(labels))
    n_unknown = int(round(len(ids) * unknown_fraction))
    if not 0 <= n_unknown < len(ids):
        raise DataError(f"unknown_fraction {unknown_fraction} leaves no enrolled identity")
    unknown_ids = set(ids[:n_unknown].tolist())
    gallery, probes, unknown = [], [], []
    for i in ids:
        members = rng.permutation(np.flatnonzero(labels == i))
        if i in unknown_ids:
            unknown.extend(members)
        else:
            gallery.append(members[0])
            probes.extend(members[1:])
    return GalleryProbes(np.sort(np.asarray(gallery, np.int64)),
                         np.sort(np.asarray(probes, np.int64)),
                         np.sort(np.asarray(unknown, np.int64)))
