"""GAN architectures, chosen by `model.arch`: each is a generator builder and a
discriminator builder, pure functions of the model config.

Generators map z: float32 [B, z_dim] ~ N(0, 1) to images float32 [B, 28, 28, 1] in
[-1, 1]. Discriminators map images to one logit per image, float32 [B, 1] (the book's
final sigmoid lives in the loss, where it is numerically stable).

With `model.conditional` both also take the digit, int32 [B] in 0..9: the Keras
models' inputs become [z, labels] and [images, labels]. The generator reads a learned
class embedding next to z; the discriminator uses a projection head (Miyato & Koyama
2018): logit = w . h + embed(y) . h, for its last features h. Callers never choose
between the two input forms: a `Network` is always called as network(x, labels).

An architecture is its two builders plus one entry of `ARCHITECTURES`, which also
holds what is specific to it, such as whether XLA pays on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import keras
from keras import layers, ops

from mnist_gan.core.config import ModelConfig
from mnist_gan.data.splits import IMAGE_SHAPE, NUM_CLASSES
from mnist_gan.networks.layers import ClassAffine, MinibatchStd, SpectralNorm

IMAGE_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
LABEL_EMBEDDING = 32  # width of the generator's class embedding
BASE_SIDE = IMAGE_SHAPE[0] // 4  # the DCGAN generator starts at 7x7 and doubles twice


def _normalization(kind: str) -> layers.Layer | None:
    if kind == "batch":
        return layers.BatchNormalization()
    if kind == "layer":
        return layers.LayerNormalization()
    return None


def _inputs(config: ModelConfig, shape: tuple[int, ...], name: str) -> list:
    inputs = [keras.Input(shape, name=name)]
    if config.conditional:
        inputs.append(keras.Input((), dtype="int32", name="labels"))
    return inputs


def _generator_input(config: ModelConfig, inputs: list):
    """z, or z next to the label's embedding: [B, z_dim (+ LABEL_EMBEDDING)]."""
    if not config.conditional:
        return inputs[0]
    embedded = layers.Embedding(NUM_CLASSES, LABEL_EMBEDDING, name="class_embedding")(inputs[1])
    return layers.Concatenate()([inputs[0], embedded])


def _logits(config: ModelConfig, features, inputs: list):
    """The discriminator's head on features [B, F]: a linear logit, plus the
    projection embed(y) . h when conditional. float32 [B, 1]."""
    logits = _maybe_spectral(config, layers.Dense(1, dtype="float32"))(features)
    if config.conditional:
        embedded = layers.Embedding(NUM_CLASSES, features.shape[-1], dtype="float32")(inputs[1])
        projection = layers.Dot(axes=1, dtype="float32")([embedded, features])
        logits = layers.Add(dtype="float32")([logits, projection])
    return logits


def _model(inputs: list, outputs, name: str) -> keras.Model:
    """A model over `_inputs`: one input, or [inputs, labels] when conditional."""
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=name)


def _maybe_spectral(config: ModelConfig, layer: layers.Layer) -> layers.Layer:
    return SpectralNorm(layer) if config.spectral_norm else layer


def mlp_generator(config: ModelConfig) -> keras.Model:
    """ "GANs in Action" ch. 3: z -> Dense(128) -> LeakyReLU(0.01) -> Dense(784, tanh)."""
    inputs = _inputs(config, (config.z_dim,), "z")
    x = layers.Dense(config.hidden_units)(_generator_input(config, inputs))
    x = layers.LeakyReLU(negative_slope=0.01)(x)
    # float32 output under mixed precision: the images and the loss stay full precision.
    x = layers.Dense(IMAGE_PIXELS, activation="tanh", dtype="float32")(x)
    images = layers.Reshape(IMAGE_SHAPE, dtype="float32")(x)
    return _model(inputs, images, "generator")


def mlp_discriminator(config: ModelConfig) -> keras.Model:
    """ "GANs in Action" ch. 3: Flatten -> Dense(128) -> LeakyReLU(0.01) -> Dense(1)."""
    inputs = _inputs(config, IMAGE_SHAPE, "images")
    x = layers.Flatten()(inputs[0])
    x = _maybe_spectral(config, layers.Dense(config.hidden_units))(x)
    x = layers.LeakyReLU(negative_slope=0.01)(x)
    return _model(inputs, _logits(config, x, inputs), "discriminator")


def dcgan_generator(config: ModelConfig) -> keras.Model:
    """DCGAN (Radford et al. 2016) for 28x28: Dense to 7x7 x 2*g_width, then two
    4x4 stride-2 transposed convolutions (14x14 x g_width, then 28x28 x 1, tanh), each
    resolution followed by `g_depth` extra 3x3 convolutions (each with an identity
    skip when `residual`); normalization `g_norm` and ReLU after every hidden layer
    (`class_layer`: layer normalization with a gain and shift per digit, `ClassAffine`).
    With `g_upsample` nearest or bilinear, each transposed convolution is that
    upsampling and a 3x3 convolution instead."""
    inputs = _inputs(config, (config.z_dim,), "z")
    wide = 2 * config.g_width
    # A hidden layer has a bias only without normalization, whose shift replaces it.
    bias = config.g_norm == "none"
    x = layers.Dense(BASE_SIDE * BASE_SIDE * wide, use_bias=bias)(_generator_input(config, inputs))
    x = layers.Reshape((BASE_SIDE, BASE_SIDE, wide))(x)
    labels = inputs[-1]  # read only by class_layer, which needs a conditional model
    x = _generator_block(config, x, labels)

    def convolution(channels: int) -> layers.Layer:
        return layers.Conv2D(channels, 3, padding="same", use_bias=bias)

    def block(h):
        return _generator_block(config, h, labels)

    x = _extra_convolutions(config, x, config.g_depth, convolution, block)
    x = _generator_block(config, _doubling(config, config.g_width, use_bias=bias)(x), labels)
    x = _extra_convolutions(config, x, config.g_depth, convolution, block)
    images = _doubling(config, 1, activation="tanh", dtype="float32")(x)
    return _model(inputs, images, "generator")


def _doubling(config: ModelConfig, filters: int, **conv) -> Callable:
    """G's step from one resolution to twice it, with `filters` output channels and
    the convolution's other arguments `conv`, as `model.g_upsample` says."""
    if config.g_upsample == "transposed":
        return layers.Conv2DTranspose(filters, 4, strides=2, padding="same", **conv)
    upsample = layers.UpSampling2D(2, interpolation=config.g_upsample)
    convolution = layers.Conv2D(filters, 3, padding="same", **conv)
    return lambda x: convolution(upsample(x))


def _extra_convolutions(config: ModelConfig, x, depth: int, convolution: Callable, block: Callable):
    """`depth` 3x3 convolutions at x's resolution, [B, H, W, C] -> [B, H, W, C]:
    each is `convolution(C)` followed by `block` (normalization and activation), and
    with `model.residual` adds its input to its output."""
    for _ in range(depth):
        h = block(convolution(x.shape[-1])(x))
        x = layers.Add()([x, h]) if config.residual else h
    return x


def _generator_block(config: ModelConfig, x, labels):
    if config.g_norm == "class_layer":
        x = layers.LayerNormalization(center=False, scale=False)(x)
        x = ClassAffine()([x, labels])
    else:
        norm = _normalization(config.g_norm)
        if norm is not None:
            x = norm(x)
    return layers.ReLU()(x)


def dcgan_discriminator(config: ModelConfig) -> keras.Model:
    """DCGAN's discriminator for 28x28: two 4x4 stride-2 convolutions (14x14 x d_width,
    7x7 x 2*d_width), each resolution (or only the one `d_depth_at` names) followed by
    `d_depth` extra 3x3 convolutions (each with an identity skip when `residual`),
    LeakyReLU(0.2), normalization `d_norm` after all but the first; then the logit from
    the flattened 7x7 features.
    With `d_minibatch_std` the 14x14 features get the minibatch standard deviation as
    one more channel before the convolution to 7x7, so every 7x7 convolution can use
    it."""
    inputs = _inputs(config, IMAGE_SHAPE, "images")

    def convolution(channels: int) -> layers.Layer:
        return _maybe_spectral(config, layers.Conv2D(channels, 3, padding="same"))

    def block(h):
        return _discriminator_block(config, h, normalize=True)

    x = inputs[0]
    for index, width in enumerate((config.d_width, 2 * config.d_width)):
        if index > 0 and config.d_minibatch_std:
            x = MinibatchStd(config.d_minibatch_std)(x)
        x = _maybe_spectral(config, layers.Conv2D(width, 4, strides=2, padding="same"))(x)
        x = _discriminator_block(config, x, normalize=index > 0)
        resolution = f"{x.shape[1]}x{x.shape[2]}"  # as `d_depth_at` names it
        depth = config.d_depth if config.d_depth_at in ("all", resolution) else 0
        x = _extra_convolutions(config, x, depth, convolution, block)
    return _model(inputs, _logits(config, layers.Flatten()(x), inputs), "discriminator")


def _discriminator_block(config: ModelConfig, x, normalize: bool):
    norm = _normalization(config.d_norm) if normalize else None
    if norm is not None:
        x = norm(x)
    return layers.LeakyReLU(negative_slope=0.2)(x)


class Architecture(NamedTuple):
    generator: Callable[[ModelConfig], keras.Model]
    discriminator: Callable[[ModelConfig], keras.Model]
    # Whether XLA compiles the training loop on a CPU under `train.jit: auto` (it is
    # off on a GPU: core.runtime.use_xla): on where it was measured to pay on a CPU
    # (docs/engineering.md, "Speed"), off where it was measured to cost.
    xla_on_cpu: bool = False
    # The model params that scale each network's channels or units (networks.footprint).
    generator_width: str = "g_width"
    discriminator_width: str = "d_width"


ARCHITECTURES: dict[str, Architecture] = {
    "mlp": Architecture(
        mlp_generator,
        mlp_discriminator,
        xla_on_cpu=True,
        generator_width="hidden_units",
        discriminator_width="hidden_units",
    ),
    "dcgan": Architecture(dcgan_generator, dcgan_discriminator, xla_on_cpu=False),
}


@dataclass(frozen=True, eq=False)
class Network:
    """A generator or a discriminator with the one calling convention every caller
    uses, network(x, labels): x is z float32 [B, z_dim] (generator) or images float32
    [B, 28, 28, 1] (discriminator), labels int32 [B] in 0..9, which an unconditional
    network ignores. `model` is the Keras model (weights, variables); `config` the
    model params it was built from."""

    model: keras.Model
    config: ModelConfig

    def __call__(self, x, labels, training: bool = False):
        if not self.config.conditional:
            return self.model(x, training=training)
        # Keras refuses a list mixing tensors and arrays: make both tensors.
        inputs = [ops.convert_to_tensor(x), ops.convert_to_tensor(labels)]
        return self.model(inputs, training=training)


def build_generator(config: ModelConfig) -> Network:
    """The generator, with layers in the current Keras dtype policy."""
    return Network(ARCHITECTURES[config.arch].generator(config), config)


def build_discriminator(config: ModelConfig) -> Network:
    return Network(ARCHITECTURES[config.arch].discriminator(config), config)
