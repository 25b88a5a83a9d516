"""The GAN models and the compiled training loop, on small real TensorFlow runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_gan.core.config import ModelConfig, TrainConfig
from mnist_gan.core.runtime import deterministic_xla, seed_everything, use_xla
from mnist_gan.drawing.sampling import fixed_latents, generate_pixels
from mnist_gan.evaluation.classifier import build_classifier, feature_model
from mnist_gan.networks.architectures import ARCHITECTURES
from mnist_gan.networks.gan import build_gan, load_sampler, save_gan
from mnist_gan.training.loop import chunks
from mnist_gan.training.objective import StepMetrics
from mnist_gan.training.trainer import GANTrainer
from tests.helpers import REPO_ROOT, synthetic_digits

MODEL = ModelConfig(arch="mlp", conditional=False, z_dim=16, hidden_units=32)


def _images(count: int = 64) -> np.ndarray:
    pixels, _ = synthetic_digits(count, seed=0)
    return pixels.astype(np.float32)[..., None] / 127.5 - 1


def _labels(count: int = 64) -> np.ndarray:
    return synthetic_digits(count, seed=0)[1]


def _trainer(
    seed: int = 0, images: np.ndarray | None = None, model: ModelConfig = MODEL, **train
) -> GANTrainer:
    seed_everything(seed)
    config = TrainConfig(batch_size=8, seed=seed, **train)
    images = _images() if images is None else images
    gan = build_gan(model, ema=config.ema > 0)
    return GANTrainer(gan, images, _labels(len(images)), config, jit=config.jit is True)


def test_models_have_the_documented_shapes() -> None:
    gan = build_gan(MODEL)
    labels = np.zeros(3, np.int32)  # an unconditional network ignores them
    images = gan.generator(np.zeros((3, 16), np.float32), labels)
    assert tuple(images.shape) == (3, 28, 28, 1)
    assert np.all(np.abs(np.asarray(images)) <= 1)  # tanh range
    assert tuple(gan.discriminator(images, labels).shape) == (3, 1)
    classifier = build_classifier()
    assert tuple(classifier(np.zeros((2, 28, 28, 1), np.float32)).shape) == (2, 10)
    features, probabilities = feature_model(classifier)(np.zeros((2, 28, 28, 1), np.float32))
    assert tuple(features.shape) == (2, 128)
    np.testing.assert_allclose(np.sum(probabilities, axis=1), 1.0, rtol=1e-5)


def test_one_training_step_changes_both_models_and_gives_finite_losses() -> None:
    trainer = _trainer()
    gan = trainer.gan
    before = [w.copy() for w in gan.generator.model.get_weights()]
    before += [w.copy() for w in gan.discriminator.model.get_weights()]
    means = trainer.train(1)
    after = gan.generator.model.get_weights() + gan.discriminator.model.get_weights()
    assert isinstance(means, StepMetrics)
    assert np.all(np.isfinite(means))
    assert 0 <= means.d_accuracy <= 1
    assert all(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


@pytest.mark.parametrize(
    "jit, updates",
    [
        (False, "alternating"),
        (True, "alternating"),
        (False, "shared_fakes"),
        (True, "shared_fakes"),
        (False, "simultaneous"),
    ],
)
@pytest.mark.slow
def test_same_seed_gives_bit_identical_weights_and_another_seed_does_not(jit, updates) -> None:
    def weights(seed: int) -> list[np.ndarray]:
        trainer = _trainer(seed, jit=jit, top_k=1.0, updates=updates)  # XLA: without top-k
        trainer.train(5)
        return trainer.gan.generator.model.get_weights()

    first, second, other = weights(3), weights(3), weights(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_chunks_end_on_every_log_and_sample_step() -> None:
    sizes = list(chunks(25, 4, (10, 6)))
    ends = np.cumsum(sizes).tolist()
    assert sum(sizes) == 25 and max(sizes) <= 4
    assert {6, 10, 12, 18, 20, 24, 25} <= set(ends)


def test_saved_generator_reloads_to_the_same_outputs(tmp_path: Path) -> None:
    trainer = _trainer()
    trainer.train(2)
    save_gan(trainer.gan, tmp_path, {"model": MODEL.model_dump()})
    generator = load_sampler(tmp_path)
    z, labels = fixed_latents(0, 4, generator.config.z_dim), np.zeros(4, np.int32)
    assert generator.config == MODEL
    np.testing.assert_array_equal(  # the average is what gets sampled
        generate_pixels(generator, z, labels),
        generate_pixels(trainer.gan.ema_generator, z, labels),
    )
    first = (tmp_path / "generator.weights.h5").read_bytes()
    save_gan(trainer.gan, tmp_path, {"model": MODEL.model_dump()})
    assert (tmp_path / "generator.weights.h5").read_bytes() == first  # no timestamps inside


def test_xla_setting_resolves_per_device_and_architecture_entry() -> None:
    for gpu in (False, True):
        assert use_xla(True, xla_on_cpu=False, gpu=gpu) is True
        assert use_xla(False, xla_on_cpu=True, gpu=gpu) is False
    assert use_xla("auto", xla_on_cpu=True, gpu=False) is True
    assert use_xla("auto", xla_on_cpu=False, gpu=False) is False
    # A GPU under op determinism: off, whatever the CPU measurement said.
    assert use_xla("auto", xla_on_cpu=True, gpu=True) is False
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert use_xla("auto", xla_on_cpu=True) is not has_gpu  # asks TensorFlow
    assert ARCHITECTURES["mlp"].xla_on_cpu  # measured faster on CPU
    assert not ARCHITECTURES["dcgan"].xla_on_cpu  # measured 8x slower on CPU


def test_deterministic_xla_adds_its_flag_once_and_keeps_the_others() -> None:
    environ = {"XLA_FLAGS": "--xla_cpu_enable_fast_math=false"}
    assert deterministic_xla(environ) == (
        "--xla_cpu_enable_fast_math=false --xla_gpu_deterministic_ops=true"
    )
    assert deterministic_xla(environ) == environ["XLA_FLAGS"]  # not twice
    chosen = {"XLA_FLAGS": "--xla_gpu_deterministic_ops=false"}  # the user's say wins
    assert deterministic_xla(chosen) == "--xla_gpu_deterministic_ops=false"
    assert deterministic_xla({}) == "--xla_gpu_deterministic_ops=true"


# Trains the MLP with XLA for a few steps in a fresh process (XLA reads XLA_FLAGS once)
# and prints the flags it ran with and a digest of the weights.
XLA_RUN = """
import hashlib, os
import numpy as np
from mnist_gan.core.config import ModelConfig, TrainConfig
from mnist_gan.networks.gan import build_gan
from mnist_gan.core.runtime import deterministic_xla, seed_everything
from mnist_gan.training.trainer import GANTrainer
from tests.helpers import REPO_ROOT, synthetic_digits

deterministic_xla()
seed_everything(0)
pixels, labels = synthetic_digits(64, seed=0)
images = pixels.astype(np.float32)[..., None] / 127.5 - 1
model = ModelConfig(arch="mlp", conditional=False, z_dim=16, hidden_units=32)
config = TrainConfig(batch_size=8, ema=0.0, top_k=1.0)
trainer = GANTrainer(build_gan(model), images, labels, config, True)
trainer.train(4)
weights = b"".join(w.tobytes() for w in trainer.gan.generator.model.get_weights())
print(os.environ["XLA_FLAGS"], hashlib.md5(weights).hexdigest())
"""


@pytest.mark.slow
def test_the_deterministic_xla_flag_is_accepted_and_changes_nothing_on_a_cpu() -> None:
    """The GPU code path, run on a CPU: XLA takes the flag (an unknown one would abort
    the process) and compiles the same program, so the weights are the same bytes."""
    runs = {}
    for preset in (None, "--xla_gpu_deterministic_ops=false"):
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        env["PYTHONPATH"] = f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}"
        if preset:
            env["XLA_FLAGS"] = preset
        done = subprocess.run([sys.executable, "-c", XLA_RUN], env=env, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        flags, digest = done.stdout.split()[-2:]
        runs[flags] = digest
    assert set(runs) == {"--xla_gpu_deterministic_ops=true", "--xla_gpu_deterministic_ops=false"}
    assert len(set(runs.values())) == 1


@pytest.mark.parametrize("precision", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_each_precision_trains_with_finite_losses_and_the_documented_dtypes(precision) -> None:
    seed_everything(0)
    config = TrainConfig(batch_size=8, precision=precision, ema=0.0)
    gan = build_gan(MODEL, precision)
    trainer = GANTrainer(gan, _images(), _labels(), config)
    means = trainer.train(3)
    assert np.all(np.isfinite(means))
    compute = {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
    hidden = gan.generator.model.layers[1]
    assert hidden.compute_dtype == compute[precision]
    assert hidden.variable_dtype == "float32"  # weights stay full precision
    labels = np.zeros(2, np.int32)
    assert gan.generator(np.zeros((2, 16), np.float32), labels).dtype == "float32"
    assert gan.discriminator(np.zeros((2, 28, 28, 1), np.float32), labels).dtype == "float32"
    is_scaled = isinstance(trainer.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (precision == "mixed_float16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is untouched
