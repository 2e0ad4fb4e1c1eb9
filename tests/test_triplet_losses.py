"""Tests for the triplet loss in jaxdl.losses: hand-computed cases, a brute-force
loop reference, and invariants (label-respecting mining, masks, gradients, jit)."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import losses

MINING = ("batch_all", "batch_hard", "semi_hard")


def softplus(z):
    return math.log1p(math.exp(z))


# Four points in 2-D, two identities:
#   x0 = (0, 0) id 0,  x1 = (1, 0) id 0,  x2 = (0, 2) id 1,  x3 = (3, 0) id 1.
# Squared distances: d01 = 1, d02 = 4, d03 = 9, d12 = 5, d13 = 4, d23 = 13.
# Anchor-positive pairs: (0,1), (1,0) with d_ap = 1; (2,3), (3,2) with d_ap = 13.
# Negatives: of 0: d02 = 4, d03 = 9; of 1: d12 = 5, d13 = 4;
#            of 2: d20 = 4, d21 = 5; of 3: d30 = 9, d31 = 4.
POINTS = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
IDS = jnp.array([0, 0, 1, 1])
MARGIN = 2.0


def test_pairwise_squared_distances_hand_computed():
    d = losses.pairwise_squared_distances(POINTS, POINTS[:2])
    np.testing.assert_allclose(d, [[0, 1], [1, 0], [4, 5], [9, 4]])
    # Rounding never makes the distance of a row to itself negative.
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 16)) * 100.0 + 1000.0
    assert float(jnp.min(losses.pairwise_squared_distances(x, x))) >= 0.0


def test_batch_all_hand_computed():
    # The 8 valid triplets, d_ap - d_an + 2:
    #   (0,1,2) 1-4+2 = -1, (0,1,3) 1-9+2 = -6, (1,0,2) 1-5+2 = -2, (1,0,3) 1-4+2 = -1,
    #   (2,3,0) 13-4+2 = 11, (2,3,1) 13-5+2 = 10, (3,2,0) 13-9+2 = 6, (3,2,1) 13-4+2 = 11.
    # Active: 4 of 8; loss = mean over active = (11+10+6+11)/4 = 9.5.
    # mean d_ap over the 8 triplets = (4*1 + 4*13)/8 = 7; mean d_an = 44/8 = 5.5.
    loss, m = losses.triplet_loss(POINTS, IDS, margin=MARGIN, mining="batch_all")
    assert float(loss) == pytest.approx(9.5)
    assert float(m["loss"]) == pytest.approx(9.5)
    assert float(m["fraction_active"]) == pytest.approx(0.5)
    assert float(m["mean_d_ap"]) == pytest.approx(7.0)
    assert float(m["mean_d_an"]) == pytest.approx(5.5)


def test_batch_hard_hand_computed():
    # Per anchor: hardest positive, hardest (nearest) negative, hinge:
    #   0: 1, 4 -> 0;  1: 1, 4 -> 0;  2: 13, 4 -> 11;  3: 13, 4 -> 11.
    # loss = 22/4 = 5.5; mean d_an = 4.
    loss, m = losses.triplet_loss(POINTS, IDS, margin=MARGIN, mining="batch_hard")
    assert float(loss) == pytest.approx(5.5)
    assert float(m["fraction_active"]) == pytest.approx(0.5)
    assert float(m["mean_d_ap"]) == pytest.approx(7.0)
    assert float(m["mean_d_an"]) == pytest.approx(4.0)


def test_semi_hard_hand_computed():
    # TF-addons rule per anchor-positive pair: nearest negative with d_an > d_ap,
    # else the farthest negative.
    #   (0,1) d_ap 1: negatives 4, 9 -> 4 -> 1-4+2 = -1 -> 0
    #   (1,0) d_ap 1: negatives 5, 4 -> 4 -> 0
    #   (2,3) d_ap 13: negatives 4, 5, none > 13 -> farthest 5 -> 13-5+2 = 10
    #   (3,2) d_ap 13: negatives 9, 4, none > 13 -> farthest 9 -> 13-9+2 = 6
    # loss = mean over the 4 pairs = 16/4 = 4; mean d_an = (4+4+5+9)/4 = 5.5.
    loss, m = losses.triplet_loss(POINTS, IDS, margin=MARGIN, mining="semi_hard")
    assert float(loss) == pytest.approx(4.0)
    assert float(m["fraction_active"]) == pytest.approx(0.5)
    assert float(m["mean_d_an"]) == pytest.approx(5.5)


def test_semi_hard_prefers_the_semi_hard_negative():
    # 1-D, anchor 0 at 0, positive 1 at 1 (d_ap = 1), negatives at sqrt(0.5),
    # sqrt(1.5), sqrt(3) (d_an = 0.5, 1.5, 3), margin 1.
    # Pair (0,1): semi-hard negative d_an = 1.5 -> 1 - 1.5 + 1 = 0.5.
    # Pair (1,0): distances from x1 = 1 to the negatives:
    #   (1-0.7071)^2 = 0.085786, (1.2247-1)^2 = 0.050510, (1.7321-1)^2 = 0.535898,
    #   all < d_ap = 1 -> farthest 0.535898 -> 1 - 0.535898 + 1 = 1.464102.
    # The negatives are one identity each (2, 3, 4): single rows, no positive.
    x = jnp.array([[0.0], [1.0], [math.sqrt(0.5)], [math.sqrt(1.5)], [math.sqrt(3.0)]])
    ids = jnp.array([0, 0, 2, 3, 4])
    loss, _ = losses.triplet_loss(x, ids, margin=1.0, mining="semi_hard")
    expected = (0.5 + (2.0 - (math.sqrt(3.0) - 1.0) ** 2)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # batch_hard would use the nearest negatives instead: anchor 0: 1 - 0.5 + 1 = 1.5,
    # anchor 1: 1 - 0.050510 + 1 = 1.949490; anchors 2-4 have no positive.
    loss_hard, _ = losses.triplet_loss(x, ids, margin=1.0, mining="batch_hard")
    assert float(loss_hard) == pytest.approx(
        (1.5 + 2.0 - (math.sqrt(1.5) - 1.0) ** 2) / 2, rel=1e-5)


def test_soft_margin_hand_computed():
    # softplus(d_ap - d_an), margin ignored (same POINTS):
    #   batch_all: mean over all 8 valid triplets of softplus of
    #     -3, -8, -4, -3, 9, 8, 4, 9
    #   batch_hard: anchors -3, -3, 9, 9;  semi_hard: pairs -3, -3, 8, 4.
    expected = {
        "batch_all": sum(map(softplus, [-3, -8, -4, -3, 9, 8, 4, 9])) / 8,
        "batch_hard": sum(map(softplus, [-3, -3, 9, 9])) / 4,
        "semi_hard": sum(map(softplus, [-3, -3, 8, 4])) / 4,
    }
    for mining, value in expected.items():
        for margin in (0.2, 5.0):  # the margin does not matter
            loss, m = losses.triplet_loss(POINTS, IDS, margin=margin, mining=mining,
                                          soft=True)
            assert float(loss) == pytest.approx(value, rel=1e-6), mining
            # active = d_ap > d_an: half the triplets in every strategy here.
            assert float(m["fraction_active"]) == pytest.approx(0.5), mining


def test_mining_respects_identities():
    # 1-D points x = 0, 1, 2.2, 10, 0.5 with identities 0, 0, 1, 1, 0; margin 1.
    # Squared distances: d01 = 1, d02 = 4.84, d03 = 100, d04 = 0.25, d12 = 1.44,
    # d13 = 81, d14 = 0.25, d23 = 60.84, d24 = 2.89, d34 = 90.25.
    # Ignoring identities would make x3 (d03 = 100) anchor 0's "hardest positive"
    # and x4 (d04 = 0.25) its "hardest negative"; x3's identity-1 partner x2 its
    # semi-hard negative, etc.
    x = jnp.array([[0.0], [1.0], [2.2], [10.0], [0.5]])
    ids = jnp.array([0, 0, 1, 1, 0])
    # batch_hard per anchor (hardest positive, nearest negative):
    #   0: max(1, 0.25) = 1, min(4.84, 100) = 4.84 -> 0
    #   1: 1, min(1.44, 81) = 1.44 -> 0.56
    #   2: 60.84, min(4.84, 1.44, 2.89) = 1.44 -> 60.4
    #   3: 60.84, min(100, 81, 90.25) = 81 -> 0
    #   4: 0.25, min(2.89, 90.25) = 2.89 -> 0
    # loss = 60.96 / 5 = 12.192, 2 of 5 anchors active.
    # semi_hard per pair (nearest negative farther than d_ap, else the farthest):
    #   (1,0): 1.44 -> 0.56;  (2,3): none > 60.84 -> 4.84 -> 57;  the other 6 pairs
    #   (0,1), (0,4), (1,4), (3,2), (4,0), (4,1) have loss 0 -> 57.56 / 8 = 7.195.
    # batch_all: 18 valid triplets; active (1,0,2) 0.56, (2,3,0) 57, (2,3,1) 60.4,
    #   (2,3,4) 58.95 -> 176.91 / 4 = 44.2275, 4 of 18 active.
    expected = {"batch_hard": (12.192, 0.4), "semi_hard": (7.195, 2 / 8),
                "batch_all": (44.2275, 4 / 18)}
    for mining, (value, active) in expected.items():
        loss, m = losses.triplet_loss(x, ids, margin=1.0, mining=mining)
        assert float(loss) == pytest.approx(value, rel=1e-5), mining
        assert float(m["fraction_active"]) == pytest.approx(active), mining
        # The same with other identity values (labels are names, not indices).
        renamed, _ = losses.triplet_loss(x, ids * 7 + 3, margin=1.0, mining=mining)
        assert float(renamed) == pytest.approx(value, rel=1e-5), mining


def reference_triplet_loss(x, ids, mask, margin, mining, soft):
    """Explicit loops over (a, p, n) with the documented conventions."""
    x = np.asarray(x, np.float64)
    n = len(x)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    f = (lambda z: math.log1p(math.exp(z))) if soft else (lambda z: max(z + margin, 0.0))
    real = np.ones(n, bool) if mask is None else np.asarray(mask, bool)
    pos = lambda a: [p for p in range(n) if real[p] and p != a and ids[p] == ids[a]]
    neg = lambda a: [q for q in range(n) if real[q] and ids[q] != ids[a]]
    anchors = [a for a in range(n) if real[a] and pos(a) and neg(a)]
    if mining == "batch_all":
        values = [f(d[a, p] - d[a, q]) for a in anchors for p in pos(a) for q in neg(a)]
        kept = values if soft else [v for v in values if v > 0]
        return sum(kept) / max(len(kept), 1)
    if mining == "batch_hard":
        values = [f(max(d[a, p] for p in pos(a)) - min(d[a, q] for q in neg(a)))
                  for a in anchors]
        return sum(values) / max(len(values), 1)
    values = []
    for a in anchors:
        for p in pos(a):
            farther = [d[a, q] for q in neg(a) if d[a, q] > d[a, p]]
            chosen = min(farther) if farther else max(d[a, q] for q in neg(a))
            values.append(f(d[a, p] - chosen))
    return sum(values) / max(len(values), 1)


@pytest.mark.parametrize("mining,soft", list(itertools.product(MINING, (False, True))))
def test_matches_brute_force_reference_with_mask(mining, soft):
    rng = np.random.default_rng(0)
    for trial in range(3):
        x = rng.normal(size=(14, 3)).astype(np.float32)
        ids = rng.integers(0, 4, size=14)
        mask = rng.random(14) > 0.25
        loss, _ = losses.triplet_loss(jnp.asarray(x), jnp.asarray(ids), margin=0.5,
                                      mining=mining, soft=soft, mask=jnp.asarray(mask))
        expected = reference_triplet_loss(x, ids, mask, 0.5, mining, soft)
        assert float(loss) == pytest.approx(expected, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("mining", MINING)
def test_mask_excludes_rows_entirely(mining):
    # Padded rows with identities that would form hard triplets change nothing.
    junk = jnp.array([[0.1, 0.0], [50.0, 50.0], [1.0, 0.1]])
    junk_ids = jnp.array([1, 0, 1])
    x = jnp.concatenate([POINTS, junk])
    ids = jnp.concatenate([IDS, junk_ids])
    mask = jnp.array([1, 1, 1, 1, 0, 0, 0])
    clean_loss, clean = losses.triplet_loss(POINTS, IDS, margin=MARGIN, mining=mining)
    padded_loss, padded = losses.triplet_loss(x, ids, margin=MARGIN, mining=mining,
                                              mask=mask)
    unmasked_loss, _ = losses.triplet_loss(x, ids, margin=MARGIN, mining=mining)
    # (rel 1e-5: the far junk rows move the distance expansion's origin, see
    # pairwise_squared_distances, which changes float32 rounding, not the values)
    assert float(padded_loss) == pytest.approx(float(clean_loss), rel=1e-5)
    for key in clean:
        assert float(padded[key]) == pytest.approx(float(clean[key]), rel=1e-5), key
    assert float(unmasked_loss) != pytest.approx(float(clean_loss))


@pytest.mark.parametrize("mining", MINING)
def test_zero_loss_when_identities_are_separated_by_more_than_the_margin(mining):
    # Identity i sits within a 0.1-wide square at (10 i, 0): d_ap <= 0.02, d_an >= 96.
    key = jax.random.PRNGKey(1)
    ids = jnp.repeat(jnp.arange(4), 4)
    x = jnp.stack([ids * 10.0, jnp.zeros(16)], axis=1) + 0.05 * jax.random.uniform(key, (16, 2))
    loss, m = losses.triplet_loss(x, ids, margin=1.0, mining=mining)
    assert float(loss) == 0.0
    assert float(m["fraction_active"]) == 0.0
    assert float(m["mean_d_an"]) > 90.0


def test_no_valid_triplet_gives_zero():
    # One identity only: no negatives; all singletons: no positives.
    for ids in (jnp.zeros(4, int), jnp.arange(4)):
        for mining in MINING:
            loss, m = losses.triplet_loss(POINTS, ids, mining=mining)
            assert float(loss) == 0.0 and float(m["fraction_active"]) == 0.0


def test_batch_hard_bounds_the_other_strategies_on_balanced_batches():
    # With P identities x K images every anchor has K-1 positives. Per anchor, the
    # batch-hard hinge is the largest hinge of any of its triplets (the hinge grows
    # with d_ap - d_an), so it bounds (a) the mean over all valid triplets
    # = batch_all loss x fraction_active, and (b) each semi-hard pair's loss; as
    # every anchor has the same number of triplets / pairs, the means keep the bound.
    ids = jnp.repeat(jnp.arange(4), 4)
    for seed in range(3):
        x = jax.random.normal(jax.random.PRNGKey(seed), (16, 8))
        x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
        hard, _ = losses.triplet_loss(x, ids, mining="batch_hard")
        every, m = losses.triplet_loss(x, ids, mining="batch_all")
        semi, _ = losses.triplet_loss(x, ids, mining="semi_hard")
        assert float(hard) >= float(every * m["fraction_active"]) - 1e-6
        assert float(hard) >= float(semi) - 1e-6
        assert float(hard) > 0.0


@pytest.mark.parametrize("mining", MINING)
def test_gradients_finite_and_jit_equals_eager(mining):
    # Duplicate rows (distance exactly 0) are where a sqrt would give NaN gradients.
    x = jax.random.normal(jax.random.PRNGKey(2), (8, 4))
    x = x.at[1].set(x[0]).at[5].set(x[4])
    ids = jnp.array([0, 0, 1, 1, 2, 2, 0, 1])
    mask = jnp.array([1, 1, 1, 1, 1, 1, 1, 0])

    def f(e, soft):
        return losses.triplet_loss(e, ids, margin=4.0, mining=mining, soft=soft, mask=mask)

    for soft in (False, True):
        grads = jax.jit(jax.grad(lambda e: f(e, soft)[0]))(x)
        assert bool(jnp.all(jnp.isfinite(grads))), soft
        assert float(jnp.abs(grads).sum()) > 0.0, soft
        # The masked row gets no gradient.
        assert float(jnp.abs(grads[7]).sum()) == 0.0, soft
    with jax.disable_jit():  # triplet_loss is itself jitted: run it op by op
        eager_loss, eager_metrics = f(x, False)
    jit_loss, jit_metrics = f(x, False)
    assert float(jit_loss) > 0.0
    assert float(jit_loss) == pytest.approx(float(eager_loss), rel=1e-6)
    for key in eager_metrics:
        assert float(jit_metrics[key]) == pytest.approx(float(eager_metrics[key]),
                                                        rel=1e-6), key


def test_triplet_objective_reads_identity_and_mask():
    objective = losses.triplet_objective(margin=MARGIN, mining="batch_hard")
    x = jnp.concatenate([POINTS, jnp.zeros((1, 2))])
    batch = {"identity": jnp.concatenate([IDS, jnp.array([1])]),
             "mask": jnp.array([1, 1, 1, 1, 0])}
    loss, m = jax.jit(objective)(x, batch)
    assert float(loss) == pytest.approx(5.5)
    assert set(m) == {"loss", "fraction_active", "mean_d_ap", "mean_d_an"}
    with pytest.raises(ValueError):
        losses.triplet_objective(mining="hardest")
