"""Steps per second of the book's training loop vs the project's, on the `mlp` preset,
and of the default DCGAN with and without XLA (the measurement behind each
architecture's `xla_on_cpu` in models.ARCHITECTURES); and, for both, the same GAN as
a `keras.Model` with its own `train_step`, run by `fit(steps_per_execution=N)` (the
idiom of keras-io's GAN examples), against the project's trainer.

The seed ("GANs in Action" ch. 3, Keras 3 spelling) runs every iteration from Python:
`generator.predict`, then `train_on_batch` on the discriminator twice (real, fake)
and on the stacked model once, with the discriminator frozen for that last call.
The project's `GANTrainer` runs `steps_per_call` steps inside one compiled
call, with batches drawn inside the graph. Both train the same model at batch 128 on
the same data in one process; the table gives steps/s, ms/step, the ratio to the
seed, and the peak resident memory of the process.

    PYTHONPATH=src python bench/train_speed.py [--data data/prepared] [--repeat-to 60000]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from mnist_gan.core.config import ModelConfig, TrainConfig, load_params
from mnist_gan.core.runtime import seed_everything
from mnist_gan.data.splits import load_split
from mnist_gan.networks.gan import GAN, build_gan, ema_update
from mnist_gan.training.choices import xla_compiles
from mnist_gan.training.losses import LOSSES
from mnist_gan.training.trainer import GANTrainer

ROOT = Path(__file__).resolve().parents[1]
BATCH = 128


def seed_loop_steps_per_second(images: np.ndarray, model: ModelConfig, steps: int) -> float:
    """The book's loop, faithfully: predict + three train_on_batch per iteration."""
    gan = build_gan(model)
    generator, discriminator = gan.generator.model, gan.discriminator.model
    probability = keras.layers.Activation("sigmoid")(discriminator.output)
    discriminator_sigmoid = keras.Model(discriminator.input, probability)
    discriminator_sigmoid.compile(
        loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"]
    )
    discriminator_sigmoid.trainable = False  # the compile-order trick the book's loop relies on
    z = keras.Input((model.z_dim,))
    combined = keras.Model(z, discriminator_sigmoid(generator(z)))
    combined.compile(loss="binary_crossentropy", optimizer="adam")

    rng = np.random.default_rng(0)
    real, fake = np.ones((BATCH, 1)), np.zeros((BATCH, 1))

    def discriminator_step(batch: np.ndarray, labels: np.ndarray) -> None:
        discriminator_sigmoid.trainable = True
        discriminator_sigmoid.train_on_batch(batch, labels)

    def combined_step() -> None:
        discriminator_sigmoid.trainable = False
        combined.train_on_batch(rng.normal(0, 1, (BATCH, model.z_dim)), real)

    def iteration() -> None:
        batch = images[rng.integers(0, len(images), BATCH)]
        noise = rng.normal(0, 1, (BATCH, model.z_dim))
        generated = generator.predict(noise, verbose=0)
        discriminator_step(batch, real)
        discriminator_step(generated, fake)
        combined_step()

    # Keras 3 reads `trainable` when a step runs, not at compile time as Keras 2 did, so
    # the book's compile-order trick becomes an explicit toggle around each call.
    def weights() -> list[np.ndarray]:
        return [w.numpy().copy() for w in discriminator.weights]

    before = weights()
    combined_step()
    unchanged = all(np.array_equal(b, w) for b, w in zip(before, weights(), strict=True))
    assert unchanged, "the combined step must not train D"
    discriminator_step(images[:BATCH], real)
    changed = not all(np.array_equal(b, w) for b, w in zip(before, weights(), strict=True))
    assert changed, "the D step must train D"
    for _ in range(5):
        iteration()
    start = time.perf_counter()
    for _ in range(steps):
        iteration()
    return steps / (time.perf_counter() - start)


def project_steps_per_second(
    images: np.ndarray,
    labels: np.ndarray,
    model: ModelConfig,
    config: TrainConfig,
    steps: int,
    jit: bool,
) -> float:
    gan = build_gan(model, ema=config.ema > 0)
    trainer = GANTrainer(gan, images, labels, config, jit=jit)
    call = min(config.steps_per_call, steps)
    trainer.train(call)  # trace and compile
    calls = max(steps // call, 1)
    start = time.perf_counter()
    for _ in range(calls):
        trainer.train(call)
    return calls * call / (time.perf_counter() - start)


class FitGAN(keras.Model):
    """The same GAN step in the Keras idiom (keras-io's dcgan_overriding_train_step):
    a `train_step` with two tapes over each network's own variables, the EMA update,
    batches from a `tf.data` pipeline, latents from a seeded generator."""

    def __init__(self, gan: GAN, config: TrainConfig):
        super().__init__()
        self.gan, self.config = gan, config
        self.loss_pair = LOSSES[config.loss]
        self.noise = tf.random.Generator.from_seed(config.seed)
        self.d_optimizer = keras.optimizers.Adam(**config.d_adam.model_dump())
        self.g_optimizer = keras.optimizers.Adam(**config.g_adam.model_dump())

    def train_step(self, data):
        real, labels = data
        gan, loss = self.gan, self.loss_pair
        z = self.noise.normal([tf.shape(real)[0], gan.config.z_dim])
        with tf.GradientTape() as tape:
            fake = gan.generator(z, labels, training=True)
            real_logits = gan.discriminator(real, labels, training=True)
            fake_logits = gan.discriminator(fake, labels, training=True)
            d_loss = loss.discriminator(real_logits, fake_logits)
        variables = gan.discriminator.model.trainable_variables
        self.d_optimizer.apply(tape.gradient(d_loss, variables), variables)
        z = self.noise.normal([tf.shape(real)[0], gan.config.z_dim])
        with tf.GradientTape() as tape:
            g_loss = loss.generator(
                gan.discriminator(gan.generator(z, labels, training=True), labels, training=True)
            )
        variables = gan.generator.model.trainable_variables
        self.g_optimizer.apply(tape.gradient(g_loss, variables), variables)
        if gan.ema_generator is not None:
            ema_update(
                gan.ema_generator.model.trainable_variables,
                gan.generator.model.trainable_variables,
                self.config.ema,
            )
        return {"d_loss": d_loss, "g_loss": g_loss}


def fit_steps_per_second(
    images: np.ndarray,
    labels: np.ndarray,
    model: ModelConfig,
    config: TrainConfig,
    steps: int,
) -> float:
    """`FitGAN` trained by `fit(steps_per_execution=config.steps_per_call)`."""
    gan = build_gan(model, ema=config.ema > 0)
    fit_gan = FitGAN(gan, config)
    call = min(config.steps_per_call, steps)
    fit_gan.compile(steps_per_execution=call, jit_compile=False)
    data = (
        tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
        .shuffle(len(images), seed=config.seed)
        .repeat()
        .batch(config.batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    fit_gan.fit(data, steps_per_epoch=call, epochs=1, verbose=0)  # trace and compile
    calls = max(steps // call, 1)
    start = time.perf_counter()
    fit_gan.fit(data, steps_per_epoch=calls * call, epochs=1, verbose=0)
    return calls * call / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data/prepared")
    parser.add_argument("--seed-steps", type=int, default=200)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--dcgan-steps", type=int, default=200)
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument(
        "--repeat-to",
        type=int,
        default=0,
        help="Repeat the training images up to this count (60000: full-MNIST memory).",
    )
    args = parser.parse_args()

    seed_everything(0)
    split = load_split(args.data, "train")
    images, labels = split.images, split.labels
    if args.repeat_to > len(images):
        images = np.resize(images, (args.repeat_to, *images.shape[1:]))
        labels = np.resize(labels, args.repeat_to)
    model = ModelConfig(arch="mlp", conditional=False)
    seed = seed_loop_steps_per_second(images, model, args.seed_steps)
    rows = [("mlp: the book's loop (predict + 3x train_on_batch)", seed)]
    book = TrainConfig(batch_size=BATCH, ema=0.0, top_k=1.0)
    for jit in (False, True):
        rate = project_steps_per_second(images, labels, model, book, args.steps, jit)
        rows.append((f"mlp: project GANTrainer, jit={'true' if jit else 'false'}", rate))
    # Keras' fit refuses jit_compile while op determinism is on (trainer.model_supports_jit),
    # and the project needs determinism for byte-identical reruns: fit runs without XLA.
    rate = fit_steps_per_second(images, labels, model, book, args.steps)
    rows.append(("mlp: keras fit(steps_per_execution)", rate))
    params = load_params(args.params)
    default = f"{params.model.arch}, batch {params.train.batch_size}"
    for jit in (False, True):
        # The XLA row trains without what XLA cannot compile (top-k).
        train, note = params.train, ""
        if jit and not xla_compiles(train):
            train, note = train.model_copy(update={"top_k": 1.0}), " (top-k off)"
        rate = project_steps_per_second(images, labels, params.model, train, args.dcgan_steps, jit)
        rows.append((f"{default}: GANTrainer, jit={'true' if jit else 'false'}{note}", rate))
    rate = fit_steps_per_second(images, labels, params.model, params.train, args.dcgan_steps)
    rows.append((f"{default}: keras fit(steps_per_execution)", rate))

    print(
        f"mlp preset at batch {BATCH}, and params.yaml's model; {len(images):,} training images, "
        f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} intra-op "
        f"threads, CPU cores: {len(__import__('os').sched_getaffinity(0))}"
    )
    print(f"| {'loop':<50} | {'steps/s':>8} | {'ms/step':>8} | {'vs seed':>7} |")
    print(f"| {'-' * 50} | {'-' * 8}:| {'-' * 8}:| {'-' * 7}:|")
    for name, rate in rows:
        ratio = f"{rate / seed:6.1f}x" if name.startswith("mlp") else "      -"
        print(f"| {name:<50} | {rate:8.1f} | {1000 / rate:8.2f} | {ratio} |")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
