"""Keras layers the architectures use beyond Keras' own: spectral normalization, the
minibatch standard deviation and a per-digit gain and shift."""

from __future__ import annotations

import keras
from keras import layers, ops

from mnist_gan.data.splits import NUM_CLASSES


class SpectralNorm(layers.Layer):
    """Spectral normalization (Miyato et al. 2018) of a Dense or Conv2D layer: the
    layer runs with kernel / sigma, sigma its largest singular value estimated by one
    power iteration per training call. Gradients flow through sigma, as in the paper
    (Keras' own SpectralNormalization rescales the stored kernel in place instead).
    """

    def __init__(self, layer: layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape):
        self.layer.build(input_shape)
        units = self.layer.kernel.shape[-1]
        self.vector_u = self.add_weight(
            shape=(1, units),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            name="vector_u",
        )

    def _normalized_kernel(self, training: bool):
        kernel = ops.cast(self.layer.kernel, "float32")
        matrix = ops.reshape(kernel, (-1, kernel.shape[-1]))  # [fan_in, units]
        u = ops.cast(self.vector_u, "float32")
        v = _unit(ops.matmul(u, ops.transpose(matrix)))
        u = _unit(ops.matmul(v, matrix))
        u, v = ops.stop_gradient(u), ops.stop_gradient(v)
        if training:
            self.vector_u.assign(u)
        sigma = ops.sum(ops.matmul(v, matrix) * u)
        return ops.cast(kernel / sigma, self.compute_dtype)

    def call(self, inputs, training=False):
        kernel = self._normalized_kernel(bool(training))
        layer = self.layer
        if isinstance(layer, layers.Conv2D):
            outputs = layer.convolution_op(inputs, kernel)
        else:
            outputs = ops.matmul(inputs, kernel)
        if layer.use_bias:
            outputs = outputs + ops.cast(layer.bias, self.compute_dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)


class MinibatchStd(layers.Layer):
    """ProGAN's minibatch standard deviation (Karras et al. 2018): features
    [B, H, W, C] -> [B, H, W, C + 1]. The new channel holds, for each group of
    `group_size` consecutive images, the standard deviation of every feature at every
    pixel over the group, averaged to one number and repeated over the group's images
    and pixels. A batch of too-similar fakes then shows in every one of its images'
    features, which a discriminator looking at one image at a time cannot see. A batch
    that `group_size` does not divide is one group.
    """

    def __init__(self, group_size: int, **kwargs):
        super().__init__(**kwargs)
        self.group_size = group_size

    def call(self, features):
        batch = features.shape[0]
        group = self.group_size if batch is None or batch % self.group_size == 0 else batch
        height, width, channels = features.shape[1:]
        # In float32 under mixed precision: the epsilon would vanish in float16.
        grouped = ops.reshape(ops.cast(features, "float32"), (-1, group, height, width, channels))
        deviations = grouped - ops.mean(grouped, axis=1, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(deviations), axis=1) + 1e-8)  # [B/G, H, W, C]
        per_group = ops.mean(std, axis=(1, 2, 3))  # [B/G]
        per_image = ops.repeat(per_group, group, axis=0)  # image i is in group i // G
        channel = ops.ones_like(features[..., :1]) * ops.cast(
            ops.reshape(per_image, (-1, 1, 1, 1)), features.dtype
        )
        return ops.concatenate([features, channel], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size}


class ClassAffine(layers.Layer):
    """The gain and shift of a class-conditional normalization (BigGAN's conditional
    batch norm, Brock et al. 2019; de Vries et al. 2017): [features [B, H, W, C],
    labels int32 [B] in 0..9] -> features * (1 + gain[label]) + shift[label], gain and
    shift learned per digit and channel, both 0 at the start (so it starts as the plain
    normalization without its own affine)."""

    def build(self, input_shape):
        channels = input_shape[0][-1]
        self.gain = self.add_weight(shape=(NUM_CLASSES, channels), initializer="zeros", name="gain")
        self.shift = self.add_weight(
            shape=(NUM_CLASSES, channels), initializer="zeros", name="shift"
        )

    def call(self, inputs):
        features, labels = inputs
        gain = ops.take(ops.cast(self.gain, features.dtype), labels, axis=0)[:, None, None, :]
        shift = ops.take(ops.cast(self.shift, features.dtype), labels, axis=0)[:, None, None, :]
        return features * (1.0 + gain) + shift

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def _unit(x):
    return x / ops.sqrt(ops.sum(ops.square(x)) + 1e-12)
