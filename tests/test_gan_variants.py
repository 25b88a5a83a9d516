"""Architectures, losses, regularizers, EMA and conditional generation (issue 4), on
small real TensorFlow runs and against values worked out by hand."""

from __future__ import annotations

import itertools
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from PIL import Image

from mnist_gan.core.config import ModelConfig, ParamsError, TrainConfig, parse_params
from mnist_gan.core.runtime import seed_everything
from mnist_gan.drawing.sampling import balanced_labels, class_grid_labels
from mnist_gan.networks.architectures import ARCHITECTURES, ClassAffine, Network, SpectralNorm
from mnist_gan.networks.gan import build_gan, ema_update, recalibrate_batch_norm, save_gan
from mnist_gan.training.losses import (
    LOSSES,
    hinge_discriminator,
    least_squares_discriminator,
    least_squares_generator,
)
from mnist_gan.training.penalties import gradient_penalty, interpolation_alpha, r1_penalty
from mnist_gan.training.trainer import GANTrainer
from tests.helpers import run_stage, synthetic_digits

SMALL = {"z_dim": 8, "hidden_units": 16, "g_width": 4, "d_width": 4}
BATCH = 8


def _data(count: int = 32) -> tuple[np.ndarray, np.ndarray]:
    pixels, labels = synthetic_digits(count, seed=0)
    return pixels.astype(np.float32)[..., None] / 127.5 - 1, labels


def _trainer(model: ModelConfig, **train) -> GANTrainer:
    seed_everything(0)
    config = TrainConfig(batch_size=BATCH, **train)
    images, labels = _data()
    gan = build_gan(model, ema=config.ema > 0)
    return GANTrainer(gan, images, labels, config)


@pytest.mark.parametrize(
    ("arch", "loss", "conditional"),
    list(itertools.product(sorted(ARCHITECTURES), sorted(LOSSES), [False, True])),
)
@pytest.mark.slow
def test_every_arch_loss_and_conditioning_trains_with_finite_losses(arch, loss, conditional):
    model = ModelConfig(arch=arch, conditional=conditional, **SMALL)
    required = LOSSES[loss].requires_penalty
    trainer = _trainer(model, loss=loss, d_steps=2, penalties={required: 10.0} if required else {})
    before = trainer.gan.generator.model.get_weights()
    means = trainer.train(2)
    assert np.all(np.isfinite(means))
    assert 0 <= means.d_accuracy <= 1
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(before, trainer.gan.generator.model.get_weights(), strict=True)
    )
    z = np.zeros((3, model.z_dim), np.float32)
    labels = np.array([0, 5, 9], np.int32)
    images = trainer.gan.generator(z, labels, training=False)
    assert tuple(images.shape) == (3, 28, 28, 1) and images.dtype == "float32"
    assert np.all(np.abs(np.asarray(images)) <= 1)
    assert tuple(trainer.gan.discriminator(images, labels, training=False).shape) == (3, 1)


def test_conditional_models_depend_on_the_label() -> None:
    gan = build_gan(ModelConfig(arch="dcgan", conditional=True, **SMALL))
    z = np.ones((2, SMALL["z_dim"]), np.float32)
    images = np.asarray(gan.generator(z, np.array([1, 7], np.int32), training=False))
    assert not np.array_equal(images[0], images[1])  # same z, other digit
    logits = np.asarray(gan.discriminator(np.repeat(images[:1], 2, 0), np.array([1, 7])))
    assert logits[0, 0] != logits[1, 0]


def test_dcgan_depth_adds_layers() -> None:
    base = build_gan(ModelConfig(arch="dcgan", d_depth=0, **SMALL))
    deeper = build_gan(ModelConfig(arch="dcgan", g_depth=1, d_depth=1, **SMALL))
    assert deeper.generator.model.count_params() > base.generator.model.count_params()
    assert deeper.discriminator.model.count_params() > base.discriminator.model.count_params()


def _is_extra_convolution(layer: keras.layers.Layer) -> bool:
    """A `g_depth` / `d_depth` layer: the default networks' other convolutions are 4x4."""
    return isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3)


@pytest.mark.parametrize(
    ("depth_at", "sides"), [("all", [14, 14, 7, 7]), ("14x14", [14, 14]), ("7x7", [7, 7])]
)
def test_d_depth_at_puts_the_extra_convolutions_at_the_named_resolutions(depth_at, sides):
    config = ModelConfig(arch="dcgan", d_depth=2, d_depth_at=depth_at, **SMALL)
    discriminator = build_gan(config).discriminator.model
    extra = filter(_is_extra_convolution, discriminator.layers)
    assert [layer.output.shape[1] for layer in extra] == sides
    logits = discriminator([np.zeros((2, 28, 28, 1), np.float32), np.array([0, 9], np.int32)])
    assert logits.shape == (2, 1)


def _silence_extra_convolutions(model: keras.Model) -> None:
    """Zero every extra convolution's kernel and bias, so each outputs 0 whatever its
    input."""
    for layer in filter(_is_extra_convolution, model.layers):
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


def _copy_shallow_weights(deep: keras.Model, shallow: keras.Model) -> None:
    """Give `deep` (depth 1) the weights of `shallow` (depth 0) in every layer they
    share: all but the extra convolutions and a normalization right after one."""
    shared, after_extra = [], False
    for layer in (layer for layer in deep.layers if layer.weights):
        extra = _is_extra_convolution(layer)
        if not extra and not (after_extra and "normalization" in layer.name):
            shared.append(layer)
        after_extra = extra
    shallow_weighted = [layer for layer in shallow.layers if layer.weights]
    for mine, theirs in zip(shared, shallow_weighted, strict=True):
        mine.set_weights(theirs.get_weights())


@pytest.mark.parametrize("network", ["generator", "discriminator"])
def test_residual_extra_convolutions_that_output_zero_leave_the_shallow_network(network):
    # With an identity skip, an extra convolution that outputs 0 passes its input on:
    # the network computes exactly the depth-0 network's function, and the gradient
    # reaches the layers before it. Without the skip the same zeros cut the network.
    shallow_gan = build_gan(ModelConfig(arch="dcgan", d_depth=0, **SMALL))
    z = np.random.default_rng(0).normal(size=(4, SMALL["z_dim"])).astype(np.float32)
    labels = np.array([0, 3, 7, 9], np.int32)
    x = z if network == "generator" else np.asarray(shallow_gan.generator(z, labels))
    shallow = getattr(shallow_gan, network)
    expected = np.asarray(shallow(x, labels))
    outputs = {}
    for residual in (False, True):
        config = ModelConfig(arch="dcgan", g_depth=1, d_depth=1, residual=residual, **SMALL)
        deep = getattr(build_gan(config), network)
        _copy_shallow_weights(deep.model, shallow.model)
        _silence_extra_convolutions(deep.model)
        first_kind = keras.layers.Dense if network == "generator" else keras.layers.Conv2D
        first = next(layer for layer in deep.model.layers if isinstance(layer, first_kind))
        with tf.GradientTape() as tape:
            output = deep(x, labels)
            total = tf.reduce_sum(output)
        gradient = tape.gradient(total, first.trainable_weights[0])
        outputs[residual] = (np.asarray(output), np.abs(np.asarray(gradient)).max())
    np.testing.assert_allclose(outputs[True][0], expected, rtol=1e-5, atol=1e-6)
    assert outputs[True][1] > 0
    assert not np.allclose(outputs[False][0], expected, atol=1e-3)
    assert outputs[False][1] == 0


@pytest.mark.slow
def test_residual_changes_no_weight_and_a_residual_dcgan_trains() -> None:
    plain = build_gan(ModelConfig(arch="dcgan", g_depth=1, d_depth=2, **SMALL))
    model = ModelConfig(arch="dcgan", g_depth=1, d_depth=2, residual=True, **SMALL)
    residual = build_gan(model)
    for network in ("generator", "discriminator"):
        shapes = [w.shape for w in getattr(plain, network).model.get_weights()]
        assert [w.shape for w in getattr(residual, network).model.get_weights()] == shapes
    trainer = _trainer(model, penalties={"r1": 1.0})
    assert np.all(np.isfinite(trainer.train(2)))


@pytest.mark.parametrize("norm", ["batch", "layer", "class_layer", "none"])
@pytest.mark.parametrize("upsample", ["transposed", "nearest"])
def test_dcgan_generator_layers_have_a_bias_exactly_without_normalization(norm, upsample):
    config = ModelConfig(arch="dcgan", g_norm=norm, g_upsample=upsample, g_depth=1, **SMALL)
    generator = build_gan(config).generator.model
    weighted = (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose)
    hidden = [layer for layer in generator.layers if isinstance(layer, weighted)]
    hidden = hidden[:-1]  # the output layer always has its bias
    assert len(hidden) == 4  # Dense, 7x7 depth conv, doubling conv, 14x14 depth conv
    assert {layer.use_bias for layer in hidden} == {norm == "none"}
    normalizations = [layer for layer in generator.layers if "normalization" in layer.name]
    assert len(normalizations) == (0 if norm == "none" else 4)


def test_gradient_penalty_alpha_is_one_uniform_weight_per_image() -> None:
    alpha = interpolation_alpha(tf.random.Generator.from_seed(0), 4096).numpy()
    assert alpha.shape == (4096, 1, 1, 1)
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert abs(alpha.mean() - 0.5) < 0.02 and abs(alpha.var() - 1 / 12) < 0.005


def test_gradient_penalty_matches_hand_values() -> None:
    real, fake = tf.ones([3, 28, 28, 1]), tf.zeros([3, 28, 28, 1])
    alpha = tf.reshape(tf.constant([0.0, 0.5, 1.0]), [3, 1, 1, 1])

    # D(x) = ||x||^2 / 2 has gradient x: at alpha * 1 its norm is 28 alpha.
    def square(x):
        return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])

    expected = np.mean([(0 - 1) ** 2, (14 - 1) ** 2, (28 - 1) ** 2])
    np.testing.assert_allclose(gradient_penalty(square, real, fake, alpha), expected, rtol=1e-5)

    # A linear critic w . x: the gradient is w everywhere, so the penalty is (||w|| - 1)^2.
    w = tf.fill([1, 28, 28, 1], 0.1)

    def linear(x):
        return tf.reduce_sum(w * x, axis=[1, 2, 3])

    np.testing.assert_allclose(gradient_penalty(linear, real, fake, alpha), 1.8**2, rtol=1e-5)
    np.testing.assert_allclose(r1_penalty(linear, real), 2.8**2, rtol=1e-5)


def test_gradient_penalty_of_a_flat_critic_has_finite_gradients() -> None:
    scale = tf.Variable(0.0)  # D = scale * sum(x): its input gradient is 0 at the start
    real, fake = tf.ones([2, 28, 28, 1]), tf.zeros([2, 28, 28, 1])
    alpha = tf.fill([2, 1, 1, 1], 0.5)
    with tf.GradientTape() as tape:
        penalty = gradient_penalty(
            lambda x: scale * tf.reduce_sum(x, axis=[1, 2, 3]), real, fake, alpha
        )
    assert np.isfinite(tape.gradient(penalty, scale).numpy())


def test_losses_match_hand_values() -> None:
    real, fake = tf.constant([[2.0], [0.5]]), tf.constant([[-3.0], [0.0]])
    # hinge: relu(1 - real) = [0, 0.5]; relu(1 + fake) = [0, 1]
    np.testing.assert_allclose(hinge_discriminator(real, fake), 0.25 + 0.5)
    # least squares: 0.5 mean([1, 0.25]) + 0.5 mean([9, 0])
    np.testing.assert_allclose(least_squares_discriminator(real, fake), 0.3125 + 2.25)
    np.testing.assert_allclose(least_squares_generator(fake), 0.5 * np.mean([16, 1]))
    np.testing.assert_allclose(LOSSES["wgan_gp"].discriminator(real, fake), -1.5 - 1.25)
    np.testing.assert_allclose(LOSSES["hinge"].generator(fake), 1.5)


def test_ema_update_is_the_documented_average() -> None:
    average, current = [tf.Variable([1.0, 2.0])], [tf.Variable([3.0, -2.0])]
    ema_update(average, current, decay=0.75)
    np.testing.assert_allclose(average[0].numpy(), [1.5, 1.0])


def test_training_moves_the_average_by_one_minus_decay() -> None:
    model = ModelConfig(arch="mlp", **SMALL)
    trainer = _trainer(model, ema=0.9)
    gan = trainer.gan
    start = [w.numpy() for w in gan.ema_generator.model.trainable_variables]
    np.testing.assert_array_equal(start[0], gan.generator.model.trainable_variables[0].numpy())
    trainer.train(1)
    for average, before, after in zip(
        gan.ema_generator.model.trainable_variables,
        start,
        gan.generator.model.trainable_variables,
        strict=True,
    ):
        np.testing.assert_allclose(average.numpy(), 0.9 * before + 0.1 * after.numpy(), rtol=1e-6)


def test_batch_norm_statistics_are_recomputed_exactly_for_the_average() -> None:
    z = keras.Input((3,))
    norm = keras.layers.BatchNormalization()
    config = ModelConfig(z_dim=3, conditional=False)
    generator = Network(keras.Model(z, norm(z)), config)
    norm.moving_mean.assign([5.0, 5.0, 5.0])  # stale: from other weights
    recalibrate_batch_norm(generator, seed=0, batches=4, batch_size=50)
    z = np.random.default_rng(0).standard_normal((4, 50, 3)).astype(np.float32)
    np.testing.assert_allclose(norm.moving_mean.numpy(), z.mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), z.var(axis=1).mean(0), rtol=1e-4)
    assert norm.momentum == 0.99  # restored


def test_spectral_norm_divides_by_the_largest_singular_value() -> None:
    seed_everything(0)
    layer = SpectralNorm(keras.layers.Dense(5))
    x = np.random.default_rng(0).standard_normal((4, 7)).astype(np.float32)
    for _ in range(30):  # power iteration converges over training calls
        out = layer(x, training=True)
    kernel = layer.layer.kernel.numpy()
    sigma = np.linalg.svd(kernel, compute_uv=False)[0]
    expected = x @ (kernel / sigma) + layer.layer.bias.numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_class_affine_scales_and_shifts_each_row_by_its_digit() -> None:
    features = np.random.default_rng(0).standard_normal((3, 2, 2, 4)).astype(np.float32)
    labels = np.array([3, 5, 3], np.int32)
    layer = ClassAffine()
    np.testing.assert_array_equal(layer([features, labels]), features)  # starts as identity
    gain = np.zeros((10, 4), np.float32)
    shift = np.zeros((10, 4), np.float32)
    gain[3], shift[3], shift[7] = [1, 0, -1, 0.5], [0, 2, 0, 0], 9.0  # 7 is not in the batch
    layer.gain.assign(gain)
    layer.shift.assign(shift)
    out = np.asarray(layer([features, labels]))
    expected = features.copy()
    expected[[0, 2]] = features[[0, 2]] * np.array([2, 1, 0, 1.5]) + np.array([0, 2, 0, 0])
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_class_layer_norm_learns_per_digit_and_only_the_digits_it_saw() -> None:
    model = ModelConfig(arch="dcgan", g_norm="class_layer", **SMALL)
    generator = build_gan(model).generator
    affine = [layer for layer in generator.model.layers if isinstance(layer, ClassAffine)]
    assert len(affine) == 2  # after the 7x7 and the 14x14 layers
    z = tf.random.normal([4, SMALL["z_dim"]], seed=1)
    labels = tf.constant([0, 0, 4, 4])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(generator(z, labels, training=True)))
    gains = tape.gradient(loss, [layer.gain for layer in affine])
    for gradient in gains:
        rows = np.abs(np.asarray(tf.convert_to_tensor(gradient))).sum(axis=1)
        assert rows[0] > 0 and rows[4] > 0
        assert np.all(rows[[1, 2, 3, 5, 6, 7, 8, 9]] == 0)


def test_class_layer_norm_needs_a_conditional_model(raw) -> None:
    raw["model"] = {"g_norm": "class_layer", "conditional": False}
    with pytest.raises(ParamsError, match=r"needs model\.conditional: true"):
        parse_params(raw)


@pytest.mark.slow
def test_spectral_norm_and_r1_train_a_dcgan() -> None:
    model = ModelConfig(arch="dcgan", spectral_norm=True, d_norm="layer", **SMALL)
    trainer = _trainer(model, loss="hinge", penalties={"r1": 1.0})
    assert np.all(np.isfinite(trainer.train(2)))
    layers = trainer.gan.discriminator.model.layers
    assert any(isinstance(layer, SpectralNorm) for layer in layers)


def test_a_gradient_penalty_with_batch_norm_in_d_is_refused(raw) -> None:
    raw["model"] = {"arch": "dcgan", "d_norm": "batch"}
    raw["train"] = {"loss": "wgan_gp", "penalties": {"gradient_penalty": 10.0}}
    with pytest.raises(ParamsError, match="d_norm = 'batch' does not work with a gradient"):
        parse_params(raw)


def test_class_grid_rows_hold_one_digit_each() -> None:
    np.testing.assert_array_equal(class_grid_labels(3)[:7], [0, 0, 0, 1, 1, 1, 2])
    assert class_grid_labels(3).reshape(10, 3).tolist() == [[d] * 3 for d in range(10)]
    counts = np.bincount(balanced_labels(1003), minlength=10)
    assert counts.max() - counts.min() <= 1


@pytest.mark.slow
def test_sample_stage_writes_a_per_digit_grid_and_balanced_labels(tmp_path: Path, raw) -> None:
    model = ModelConfig(arch="dcgan", conditional=True, **SMALL)
    gan = build_gan(model, ema=True)
    save_gan(gan, tmp_path / "gan", {"model": model.model_dump()})
    np.save(tmp_path / "gan" / "progress_grids.npy", np.zeros((2, 10, 10), np.uint8))
    raw["sample"] = {"count": 25, "class_grid_cols": 6, "grid_rows": 2, "grid_cols": 3}
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    out = tmp_path / "samples"
    process = run_stage(
        "sample", "--params", str(params), "--models", str(tmp_path / "gan"), "--out", str(out)
    )
    assert process.returncode == 0, process.stderr
    scale, cell = 4, 28 + 2
    with Image.open(out / "class_grid.png") as image:
        assert image.size == (scale * (6 * cell + 2), scale * (10 * cell + 2))
    labels = np.load(out / "labels.npy", allow_pickle=False)
    assert labels.tolist() == balanced_labels(25).tolist()
    assert np.load(out / "samples.npy", allow_pickle=False).shape == (25, 28, 28)


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.slow
def test_the_default_dcgan_trains_in_mixed_precision(precision: str) -> None:
    model = ModelConfig(arch="dcgan", conditional=True, **SMALL)
    seed_everything(0)
    config = TrainConfig(batch_size=BATCH, precision=precision)
    images, labels = _data()
    gan = build_gan(model, precision, ema=True)
    trainer = GANTrainer(gan, images, labels, config)
    assert np.all(np.isfinite(trainer.train(2)))
    z, digits = np.zeros((2, model.z_dim), np.float32), np.array([3, 4], np.int32)
    assert gan.ema_generator(z, digits).dtype == "float32"
    assert gan.discriminator(np.zeros((2, 28, 28, 1), np.float32), digits).dtype == "float32"
