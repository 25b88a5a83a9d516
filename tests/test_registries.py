"""Registries are the only source of truth: params are checked against them, and a new
loss or penalty is one function and one entry, reachable through params.yaml."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import tensorflow as tf

from mnist_gan.core.config import ParamsError, parse_params
from mnist_gan.core.runtime import seed_everything
from mnist_gan.networks.gan import build_gan
from mnist_gan.training import losses, penalties
from mnist_gan.training.choices import check_choices
from mnist_gan.training.trainer import GANTrainer
from tests.helpers import synthetic_digits

SMALL = {"arch": "mlp", "z_dim": 8, "hidden_units": 16}


def _check(raw: dict) -> None:
    params = parse_params(raw)
    check_choices(params.model, params.train)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("model", "arch", "resnet", "model.arch = 'resnet': unknown; choose one of dcgan, mlp"),
        ("train", "loss", "bce", "train.loss = 'bce': unknown; choose one of hinge,"),
        (
            "train",
            "penalties",
            {"r2": 1.0},
            "a key of train.penalties = 'r2': unknown; choose one of gradient_penalty, r1",
        ),
    ],
)
def test_a_name_outside_its_registry_is_refused_with_the_choices(
    raw, section, key, value, expected
) -> None:
    bad = copy.deepcopy(raw)
    bad[section][key] = value
    with pytest.raises(ParamsError) as caught:
        _check(bad)
    assert expected in str(caught.value)


def test_a_huge_bad_name_gives_a_short_message(raw) -> None:
    bad = copy.deepcopy(raw)
    bad["train"]["loss"] = "x" * 100_000
    with pytest.raises(ParamsError) as caught:
        _check(bad)
    assert len(str(caught.value)) < 400


def test_a_loss_that_needs_a_penalty_says_which_and_how(raw) -> None:
    bad = copy.deepcopy(raw)
    bad["train"]["loss"] = "wgan_gp"
    with pytest.raises(ParamsError, match=r"-S train\.penalties\.gradient_penalty=10"):
        _check(bad)
    bad["train"]["penalties"] = {"gradient_penalty": 10}  # an int from `-S ...=10` is fine
    _check(bad)


def _double_hinge_discriminator(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    return 2.0 * losses.hinge_discriminator(real_logits, fake_logits)


def _logit_size(critic, real, fake, alpha) -> tf.Tensor:
    return tf.reduce_mean(tf.square(critic(real)))


def test_a_loss_and_a_penalty_registered_in_one_place_train_through_params(
    raw, monkeypatch
) -> None:
    monkeypatch.setitem(
        losses.LOSSES,
        "double_hinge",
        losses.GANLoss(_double_hinge_discriminator, losses.critic_generator),
    )
    monkeypatch.setitem(penalties.PENALTIES, "logit_size", _logit_size)
    edited = copy.deepcopy(raw)
    edited["model"].update(SMALL)
    edited["train"].update(
        loss="double_hinge", batch_size=8, penalties={"logit_size": 0.5}, ema=0.0
    )
    params = parse_params(edited)
    check_choices(params.model, params.train)
    seed_everything(0)
    pixels, labels = synthetic_digits(32, seed=0)
    gan = build_gan(params.model)
    trainer = GANTrainer(gan, pixels[..., None] / np.float32(127.5) - 1, labels, params.train)
    before = gan.discriminator.model.get_weights()
    means = trainer.train(2)
    assert np.all(np.isfinite(means))
    after = gan.discriminator.model.get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert trainer.objective.loss.discriminator is _double_hinge_discriminator
    # Not in penalties.EVERY_UPDATE, so lazy under the default train.penalty_every.
    assert trainer.objective.regularizer.lazy == {_logit_size: 0.5}
    assert trainer.objective.regularizer.eager == {}
