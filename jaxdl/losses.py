"""Pure loss functions and weight penalties.

Objectives used by `jaxdl.train.train_step` have the signature
`objective(outputs, batch) -> (loss, metrics)`: `loss` is a float32 scalar, the
mean over the batch's real examples, and `metrics` a dict of float32 scalars, also
means over real examples. A batch may carry `mask` (float/bool [B]) marking padded
examples with 0; they then count for nothing.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax


def masked_mean(values: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Mean of `values` [B, ...] over the examples where mask [B] is 1 (all if None).

    Trailing axes (e.g. time steps) are averaged too. Returns 0 for an empty mask.
    """
    values = jnp.asarray(values, jnp.float32)
    if mask is None:
        return jnp.mean(values)
    weights = jnp.broadcast_to(
        jnp.asarray(mask, jnp.float32).reshape(mask.shape + (1,) * (values.ndim - 1)),
        values.shape)
    return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def sigmoid_binary_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-element binary cross-entropy -[y log p + (1-y) log(1-p)], p = sigmoid(logit).

    Computed from logits (numerically stable). logits, labels: same shape; labels in
    {0, 1} (or soft targets in [0, 1]). Returns float32 of that shape, in nats.
    """
    return optax.sigmoid_binary_cross_entropy(
        jnp.asarray(logits, jnp.float32), jnp.asarray(labels, jnp.float32))


def binary_classification(outputs: jax.Array,
                          batch: Mapping[str, Any]) -> tuple[jax.Array, dict]:
    """Objective for binary classification from one logit per example.

    outputs: logits [B]; batch["label"]: int [B] in {0, 1}; optional batch["mask"].
    Returns (mean BCE, {"loss", "accuracy"}), accuracy at p = 0.5 (logit 0).
    """
    labels = batch["label"]
    mask = batch.get("mask")
    loss = masked_mean(sigmoid_binary_cross_entropy(outputs, labels), mask)
    correct = (outputs > 0) == (labels == 1)
    return loss, {"loss": loss, "accuracy": masked_mean(correct, mask)}


def weighted_sigmoid_binary_cross_entropy(logits: jax.Array, labels: jax.Array,
                                           positive_weight: float = 1.0) -> jax.Array:
    """Per-element BCE with the positive term weighted:
    -[w y log p + (1-y) log(1-p)], p = sigmoid(logit); w = 1 is the plain BCE.

    For rare positives (a trigger word's few labelled steps) w > 1 trades
    precision for recall. Same shapes in and out, float32, in nats.
    """
    logits = jnp.asarray(logits, jnp.float32)
    labels = jnp.asarray(labels, jnp.float32)
    return -(positive_weight * labels * jax.nn.log_sigmoid(logits)
             + (1.0 - labels) * jax.nn.log_sigmoid(-logits))


def per_step_binary_classification(positive_weight: float = 1.0):
    """Objective for per-step binary targets (sequence labelling).

    outputs: logits [B, T]; batch["labels"]: {0, 1} [B, T]; optional batch["mask"]
    [B]. The loss is the mean over examples and steps of the (positive-weighted)
    BCE; metrics: loss and frame_accuracy (p > 0.5).
    """
    def objective(outputs: jax.Array, batch: Mapping[str, Any]) -> tuple[jax.Array, dict]:
        labels = batch["labels"]
        mask = batch.get("mask")
        loss = masked_mean(weighted_sigmoid_binary_cross_entropy(
            outputs, labels, positive_weight), mask)
        correct = (outputs > 0) == (labels > 0.5)
        return loss, {"loss": loss, "frame_accuracy": masked_mean(correct, mask)}

    return objective


def _is_kernel(path) -> bool:
    last = path[-1]
    return getattr(last, "key", getattr(last, "name", None)) == "kernel"


def l1_penalty(params: Any) -> jax.Array:
    """Sum of |w| over every weight matrix / conv kernel (biases and norm scales excluded)."""
    leaves = [jnp.sum(jnp.abs(x)) for p, x in
              jax.tree_util.tree_leaves_with_path(params) if _is_kernel(p)]
    return sum(leaves, jnp.zeros((), jnp.float32))


def l2_penalty(params: Any) -> jax.Array:
    """Half the sum of w^2 over every kernel (biases and norm scales excluded).

    With the 1/2, the gradient of l2 * l2_penalty is l2 * w, the classic weight decay.
    """
    leaves = [0.5 * jnp.sum(jnp.square(x)) for p, x in
              jax.tree_util.tree_leaves_with_path(params) if _is_kernel(p)]
    return sum(leaves, jnp.zeros((), jnp.float32))


# --------------------------------------------------------------------------- triplet loss

import functools  # noqa: E402

TRIPLET_MINING = ("batch_all", "batch_hard", "semi_hard")


def pairwise_squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
    """Squared Euclidean distances between the rows of a [N, D] and b [M, D].

    Computed as |a|^2 + |b|^2 - 2 a.b (one matmul, at full float32 precision even on
    TPU) after moving the origin to the mean of b's rows (distances do not change;
    the expansion's cancellation error, about 1e-7 x |row|^2, does shrink for data
    far from the origin), and clipped at 0, because rounding can make the
    expansion slightly negative for (near-)identical rows. No square root, so it
    is differentiable everywhere (sqrt has an infinite gradient at 0). Returns
    float32 [N, M], in squared embedding units.
    """
    a = jnp.asarray(a, jnp.float32)
    b = jnp.asarray(b, jnp.float32)
    # Any constant shift gives the same distances, so its gradient can be dropped.
    origin = jax.lax.stop_gradient(jnp.mean(b, axis=0))
    a, b = a - origin, b - origin
    cross = jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)
    squared = (jnp.sum(jnp.square(a), axis=-1)[:, None]
               + jnp.sum(jnp.square(b), axis=-1)[None, :] - 2.0 * cross)
    return jnp.maximum(squared, 0.0)


@functools.partial(jax.jit, static_argnames=("mining", "soft"))
def triplet_loss(embeddings: jax.Array, labels: jax.Array, *, margin: float = 0.2,
                 mining: str = "batch_all", soft: bool = False,
                 mask: jax.Array | None = None) -> tuple[jax.Array, dict]:
    """Triplet loss over squared L2 distances, with in-batch triplet mining.

    A triplet (a, p, n) of rows is valid when labels[a] == labels[p], a != p and
    labels[n] != labels[a], and all three rows are real (mask = 1). Its loss is
    max(d_ap - d_an + margin, 0) (hinge), or log(1 + exp(d_ap - d_an)) with
    `soft=True` (Hermans et al.'s soft margin; `margin` is then ignored), where
    d = squared L2 distance (not normalised: L2-normalise the embeddings first if
    the model does not).

    Mining (all with fixed shapes: masks, never boolean indexing):
      "batch_all":  every valid triplet; the loss is the mean over the triplets
                    with positive loss (Hermans et al.'s "BA != 0" variant), so
                    easy triplets do not dilute it; loss x fraction_active is the
                    mean over all valid triplets. With `soft=True`
                    every triplet has positive loss: the mean is over all of them.
                    Memory O(B^3).
      "batch_hard": per anchor, the hardest (farthest) valid positive and the
                    hardest (nearest) valid negative (Hermans et al. 2017); mean
                    over anchors that have both.
      "semi_hard":  FaceNet's semi-hard negatives with the TF-addons
                    `triplet_semihard_loss` rule: per valid anchor-positive pair,
                    the nearest negative with d_an > d_ap; if there is none (every
                    negative is nearer than the positive), the negative with the
                    largest d_an. Mean over all such pairs, zero-loss ones
                    included (as TF-addons). This gives the same loss as "the
                    hardest negative with d_ap < d_an < d_ap + margin, else the
                    farthest negative", since any negative beyond d_ap + margin
                    gives 0. The selection never uses the margin, so it is the
                    same with `soft=True`. (TF-addons' default distance is plain
                    L2; here, as everywhere in this loss, it is squared L2, as
                    in FaceNet.) Memory O(B^3).
    Anchors (or anchor-positive pairs) with no valid positive or no valid negative
    contribute nothing; a batch with no valid triplet has loss 0.

    Unlike the course's loss (a sum over the batch, see REFERENCE.md), the loss is
    a mean, so its scale and the learning rate do not depend on the batch size.

    Args:
      embeddings: float [B, D].
      labels: int [B], identities (any ints).
      margin: alpha, in squared-distance units (FaceNet: 0.2 for unit-norm
        embeddings).
      mining: "batch_all", "batch_hard" or "semi_hard" (static: the function is
        jitted with `mining` and `soft` static; `margin` may be traced).
      soft: use the soft margin log(1 + exp(d_ap - d_an)) instead of the hinge.
      mask: optional bool/0-1 [B]; rows with 0 (padding) are in no triplet at all.

    Returns:
      (loss, metrics): loss a float32 scalar; metrics a dict of float32 scalars
      "loss", "fraction_active" (fraction of the triplets the strategy formed --
      all valid triplets, one per anchor, or one per anchor-positive pair -- that
      are active: d_ap - d_an + margin > 0, i.e. positive hinge loss; with the soft
      margin, whose loss is never 0, active means d_ap > d_an), "mean_d_ap" and
      "mean_d_an" (mean squared distances over those same triplets).
    """
    if mining not in TRIPLET_MINING:
        raise ValueError(f"mining must be one of {TRIPLET_MINING}, got {mining!r}")
    embeddings = jnp.asarray(embeddings, jnp.float32)
    labels = jnp.asarray(labels)
    batch = embeddings.shape[0]
    real = (jnp.ones((batch,), bool) if mask is None
            else jnp.asarray(mask).astype(bool).reshape(batch))
    dist = pairwise_squared_distances(embeddings, embeddings)
    both_real = real[:, None] & real[None, :]
    same = labels[:, None] == labels[None, :]
    positive = same & ~jnp.eye(batch, dtype=bool) & both_real    # [a, p]
    negative = ~same & both_real                                  # [a, n]
    offset = 0.0 if soft else margin

    def per_triplet_loss(d_ap, d_an):
        if soft:
            return jax.nn.softplus(d_ap - d_an)
        return jnp.maximum(d_ap - d_an + margin, 0.0)

    def summarise(loss_sum, loss_count, used, d_ap, d_an):
        # `used` marks the formed triplets; every reduction below is a masked mean.
        used_f = used.astype(jnp.float32)
        count = jnp.maximum(jnp.sum(used_f), 1.0)
        active = used & (d_ap - d_an + offset > 0)
        loss = loss_sum / jnp.maximum(loss_count, 1.0)
        return loss, {
            "loss": loss,
            "fraction_active": jnp.sum(active.astype(jnp.float32)) / count,
            "mean_d_ap": jax.lax.stop_gradient(jnp.sum(jnp.where(used, d_ap, 0.0)) / count),
            "mean_d_an": jax.lax.stop_gradient(jnp.sum(jnp.where(used, d_an, 0.0)) / count),
        }

    if mining == "batch_all":
        used = positive[:, :, None] & negative[:, None, :]        # [a, p, n]
        d_ap = jnp.broadcast_to(dist[:, :, None], used.shape)
        d_an = jnp.broadcast_to(dist[:, None, :], used.shape)
        losses_ = jnp.where(used, per_triplet_loss(d_ap, d_an), 0.0)
        counted = used if soft else used & (losses_ > 0)
        return summarise(jnp.sum(losses_), jnp.sum(counted.astype(jnp.float32)),
                         used, d_ap, d_an)

    if mining == "batch_hard":
        used = jnp.any(positive, axis=1) & jnp.any(negative, axis=1)   # [a]
        # Finite sentinels (distances are >= 0) keep inf - inf NaNs out of the graph.
        far = jax.lax.stop_gradient(jnp.max(dist)) + 1.0
        d_ap = jnp.max(jnp.where(positive, dist, 0.0), axis=1)
        d_an = jnp.min(jnp.where(negative, dist, far), axis=1)
        losses_ = jnp.where(used, per_triplet_loss(d_ap, d_an), 0.0)
        return summarise(jnp.sum(losses_), jnp.sum(used.astype(jnp.float32)),
                         used, d_ap, d_an)

    # semi_hard, one triplet per anchor-positive pair [a, p].
    used = positive & jnp.any(negative, axis=1)[:, None]
    far = jax.lax.stop_gradient(jnp.max(dist)) + 1.0
    d_ap = dist
    farther = negative[:, None, :] & (dist[:, None, :] > dist[:, :, None])   # [a, p, n]
    nearest_farther = jnp.min(jnp.where(farther, dist[:, None, :], far), axis=2)
    farthest = jnp.max(jnp.where(negative, dist, 0.0), axis=1)               # [a]
    d_an = jnp.where(jnp.any(farther, axis=2), nearest_farther, farthest[:, None])
    losses_ = jnp.where(used, per_triplet_loss(d_ap, d_an), 0.0)
    return summarise(jnp.sum(losses_), jnp.sum(used.astype(jnp.float32)),
                     used, d_ap, d_an)


def triplet_objective(margin: float = 0.2, mining: str = "batch_all",
                      soft: bool = False):
    """An `objective(outputs, batch) -> (loss, metrics)` for `TrainState.objective`.

    outputs: the embeddings [B, D]; batch["identity"]: int [B]; optional
    batch["mask"] [B]. See `triplet_loss` for the arguments and the metrics.

    Mining only sees the rows it is given: under data parallelism (pmap /
    shard_map) each device would mine within its own shard, a different (and
    smaller) set of triplets than one device on the global batch. The step must
    first gather the embeddings, identities and masks across devices
    (`lax.all_gather(..., axis_name, tiled=True)`) and call the objective on the
    global batch: create the TrainState with `global_objective=True`, which makes
    `jaxdl.train.steps` do exactly that.
    """
    if mining not in TRIPLET_MINING:
        raise ValueError(f"mining must be one of {TRIPLET_MINING}, got {mining!r}")

    def objective(outputs: jax.Array, batch: Mapping[str, Any]) -> tuple[jax.Array, dict]:
        return triplet_loss(outputs, batch["identity"], margin=margin, mining=mining,
                            soft=soft, mask=batch.get("mask"))

    return objective


# -- neural style transfer (Gatys et al. 2015, with the course's normalisations) --
def _floating(x) -> jax.Array:
    """x as a float array: float32 unless it already is floating (float64 stays, so
    gradient checks can run in double precision)."""
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def gram_matrix(features: jax.Array, *, normalize: bool = False) -> jax.Array:
    """The Gram matrix of a layer's activations: G[c, c'] = sum over positions of
    a[.., c] a[.., c'] (the course's G = A A^T, A being [nC, nH nW]).

    features: [..., H, W, C]; returns [..., C, C]. normalize=True divides by H W,
    giving per-position averages that compare across image sizes.
    """
    features = _floating(features)
    *lead, h, w, c = features.shape
    a = features.reshape(*lead, h * w, c)
    gram = jnp.einsum("...pc,...pd->...cd", a, a)
    return gram / (h * w) if normalize else gram


def content_loss(content: jax.Array, generated: jax.Array) -> jax.Array:
    """J_content = sum (a_C - a_G)^2 / (4 nH nW nC), for activations [nH, nW, nC]
    (leading axes are summed over too; the normaliser uses the last three)."""
    content = _floating(content)
    nh, nw, nc = content.shape[-3:]
    return jnp.sum((content - generated) ** 2) / (4.0 * nh * nw * nc)


def style_layer_loss(style_gram: jax.Array, generated_gram: jax.Array) -> jax.Array:
    """One layer's J_style from Gram matrices normalised by positions
    (`gram_matrix(a, normalize=True)`), [nC, nC]:

        sum (G_S - G_G)^2 / (4 nC^2 (nH nW)^2) = sum (G_S/nHnW - G_G/nHnW)^2 / (4 nC^2)

    The right-hand form is what is computed, so the style image may have another
    size than the generated one (the course's form assumes they match).
    """
    nc = style_gram.shape[-1]
    return jnp.sum((style_gram - generated_gram) ** 2) / (4.0 * nc * nc)


def style_loss(style_grams: Mapping[str, jax.Array], generated: Mapping[str, jax.Array],
               layer_weights: Mapping[str, float]) -> jax.Array:
    """J_style = sum over layers of lambda_l J_style_layer.

    style_grams: {layer: normalised Gram [nC, nC]} of the style (or a blend of
    styles); generated: {layer: activations [nH, nW, nC]} of the generated image;
    layer_weights: {layer: lambda_l} (the course: 0.2 for each of five layers).
    """
    return sum(weight * style_layer_loss(style_grams[layer],
                                         gram_matrix(generated[layer], normalize=True))
               for layer, weight in layer_weights.items())


def total_variation_loss(image: jax.Array) -> jax.Array:
    """Mean squared difference between vertically and horizontally adjacent pixels,
    summed over the two directions: image [H, W, C] -> scalar. Being a mean, its
    weight means the same at every image size (coarse-to-fine keeps gamma)."""
    image = _floating(image)
    dy = image[..., 1:, :, :] - image[..., :-1, :, :]
    dx = image[..., :, 1:, :] - image[..., :, :-1, :]
    return jnp.mean(dy ** 2) + jnp.mean(dx ** 2)
