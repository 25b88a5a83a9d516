"""How close each stage's compute is to what this CPU can do.

For one training step of params.yaml's default and of the book's MLP (batch 128), a
classifier epoch and the evaluate stage's forward passes, the table gives the
floating-point operations the work does (counted by TensorFlow's graph profiler from
the traced step, forward and backward), the time it takes, the achieved FLOP/s and
that as a fraction of the machine's measured peak: a large float32 matmul under the
same `cpu` params (the portable ISA cap and the thread count). The count is checked
against a hand count for one layer (D's first convolution) before anything is timed.
Not counted: ops inside a `tf.cond` branch (the profiler does not enter them: the lazy
R1 pass, on every `train.penalty_every`-th D update) and ops of dynamic shape (top-k's
loss on the k fakes it keeps, elementwise over at most a batch), so the FLOPs and the
share of the peak are lower bounds.
Then TensorFlow's profiler says where the default's step time goes (the op types with
the largest self time).

    PYTHONPATH=src python bench/roofline.py [--data data/prepared] [--steps 300]
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from mnist_gan.core.config import ModelConfig, TrainConfig, load_params
from mnist_gan.core.runtime import configure_cpu, seed_everything, use_xla
from mnist_gan.data.splits import load_split
from mnist_gan.evaluation.classifier import build_classifier, epochs_for, feature_model
from mnist_gan.networks.architectures import ARCHITECTURES
from mnist_gan.networks.gan import build_gan
from mnist_gan.training.choices import xla_compiles
from mnist_gan.training.trainer import GANTrainer

ROOT = Path(__file__).resolve().parents[1]
BOOK_BATCH = 128
PEAK_SIZE = 2048  # a float32 matmul this size keeps every core busy in large tiles


def graph_flops(function: tf.types.experimental.ConcreteFunction) -> dict[str, int]:
    """Floating-point operations of one call of `function`, by op type, from
    TensorFlow's graph profiler (ops without a FLOP rule, such as gathers, count 0)."""
    options = (
        tf.compat.v1.profiler.ProfileOptionBuilder(
            tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        )
        .with_empty_output()
        .build()
    )
    profile = tf.compat.v1.profiler.profile(function.graph, cmd="op", options=options)
    # float_ops, not total_float_ops: the op view files BiasAdd's under Conv2D's total.
    return {node.name: node.float_ops for node in profile.children if node.float_ops}


def check_against_hand_count(model: ModelConfig) -> tuple[str, int]:
    """D's first Conv2D: the profiler's count of its forward op against 2 x the
    multiply-adds written out by hand. Raises if they differ."""
    discriminator = build_gan(model).discriminator.model
    conv = next(layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D))
    batch = 32
    _, height, width, channels_in = conv.input.shape
    _, out_height, out_width, channels_out = conv.output.shape
    kernel_height, kernel_width = conv.kernel_size
    by_hand = (
        2 * batch * out_height * out_width * kernel_height * kernel_width
        * channels_in * channels_out
    )  # fmt: skip
    spec = tf.TensorSpec([batch, height, width, channels_in], tf.float32)
    counted = graph_flops(tf.function(conv).get_concrete_function(spec)).get("Conv2D", 0)
    if counted != by_hand:
        raise SystemExit(f"FLOP count check failed: profiler {counted:,}, by hand {by_hand:,}")
    return conv.name, by_hand


def peak_flops_per_second(seconds: float = 3.0) -> float:
    """Float32 FLOP/s of a PEAK_SIZE^2 matmul chained on itself, best of three runs."""
    a = tf.random.stateless_normal([PEAK_SIZE, PEAK_SIZE], seed=[0, 0]) / PEAK_SIZE**0.5

    @tf.function
    def chain(x: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
        for _ in tf.range(n):
            x = tf.matmul(x, a)
        return x

    chain(a, tf.constant(2)).numpy()
    n = 2
    while True:
        start = time.perf_counter()
        chain(a, tf.constant(n)).numpy()
        if time.perf_counter() - start > seconds / 3 or n > 4096:
            break
        n *= 2
    best = min(timed(lambda: chain(a, tf.constant(n)).numpy()) for _ in range(3))
    return 2 * PEAK_SIZE**3 * n / best


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def gan_step_row(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    model: ModelConfig,
    train: TrainConfig,
    steps: int,
) -> tuple[str, int, float, GANTrainer]:
    """(name, FLOPs of one step, seconds per step, the trainer) for `train`'s loop as
    the train stage runs it (its XLA choice, `steps_per_call` steps per call)."""
    seed_everything(train.seed)
    gan = build_gan(model, train.precision, ema=train.ema > 0)
    jit = use_xla(train.jit, ARCHITECTURES[model.arch].xla_on_cpu and xla_compiles(train))
    trainer = GANTrainer(gan, images, labels, train, jit=jit)
    flops = sum(graph_flops(tf.function(trainer.step).get_concrete_function()).values())
    call = min(train.steps_per_call, steps)
    trainer.train(call)  # trace and compile
    calls = max(steps // call, 1)
    seconds = timed(lambda: [trainer.train(call) for _ in range(calls)])
    return name, flops, seconds / (calls * call), trainer


def classifier_epoch_row(images: np.ndarray, labels: np.ndarray, batch: int) -> tuple:
    """One epoch of the classifier stage's training, as its `fit` runs it."""
    model = build_classifier()
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def train_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        gradients = tape.gradient(value, model.trainable_variables)
        model.optimizer.apply(gradients, model.trainable_variables)
        return value

    model.optimizer.build(model.trainable_variables)
    spec = (tf.TensorSpec([batch, 28, 28, 1]), tf.TensorSpec([batch], tf.int32))
    step_flops = sum(graph_flops(tf.function(train_step).get_concrete_function(*spec)).values())
    batches = len(images) // batch
    y = labels.astype(np.int32)
    model.fit(images[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)
    seconds = timed(lambda: model.fit(images, y, batch_size=batch, epochs=1, verbose=0))
    return (
        f"classifier: one epoch ({len(images):,} images of batch {batch})",
        step_flops * batches,
        seconds,
    )


def evaluate_row(images: np.ndarray, batch: int, count: int) -> tuple:
    """The evaluate stage's forward passes: `count` images through the feature model."""
    extractor = feature_model(build_classifier())
    spec = tf.TensorSpec([batch, 28, 28, 1])
    flops = sum(graph_flops(tf.function(extractor).get_concrete_function(spec)).values())
    images = np.resize(images, (count, *images.shape[1:]))
    extractor.predict(images[:batch], batch_size=batch, verbose=0)
    seconds = timed(lambda: extractor.predict(images, batch_size=batch, verbose=0))
    return f"evaluate: classifier forward, {count:,} images", flops * (count // batch), seconds


def op_time_shares(trainer: GANTrainer, steps: int, top: int) -> list[tuple[str, float, int]]:
    """(op type, share of the step's op self time, occurrences) for the `top` op types,
    from a TensorFlow profiler trace of `steps` steps."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        trainer.train(steps)
        tf.profiler.experimental.stop()
        xplanes = [str(path) for path in Path(logdir).rglob("*.xplane.pb")]
        data, ok = _pywrap_profiler_plugin.xspace_to_tools_data(xplanes, "framework_op_stats")
    if not ok:
        raise SystemExit("the profiler wrote no op statistics")
    table = json.loads(data)
    table = table[0] if isinstance(table, list) else table
    columns = [column["id"] for column in table["cols"]]
    self_time: collections.Counter = collections.Counter()
    occurrences: collections.Counter = collections.Counter()
    for row in table["rows"]:
        values = dict(zip(columns, (cell["v"] for cell in row["c"]), strict=True))
        if values["host_or_device"] != "Host" or values["type"] in ("_Send", "_Recv"):
            continue
        self_time[values["type"]] += values["total_self_time"]
        occurrences[values["type"]] += values["occurrences"]
    total = sum(self_time.values())
    return [(op, time / total, occurrences[op]) for op, time in self_time.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data/prepared")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--steps", type=int, default=300, help="timed steps of each GAN")
    parser.add_argument("--top", type=int, default=12, help="op types in the time profile")
    parser.add_argument(
        "--evaluate-images", type=int, default=30_000, help="images the evaluate row scores"
    )
    parser.add_argument("--peak-seconds", type=float, default=3.0, help="time of a peak run")
    args = parser.parse_args()

    params = load_params(args.params)
    configure_cpu(params.cpu)
    split = load_split(args.data, "train")
    images, labels = split.images, split.labels

    layer, by_hand = check_against_hand_count(params.model)
    peak = peak_flops_per_second(args.peak_seconds)
    default = f"default ({params.model.arch}, batch {params.train.batch_size}): one step"
    rows = []
    *row, trainer = gan_step_row(default, images, labels, params.model, params.train, args.steps)
    rows.append(row)
    book_model = ModelConfig(arch="mlp", conditional=False)
    book_train = TrainConfig(batch_size=BOOK_BATCH, ema=0.0, top_k=1.0)
    *book_row, _ = gan_step_row(
        f"the book's mlp (batch {BOOK_BATCH}): one step", images, labels, book_model,
        book_train, args.steps * 4,
    )  # fmt: skip
    rows.append(book_row)
    epoch = epochs_for(params.classifier.budget_images, len(images))
    rows.append(classifier_epoch_row(images, labels, params.classifier.batch_size))
    rows.append(evaluate_row(images, params.evaluate.batch_size, args.evaluate_images))

    threads = params.cpu.threads if params.cpu.portable else "all"
    print(
        f"cpu.portable {params.cpu.portable}, {threads} intra-op threads; peak: a "
        f"{PEAK_SIZE}x{PEAK_SIZE} float32 matmul, {peak / 1e9:.1f} GFLOP/s. FLOP count "
        f"checked: {layer} forward at batch 32 = {by_hand:,} by hand and by the profiler. "
        f"The classifier stage runs {epoch} epochs; evaluate scores 10,000 samples, the "
        "test set and 10,000 held-out images."
    )
    print(f"| {'work':<58} | {'MFLOP':>9} | {'ms':>9} | {'GFLOP/s':>7} | {'of peak':>7} |")
    print(f"| {'-' * 58} | {'-' * 9}:| {'-' * 9}:| {'-' * 7}:| {'-' * 7}:|")
    for name, flops, seconds in rows:
        rate = flops / seconds
        print(
            f"| {name:<58} | {flops / 1e6:9.1f} | {seconds * 1e3:9.2f} | {rate / 1e9:7.2f} "
            f"| {rate / peak:7.1%} |"
        )

    print(f"\nWhere the default's step time goes ({args.steps} steps, TensorFlow profiler):")
    print(f"| {'op type':<28} | {'share of op time':>16} | {'per step':>8} |")
    print(f"| {'-' * 28} | {'-' * 16}:| {'-' * 8}:|")
    for op, share, count in op_time_shares(trainer, args.steps, args.top):
        print(f"| {op:<28} | {share:16.1%} | {count / args.steps:8.1f} |")


if __name__ == "__main__":
    main()
