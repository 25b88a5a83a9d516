"""Issue 12's levers on small real TensorFlow runs, against values worked out by hand:
the minibatch standard deviation in D, lazy regularization, learning-rate schedules,
top-k training, shared fakes and simultaneous updates."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_gan.core.config import ModelConfig, TrainConfig
from mnist_gan.core.errors import ParamsError
from mnist_gan.core.runtime import seed_everything
from mnist_gan.networks.gan import build_gan
from mnist_gan.networks.layers import MinibatchStd
from mnist_gan.training.choices import check_choices
from mnist_gan.training.losses import most_real, top_k_fraction
from mnist_gan.training.objective import Batches
from mnist_gan.training.penalties import Regularizer
from mnist_gan.training.schedules import SCHEDULES
from mnist_gan.training.trainer import GANTrainer
from mnist_gan.training.updates import UPDATES
from tests.test_gan_variants import _data

SMALL = ModelConfig(arch="dcgan", z_dim=8, g_width=4, d_width=4)


def _trainer(model: ModelConfig = SMALL, **train) -> GANTrainer:
    seed_everything(0)
    config = TrainConfig(batch_size=8, **train)
    gan = build_gan(model, ema=config.ema > 0)
    return GANTrainer(gan, *_data(), config)


def test_minibatch_std_appends_each_groups_mean_feature_deviation() -> None:
    features = np.random.default_rng(0).normal(size=(8, 5, 5, 3)).astype(np.float32)
    out = MinibatchStd(4)(features).numpy()
    assert out.shape == (8, 5, 5, 4)
    np.testing.assert_array_equal(out[..., :3], features)
    for group in range(2):
        images = features[4 * group : 4 * group + 4]
        expected = np.sqrt(images.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(out[4 * group : 4 * group + 4, ..., 3], expected, rtol=1e-5)
    # A batch the group size does not divide is one group.
    odd = MinibatchStd(4)(features[:7]).numpy()[..., 3]
    np.testing.assert_allclose(odd, np.sqrt(features[:7].var(axis=0) + 1e-8).mean(), rtol=1e-5)


def test_with_minibatch_std_d_sees_its_group_and_only_its_group() -> None:
    seed_everything(0)
    discriminator = build_gan(ModelConfig(arch="dcgan", d_minibatch_std=4, d_width=4)).discriminator
    images, labels = _data(8)
    logits = discriminator(images, labels).numpy()
    changed = images.copy()
    changed[1] = -1.0  # a blank image in the first group
    after = discriminator(changed, labels).numpy()
    assert np.all(np.abs(after[[0, 2, 3]] - logits[[0, 2, 3]]) > 1e-6)  # its group moves
    np.testing.assert_array_equal(after[4:], logits[4:])  # the other group does not


def _first_batch(trainer: GANTrainer) -> tuple[Batches, tf.Tensor]:
    """The trainer's first global batch (one device: all of it) and G's fakes for it."""
    batch = Batches(*(part[0] for part in trainer.draw(1)))
    return batch, trainer.gan.generator(batch.z, batch.real_labels, training=True)


def _penalty(trainer: GANTrainer, regularizer: Regularizer, batch: Batches, fake, update):
    """`regularizer`'s value at D update `update`, with `trainer`'s D as the critic."""

    def critic(images):
        return trainer.gan.discriminator(images, batch.real_labels, training=True)

    return regularizer(critic, batch.real, fake, batch.alpha, update)


def test_lazy_penalties_are_n_times_the_penalty_on_every_nth_update_only() -> None:
    every = 3
    trainer = _trainer(penalties={"r1": 2.0}, penalty_every=every)
    batch, fake = _first_batch(trainer)
    full = float(_penalty(trainer, Regularizer({"r1": 2.0}, 1), batch, fake, 0))
    assert full > 0

    @tf.function
    def penalty_at(update):
        return _penalty(trainer, Regularizer({"r1": 2.0}, every), batch, fake, update)

    values = [float(penalty_at(tf.constant(update, tf.int64))) for update in range(7)]
    expected = [every * full if update % every == 0 else 0.0 for update in range(7)]
    np.testing.assert_allclose(values, expected, rtol=1e-5)


@pytest.mark.slow
def test_lazy_r1_trains_the_first_update_like_n_times_the_weight() -> None:
    lazy = _trainer(penalties={"r1": 1.0}, penalty_every=4)
    eager = _trainer(penalties={"r1": 4.0}, penalty_every=1)

    def d_gap() -> float:
        pairs = zip(
            lazy.gan.discriminator.model.get_weights(),
            eager.gan.discriminator.model.get_weights(),
            strict=True,
        )
        return max(float(np.max(np.abs(a - b))) for a, b in pairs)

    lazy.train(1)
    eager.train(1)
    first = d_gap()  # update 0 carries 4 x the penalty: equal up to rounding order
    assert first < 1e-6
    lazy.train(1)  # update 1 carries none, where the eager run has it again
    eager.train(1)
    assert d_gap() > 100 * max(first, 1e-8)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("constant", [1e-3, 1e-3, 1e-3, 1e-3, 1e-3]),
        ("linear", [1e-3, 5e-4, 2e-4, 1e-4, 0]),
        ("cosine", [1e-3, 5e-4, 9.549150e-5, 2.447174e-5, 0]),
        ("cooldown", [1e-3, 1e-3, 1e-3, 5e-4, 0]),  # the last 20 of 100 updates
    ],
)
def test_schedules_start_at_the_rate_and_end_at_zero(name: str, expected: list) -> None:
    rate = SCHEDULES[name](1e-3, 100)
    steps = (0, 50, 80, 90, 100)
    values = [rate if isinstance(rate, float) else float(rate(step)) for step in steps]
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    ("schedule", "steps", "factor"),
    # linear: G has made 5 of its 20 updates, D 10 of its 40: both a quarter down.
    # cooldown: G 18 of 20, D 36 of 40: both halfway down their last 20%.
    [("linear", 5, 0.75), ("cooldown", 18, 0.5)],
)
@pytest.mark.slow
def test_the_optimizers_follow_the_schedule_over_their_own_updates(schedule, steps, factor):
    trainer = _trainer(lr_schedule=schedule, steps=20, d_steps=2)
    trainer.train(steps)
    g_rate, d_rate = trainer.config.g_adam.learning_rate, trainer.config.d_adam.learning_rate
    assert float(trainer.g_optimizer.learning_rate) == pytest.approx(factor * g_rate)
    assert float(trainer.d_optimizer.learning_rate) == pytest.approx(factor * d_rate)


def test_an_unknown_schedule_is_refused_with_the_choices() -> None:
    with pytest.raises(Exception, match="cooldown, cosine, linear"):
        check_choices(SMALL, TrainConfig(lr_schedule="step"))


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
@pytest.mark.slow
def test_upsampling_generators_draw_28x28_without_transposed_convolutions(upsample) -> None:
    model = ModelConfig(arch="dcgan", z_dim=8, g_width=4, d_width=4, g_upsample=upsample)
    trainer = _trainer(model)
    assert np.all(np.isfinite(trainer.train(2)))
    generator = trainer.gan.generator
    kinds = {type(layer).__name__ for layer in generator.model.layers}
    assert "Conv2DTranspose" not in kinds
    assert "UpSampling2D" in kinds
    images = generator(np.zeros((3, 8), np.float32), np.arange(3)).numpy()
    assert images.shape == (3, 28, 28, 1)
    assert np.all(np.abs(images) <= 1)


def test_the_wgan_gp_constraint_is_never_lazy() -> None:
    """WGAN-GP's gradient penalty is the critic's Lipschitz constraint: it holds at every
    update whatever train.penalty_every says, while R1 beside it stays lazy."""
    weights = {"gradient_penalty": 1.0, "r1": 2.0}
    trainer = _trainer(penalties=weights, penalty_every=4)
    batch, fake = _first_batch(trainer)
    full = {
        name: float(_penalty(trainer, Regularizer({name: weight}, 1), batch, fake, 0))
        for name, weight in weights.items()
    }
    assert min(full.values()) > 0

    @tf.function
    def penalty_at(update):
        return _penalty(trainer, Regularizer(weights, 4), batch, fake, update)

    expected = full["gradient_penalty"] + 4 * full["r1"]
    assert float(penalty_at(tf.constant(4, tf.int64))) == pytest.approx(expected, rel=1e-5)
    at_5 = float(penalty_at(tf.constant(5, tf.int64)))
    assert at_5 == pytest.approx(full["gradient_penalty"], rel=1e-5)


def test_the_top_k_fraction_shrinks_by_the_decay_per_epoch_down_to_its_floor() -> None:
    # 10 updates per epoch: after 2 epochs 0.9 ** 2, after 100 the floor.
    values = [float(top_k_fraction(update, 10.0, 0.5, 0.9)) for update in (0, 5, 20, 1000)]
    np.testing.assert_allclose(values, [1.0, 0.9**0.5, 0.81, 0.5], rtol=1e-6)


def test_most_real_keeps_the_largest_logits_rounding_the_count_up() -> None:
    logits = tf.constant([[0.5], [-2.0], [3.0], [1.0], [-1.0]])
    half = most_real(logits, tf.constant(0.5)).numpy()
    np.testing.assert_array_equal(half, [[3.0], [1.0], [0.5]])  # ceil(2.5)
    np.testing.assert_array_equal(most_real(logits, tf.constant(0.01)).numpy(), [[3.0]])
    assert most_real(logits, tf.constant(1.0)).shape == (5, 1)


def test_with_top_k_the_fakes_d_rates_least_real_give_g_no_gradient() -> None:
    trainer = _trainer(top_k=0.5, top_k_decay=0.5)
    logits = tf.Variable(np.arange(8, dtype=np.float32)[::-1].reshape(8, 1))  # 7 .. 0

    def gradient() -> np.ndarray:
        with tf.GradientTape() as tape:
            loss = trainer.objective.generator_loss(logits).loss
        return tape.gradient(loss, logits).numpy().ravel()

    first = gradient()  # update 0: every fake counts
    assert np.all(first != 0)
    trainer.g_optimizer.iterations.assign(100)  # many epochs on: the floor, half
    later = gradient()
    assert np.all(later[:4] != 0) and np.all(later[4:] == 0)
    # The kept half weighs as a batch of 4: twice its share of the full batch.
    np.testing.assert_allclose(later[:4], 2 * first[:4], rtol=1e-6)


@pytest.mark.slow
def test_top_k_changes_training_and_off_is_the_plain_loss() -> None:
    off = _trainer(top_k=1.0, top_k_decay=0.5)
    off.g_optimizer.iterations.assign(1000)  # the decay would be far down by now
    logits = tf.constant([[2.0], [-1.0], [0.5], [-3.0]])
    plain = off.objective.loss.generator(logits)
    assert float(off.objective.generator_loss(logits).loss) == float(plain)

    def ops_of(trainer: GANTrainer) -> set[str]:
        traced = tf.function(
            lambda logits: trainer.objective.generator_loss(logits).loss
        ).get_concrete_function(tf.TensorSpec([4, 1], tf.float32))
        return {op.type for op in traced.graph.get_operations()}

    # Off adds nothing to the step (keeping every fake would give the same value too).
    assert "TopKV2" not in ops_of(off)
    assert "TopKV2" in ops_of(_trainer(top_k=0.5))
    on = _trainer(top_k=0.5, top_k_decay=0.01).train(3)
    assert on.g_loss != _trainer(top_k=1.0).train(3).g_loss


def test_top_k_with_xla_forced_on_is_refused_naming_both_ways_out() -> None:
    with pytest.raises(Exception, match=r"train\.jit=false, or -S train\.top_k=1"):
        check_choices(SMALL, TrainConfig(jit=True, top_k=0.5))
    check_choices(SMALL, TrainConfig(jit=True, top_k=1.0))
    check_choices(SMALL, TrainConfig(jit="auto", top_k=0.5))  # auto picks XLA off


@pytest.mark.parametrize("updates", ["alternating", "shared_fakes", "simultaneous"])
@pytest.mark.slow
def test_simultaneous_updates_take_both_gradients_before_either_network_changes(updates) -> None:
    def after_one_step(d_learning_rate: float) -> tuple[list, list]:
        trainer = _trainer(updates=updates, d_adam={"learning_rate": d_learning_rate})
        before = trainer.gan.generator.model.get_weights()
        trainer.train(1)
        after = trainer.gan.generator.model.get_weights()
        assert not all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
        return after, trainer.gan.discriminator.model.get_weights()

    (g_slow, d_slow), (g_fast, d_fast) = after_one_step(1e-4), after_one_step(0.1)
    assert not all(np.array_equal(a, b) for a, b in zip(d_slow, d_fast, strict=True))
    g_same = all(np.array_equal(a, b) for a, b in zip(g_slow, g_fast, strict=True))
    # Simultaneous: G's update cannot see how far D moved; the other two: it is scored
    # by the updated D.
    assert g_same == (updates == "simultaneous")


def _networks(trainer: GANTrainer) -> list[np.ndarray]:
    return [
        *trainer.gan.generator.model.get_weights(),
        *trainer.gan.discriminator.model.get_weights(),
    ]


@pytest.mark.parametrize("fresh_fakes_for_g", [False, True])
def test_shared_fakes_is_alternating_with_gs_batch_the_same_as_ds(
    fresh_fakes_for_g,
) -> None:
    # top_k < 1 and a lazy R1 on update 0: every part of the step is in play.
    shared = _trainer(updates="shared_fakes", top_k=0.5, penalty_every=4)
    shared.strategy.run(shared.replica_step, args=(shared.draw(1),))
    alternating = _trainer(top_k=0.5, penalty_every=4)
    d_batch = alternating.draw(1)  # the same stream: the same batch as shared's
    g_batch = alternating.draw(1) if fresh_fakes_for_g else d_batch
    alternating.strategy.run(alternating.replica_step, args=(d_batch, g_batch))
    pairs = list(zip(_networks(shared), _networks(alternating), strict=True))
    # G's pass, recorded once, is the pass the alternating step makes again: G has not
    # changed between the two updates. D's update is the same either way.
    g_count = len(shared.gan.generator.model.get_weights())
    assert all(np.array_equal(a, b) for a, b in pairs[g_count:])
    g_same = all(np.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in pairs[:g_count])
    assert g_same == (not fresh_fakes_for_g)


@pytest.mark.parametrize("updates", ["shared_fakes", "simultaneous"])
def test_one_d_step_updates_with_several_d_steps_are_refused_naming_both_fixes(updates) -> None:
    assert not UPDATES[updates].many_d_steps
    with pytest.raises(ParamsError, match=r"d_steps to 1 .* or train\.updates to alternating"):
        check_choices(SMALL, TrainConfig(updates=updates, d_steps=2))
    check_choices(SMALL, TrainConfig(updates="alternating", d_steps=2))


def test_an_unknown_update_mode_is_refused_with_the_choices() -> None:
    with pytest.raises(ParamsError, match="alternating, shared_fakes, simultaneous"):
        check_choices(SMALL, TrainConfig(updates="leapfrog"))
