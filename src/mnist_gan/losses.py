"""GAN losses, chosen by `train.loss`, and discriminator regularizers.

Each loss takes discriminator logits, float32 [B, 1], and returns a scalar:
`discriminator(real_logits, fake_logits)` and `generator(fake_logits)`, both minimized.
A loss may also ask for a gradient penalty on the discriminator (`penalty_weight`, the
WGAN-GP lambda) and says where its discriminator separates real from fake
(`decision_threshold`, for the logged d_accuracy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

# Inside sqrt: the gradient of sqrt at 0 is infinite, and an interpolate where D is
# flat would otherwise turn the whole step into NaN.
NORM_EPSILON = 1e-12

Critic = Callable[[tf.Tensor], tf.Tensor]


def non_saturating_discriminator(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy, real labelled 1 and fake 0, averaged over the two halves
    (the number the book's seed reports as the D loss)."""
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


def interpolation_alpha(rng: tf.random.Generator, batch: int) -> tf.Tensor:
    """WGAN-GP's mixing weights: float32 [B, 1, 1, 1] uniform in [0, 1], one per image,
    broadcast over its pixels."""
    return rng.uniform([batch, 1, 1, 1], 0.0, 1.0)


def gradient_penalty(
    critic: Critic, real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor
) -> tf.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)||_2 - 1)^2] at
    x_hat = alpha real + (1 - alpha) fake. real, fake: [B, 28, 28, 1]; alpha [B, 1, 1, 1]."""
    mixed = alpha * real + (1.0 - alpha) * tf.stop_gradient(fake)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        logits = critic(mixed)
    gradients = tape.gradient(logits, mixed)
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]) + NORM_EPSILON)
    return tf.reduce_mean(tf.square(norms - 1.0))


def r1_penalty(critic: Critic, real: tf.Tensor) -> tf.Tensor:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real images [B, 28, 28, 1];
    the loss adds gamma / 2 times it."""
    with tf.GradientTape() as tape:
        tape.watch(real)
        logits = critic(real)
    gradients = tape.gradient(logits, real)
    return tf.reduce_mean(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]))


class GANLoss(NamedTuple):
    discriminator: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    generator: Callable[[tf.Tensor], tf.Tensor]
    penalty_weight: float = 0.0  # lambda of the gradient penalty, 0 for none
    decision_threshold: float = 0.0  # logits above it mean "real"


LOSSES: dict[str, GANLoss] = {
    "non_saturating": GANLoss(non_saturating_discriminator, non_saturating_generator),
    "hinge": GANLoss(hinge_discriminator, critic_generator),
    "wgan_gp": GANLoss(wasserstein_discriminator, critic_generator, penalty_weight=10.0),
    "least_squares": GANLoss(
        least_squares_discriminator, least_squares_generator, decision_threshold=0.5
    ),
}
