"""A short GAN training run under a tf.distribute strategy, as its own process
(logical devices and multi-worker set-up must precede any other TensorFlow work).

    python tests/distributed_run.py STRATEGY OUT.npz [CPU_DEVICES]

Writes the generator's weights and the mean losses to OUT.npz.
"""

import sys

import numpy as np
import tensorflow as tf

from mnist_gan.core.config import ModelConfig, TrainConfig
from mnist_gan.core.runtime import make_strategy, seed_everything
from mnist_gan.networks.gan import build_gan
from mnist_gan.training.trainer import GANTrainer
from tests.helpers import synthetic_digits

STEPS = 20


def main(strategy_name: str, out: str, cpu_devices: int) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices
    )
    strategy = make_strategy(strategy_name)
    seed_everything(0)
    model = ModelConfig(arch="mlp", conditional=False, z_dim=16, hidden_units=32)
    config = TrainConfig(batch_size=16, seed=0, strategy=strategy_name)
    pixels, labels = synthetic_digits(256, seed=0)
    with strategy.scope():
        gan = build_gan(model, ema=True)
    images = pixels[..., None] / 127.5 - 1
    trainer = GANTrainer(gan, images, labels, config, strategy=strategy)
    means = np.array(trainer.train(STEPS))
    weights = {f"w{i}": w for i, w in enumerate(gan.generator.model.get_weights())}
    weights |= {f"ema{i}": w for i, w in enumerate(gan.ema_generator.model.get_weights())}
    np.savez(out, means=means, replicas=trainer.strategy.num_replicas_in_sync, **weights)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
