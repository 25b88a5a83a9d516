"""DiffAugment: each transform against a hand-made expectation, the same random numbers
giving the same transform, gradients flowing back to G, and training with the paper's
policy; without augmentation the random stream is untouched."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_gan.core.config import ModelConfig, TrainConfig
from mnist_gan.core.errors import ParamsError
from mnist_gan.core.runtime import seed_everything
from mnist_gan.networks.gan import build_gan
from mnist_gan.training.augment import (
    AUGMENTATIONS,
    BACKGROUND,
    augment,
    randoms_needed,
    translation,
)
from mnist_gan.training.choices import check_choices
from mnist_gan.training.trainer import GANTrainer
from tests.helpers import synthetic_digits

POLICY = ["brightness", "contrast", "translation", "cutout"]


def _images(count: int = 8) -> np.ndarray:
    pixels, _ = synthetic_digits(count, seed=0)
    return pixels.astype(np.float32)[..., None] / 127.5 - 1


def test_translation_shifts_whole_pixels_and_fills_with_the_background() -> None:
    images = _images(2)
    # u -> offset floor(u * 9) - 4: 0.5 -> 0 (no shift), 0.99 -> +4, 0.0 -> -4
    u = np.array([[0.99, 0.5], [0.5, 0.0]], np.float32)
    shifted = translation(tf.constant(images), tf.constant(u)).numpy()
    down = np.full_like(images[0], BACKGROUND)
    down[4:] = images[0][:-4]  # 4 rows down
    left = np.full_like(images[1], BACKGROUND)
    left[:, :-4] = images[1][:, 4:]  # 4 columns left
    np.testing.assert_array_equal(shifted[0], down)
    np.testing.assert_array_equal(shifted[1], left)


def test_cutout_blanks_one_square_and_color_keeps_the_shape() -> None:
    images = np.zeros((1, 28, 28, 1), np.float32)
    out = AUGMENTATIONS["cutout"].apply(tf.constant(images), tf.constant([[0.5, 0.5]])).numpy()
    blank = out[0, ..., 0] == BACKGROUND
    rows, cols = np.nonzero(blank)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (8, 20, 8, 20)  # centre 14
    assert blank.sum() == 13 * 13 and np.all(out[0, ..., 0][~blank] == 0)
    bright = AUGMENTATIONS["brightness"].apply(tf.constant(images), tf.constant([[1.0]]))
    np.testing.assert_allclose(bright.numpy(), 0.5)
    flat = AUGMENTATIONS["contrast"].apply(tf.constant(images + 0.3), tf.constant([[0.0]]))
    np.testing.assert_allclose(flat.numpy(), 0.3, atol=1e-6)  # a flat image stays flat


def test_the_same_random_numbers_give_the_same_transform() -> None:
    images = tf.constant(_images())
    u = tf.random.stateless_uniform([8, randoms_needed(POLICY)], seed=[1, 2])
    first, again = augment(images, POLICY, u), augment(images, POLICY, u)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    other = augment(images, POLICY, tf.random.stateless_uniform(u.shape, seed=[3, 4]))
    assert not np.array_equal(first.numpy(), other.numpy())


def test_gradients_flow_back_to_the_generator_through_every_augmentation() -> None:
    gan = build_gan(ModelConfig(z_dim=8, g_width=4, d_width=4, conditional=False))
    z = tf.random.stateless_normal([4, 8], seed=[0, 1])
    labels = tf.zeros([4], tf.int32)
    for name in AUGMENTATIONS:
        u = tf.random.stateless_uniform([4, AUGMENTATIONS[name].randoms], seed=[5, 6])
        with tf.GradientTape() as tape:
            fake = gan.generator(z, labels, training=True)
            logits = gan.discriminator(augment(fake, [name], u), labels, training=True)
            loss = tf.reduce_mean(logits)
        gradients = tape.gradient(loss, gan.generator.model.trainable_variables)
        assert all(g is not None for g in gradients), name
        assert all(np.all(np.isfinite(g.numpy())) for g in gradients), name
        assert sum(float(tf.reduce_sum(tf.abs(g))) for g in gradients) > 0, name


def _trainer(policy: list[str]) -> GANTrainer:
    seed_everything(0)
    model = ModelConfig(z_dim=8, g_width=4, d_width=4)
    config = TrainConfig(batch_size=8, augment=policy, ema=0.0)
    images, labels = _images(32), synthetic_digits(32, seed=0)[1]
    return GANTrainer(build_gan(model), images, labels, config)


@pytest.mark.slow
def test_training_with_the_papers_policy_is_finite_and_reproducible() -> None:
    first = _trainer(POLICY)
    metrics = first.train(3)
    assert np.all(np.isfinite(metrics))
    again = _trainer(POLICY)
    again.train(3)
    for a, b in zip(
        first.gan.generator.model.get_weights(),
        again.gan.generator.model.get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    plain = _trainer([])
    plain.train(3)
    assert not np.array_equal(first.gan.generator.model.get_weights()[0],
                              plain.gan.generator.model.get_weights()[0])  # fmt: skip


@pytest.mark.slow
def test_without_augmentation_the_random_stream_is_untouched() -> None:
    """The stream after a step is what the same draws without augmentation leave:
    default runs keep their bytes."""
    trainer = _trainer([])
    reference = tf.random.Generator.from_seed(0)
    trainer.train(1)
    for _ in range(2):  # the D batch, then the G batch
        reference.uniform([8], 0, 32, dtype=tf.int64)
        reference.normal([8, 8])
        reference.uniform([8, 1, 1, 1], 0.0, 1.0)
    np.testing.assert_array_equal(trainer.rng.state.numpy(), reference.state.numpy())


def test_an_unknown_augmentation_is_refused_with_the_choices() -> None:
    with pytest.raises(ParamsError, match=r"train\.augment = 'rotate': unknown; choose one of"):
        check_choices(ModelConfig(), TrainConfig(augment=["translation", "rotate"]))
