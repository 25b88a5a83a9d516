"""GAN losses, chosen by `train.loss`. Each takes discriminator logits, float32 [B, 1],
and returns a scalar: `discriminator(real_logits, fake_logits)` and
`generator(fake_logits)`. Both are minimized.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf


def non_saturating_discriminator(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy, real labelled 1 and fake 0, averaged over the two halves
    (the number the book's seed reports as the D loss)."""
    real = tf.reduce_mean(tf.nn.softplus(-real_logits))  # -log sigmoid(real)
    fake = tf.reduce_mean(tf.nn.softplus(fake_logits))  # -log(1 - sigmoid(fake))
    return 0.5 * (real + fake)


def non_saturating_generator(fake_logits: tf.Tensor) -> tf.Tensor:
    """-log D(G(z)): the generator's BCE against the "real" label."""
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


class GANLoss(NamedTuple):
    discriminator: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    generator: Callable[[tf.Tensor], tf.Tensor]


LOSSES: dict[str, GANLoss] = {
    "non_saturating": GANLoss(non_saturating_discriminator, non_saturating_generator),
}
