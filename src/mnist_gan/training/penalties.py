"""Discriminator regularizers, chosen by the keys of `train.penalties`, weighted by
their values.

Each penalty has one signature, `penalty(critic, real, fake, alpha) -> scalar`: the
critic maps images float32 [B, 28, 28, 1] to logits [B, 1] (labels already bound),
real and fake are [B, 28, 28, 1], alpha float32 [B, 1, 1, 1] is uniform in [0, 1].
`Regularizer` adds `weight * penalty` to D's loss, lazily (train.penalty_every) unless
the penalty is in `EVERY_UPDATE`. Adding a penalty is one function and one entry of
`PENALTIES`.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

# Inside sqrt: the gradient of sqrt at 0 is infinite, and an interpolate where D is
# flat would otherwise turn the whole step into NaN.
NORM_EPSILON = 1e-12

Critic = Callable[[tf.Tensor], tf.Tensor]
Penalty = Callable[[Critic, tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


def interpolation_alpha(rng: tf.random.Generator, batch: int) -> tf.Tensor:
    """WGAN-GP's mixing weights: float32 [B, 1, 1, 1] uniform in [0, 1], one per image,
    broadcast over its pixels."""
    return rng.uniform([batch, 1, 1, 1], 0.0, 1.0)


def gradient_penalty(
    critic: Critic, real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor
) -> tf.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)||_2 - 1)^2] at
    x_hat = alpha real + (1 - alpha) fake; its weight is lambda (10 in the paper)."""
    mixed = alpha * real + (1.0 - alpha) * tf.stop_gradient(fake)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        logits = critic(mixed)
    gradients = tape.gradient(logits, mixed)
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]) + NORM_EPSILON)
    return tf.reduce_mean(tf.square(norms - 1.0))


def r1_penalty(critic: Critic, real: tf.Tensor) -> tf.Tensor:
    """E[||grad D(x)||^2] on real images [B, 28, 28, 1] (Mescheder et al. 2018)."""
    with tf.GradientTape() as tape:
        tape.watch(real)
        logits = critic(real)
    gradients = tape.gradient(logits, real)
    return tf.reduce_mean(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]))


def r1(critic: Critic, real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """R1 as the paper weights it: gamma / 2 E||grad D(real)||^2, so its weight is gamma."""
    return 0.5 * r1_penalty(critic, real)


PENALTIES: dict[str, Penalty] = {
    "gradient_penalty": gradient_penalty,
    "r1": r1,
}

# Penalties applied at every D update whatever `train.penalty_every` says: WGAN-GP's
# is its critic's Lipschitz constraint, not a regularizer that may come now and then.
EVERY_UPDATE = frozenset({"gradient_penalty"})


def _weighted_sum(
    penalties: dict[Penalty, float],
    critic: Critic,
    real: tf.Tensor,
    fake: tf.Tensor,
    alpha: tf.Tensor,
    scale: float = 1.0,
) -> tf.Tensor:
    total = tf.constant(0.0)
    for penalty, weight in penalties.items():
        total += scale * weight * penalty(critic, real, fake, alpha)
    return total


class Regularizer:
    """D's penalties with their weights (`weights`: names of PENALTIES, weights > 0),
    applied with lazy regularization (StyleGAN2, Karras et al. 2020): with `every` N > 1,
    the lazy ones (all but EVERY_UPDATE) come N times as heavy on the D updates whose
    number is a multiple of N, counting from 0 (so the first update has them), and are
    left out, not computed, on the others. With N = 1 every penalty comes every update.
    """

    def __init__(self, weights: dict[str, float], every: int):
        self.every = every
        self.eager: dict[Penalty, float] = {}
        self.lazy: dict[Penalty, float] = {}
        for name, weight in weights.items():
            eager = every == 1 or name in EVERY_UPDATE
            (self.eager if eager else self.lazy)[PENALTIES[name]] = weight

    def __call__(
        self, critic: Critic, real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor, d_update
    ) -> tf.Tensor:
        """The weighted sum of the penalties due at D update number `d_update` (an int
        scalar or the D optimizer's counter, which the checkpoint holds, so a resumed run
        regularizes the same updates); a float32 scalar, 0 with none due."""
        eager = _weighted_sum(self.eager, critic, real, fake, alpha)
        if not self.lazy:
            return eager
        every = self.every
        lazy = tf.cond(
            tf.equal(tf.convert_to_tensor(d_update) % every, 0),
            lambda: _weighted_sum(self.lazy, critic, real, fake, alpha, float(every)),
            lambda: tf.constant(0.0),
        )
        return eager + lazy
