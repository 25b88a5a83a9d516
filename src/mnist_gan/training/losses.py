"""GAN losses, chosen by `train.loss`.

Each loss takes discriminator logits, float32 [B, 1], and returns a scalar:
`discriminator(real_logits, fake_logits)` and `generator(fake_logits)`, both minimized.
An entry says where its discriminator separates real from fake (`decision_threshold`,
for the logged d_accuracy) and may name a penalty it cannot work without
(`requires_penalty`, a key of penalties.PENALTIES that must have a positive weight).
Adding a loss is its functions and one entry of `LOSSES`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf


def non_saturating_discriminator(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy, real labelled 1 and fake 0, averaged over the two halves
    (the number the book's training loop reports as the D loss)."""
    real = tf.reduce_mean(tf.nn.softplus(-real_logits))  # -log sigmoid(real)
    fake = tf.reduce_mean(tf.nn.softplus(fake_logits))  # -log(1 - sigmoid(fake))
    return 0.5 * (real + fake)


def non_saturating_generator(fake_logits: tf.Tensor) -> tf.Tensor:
    """-log D(G(z)): the generator's BCE against the "real" label."""
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


def hinge_discriminator(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Hinge loss (Lim & Ye 2017; SAGAN, BigGAN): push real logits above +1 and fake
    logits below -1, and stop caring once they are there."""
    return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(
        tf.nn.relu(1.0 + fake_logits)
    )


def critic_generator(fake_logits: tf.Tensor) -> tf.Tensor:
    """-E[D(G(z))]: the generator side of both the hinge and the Wasserstein loss."""
    return -tf.reduce_mean(fake_logits)


def wasserstein_discriminator(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """E[D(fake)] - E[D(real)]: minus the critic's Wasserstein-1 estimate (Arjovsky et
    al. 2017); it needs a Lipschitz constraint, here the gradient penalty."""
    return tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)


def least_squares_discriminator(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """LSGAN (Mao et al. 2017), targets real 1 and fake 0: 0.5 E[(D(x)-1)^2] + 0.5 E[D(G(z))^2]."""
    return 0.5 * tf.reduce_mean(tf.square(real_logits - 1.0)) + 0.5 * tf.reduce_mean(
        tf.square(fake_logits)
    )


def least_squares_generator(fake_logits: tf.Tensor) -> tf.Tensor:
    """LSGAN's generator: 0.5 E[(D(G(z)) - 1)^2]."""
    return 0.5 * tf.reduce_mean(tf.square(fake_logits - 1.0))


def top_k_fraction(
    update: tf.Tensor, updates_per_epoch: float, floor: float, decay: float
) -> tf.Tensor:
    """Top-k training (Sinha et al. 2020): the fraction of its fakes G's update number
    `update` (from 0) learns from, decay ** epochs for the epochs = update /
    updates_per_epoch passes over the training set so far, but at least `floor`.
    float32 scalar in [floor, 1], 1 at the first update."""
    epochs = tf.cast(update, tf.float32) / updates_per_epoch
    return tf.maximum(tf.constant(floor, tf.float32), tf.constant(decay, tf.float32) ** epochs)


def most_real(fake_logits: tf.Tensor, fraction: tf.Tensor) -> tf.Tensor:
    """The ceil(fraction x B) largest of `fake_logits` [B, 1] (at least one): the
    fakes D finds most real, which top-k training keeps in G's loss. [k, 1]."""
    count = tf.cast(tf.shape(fake_logits)[0], tf.float32)
    k = tf.maximum(1, tf.cast(tf.math.ceil(fraction * count), tf.int32))
    return tf.reshape(tf.math.top_k(tf.reshape(fake_logits, [-1]), k).values, [-1, 1])


class TopK(NamedTuple):
    """Top-k training's schedule (`train.top_k` as `floor`, `train.top_k_decay` as
    `decay`, 1 for either: off) for a training set of `updates_per_epoch` G updates per
    pass."""

    floor: float
    decay: float
    updates_per_epoch: float

    def kept(self, fake_logits: tf.Tensor, update: tf.Tensor) -> tf.Tensor:
        """The logits [k, 1] of `fake_logits` [B, 1] that G's update number `update`
        learns from: all of them when top-k is off, else `most_real` of its fraction."""
        if self.floor >= 1:
            return fake_logits
        fraction = top_k_fraction(update, self.updates_per_epoch, self.floor, self.decay)
        return most_real(fake_logits, fraction)


class GANLoss(NamedTuple):
    discriminator: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    generator: Callable[[tf.Tensor], tf.Tensor]
    decision_threshold: float = 0.0  # logits above it mean "real"
    requires_penalty: str | None = None  # e.g. the Lipschitz constraint of a critic


LOSSES: dict[str, GANLoss] = {
    "non_saturating": GANLoss(non_saturating_discriminator, non_saturating_generator),
    "hinge": GANLoss(hinge_discriminator, critic_generator),
    "wgan_gp": GANLoss(
        wasserstein_discriminator, critic_generator, requires_penalty="gradient_penalty"
    ),
    "least_squares": GANLoss(
        least_squares_discriminator, least_squares_generator, decision_threshold=0.5
    ),
}
