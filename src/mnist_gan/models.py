"""GAN architectures, chosen by `model.arch`: each is a generator builder and a
discriminator builder, pure functions of the model config.

Generators map z: float32 [B, z_dim] ~ N(0, 1) to images float32 [B, 28, 28, 1] in
[-1, 1]. Discriminators map images to one logit per image, float32 [B, 1] (the book's
final sigmoid lives in the loss, where it is numerically stable).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import keras
from keras import layers

from mnist_gan.config import ModelConfig
from mnist_gan.data import IMAGE_SHAPE

IMAGE_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]


def mlp_generator(config: ModelConfig) -> keras.Model:
    """ "GANs in Action" ch. 3: z -> Dense(128) -> LeakyReLU(0.01) -> Dense(784, tanh)."""
    z = keras.Input((config.z_dim,), name="z")
    x = layers.Dense(config.hidden_units)(z)
    x = layers.LeakyReLU(negative_slope=0.01)(x)
    # float32 output under mixed precision: the images and the loss stay full precision.
    x = layers.Dense(IMAGE_PIXELS, activation="tanh", dtype="float32")(x)
    images = layers.Reshape(IMAGE_SHAPE, dtype="float32")(x)
    return keras.Model(z, images, name="generator")


def mlp_discriminator(config: ModelConfig) -> keras.Model:
    """ "GANs in Action" ch. 3: Flatten -> Dense(128) -> LeakyReLU(0.01) -> Dense(1)."""
    images = keras.Input(IMAGE_SHAPE, name="images")
    x = layers.Flatten()(images)
    x = layers.Dense(config.hidden_units)(x)
    x = layers.LeakyReLU(negative_slope=0.01)(x)
    logits = layers.Dense(1, dtype="float32")(x)
    return keras.Model(images, logits, name="discriminator")


class Architecture(NamedTuple):
    generator: Callable[[ModelConfig], keras.Model]
    discriminator: Callable[[ModelConfig], keras.Model]


ARCHITECTURES: dict[str, Architecture] = {
    "mlp": Architecture(mlp_generator, mlp_discriminator),
}


def build_generator(config: ModelConfig) -> keras.Model:
    """The generator, with layers in the current Keras dtype policy."""
    return ARCHITECTURES[config.arch].generator(config)


def build_discriminator(config: ModelConfig) -> keras.Model:
    return ARCHITECTURES[config.arch].discriminator(config)
