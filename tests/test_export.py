"""The SavedModel export: loaded by plain TensorFlow in a process that cannot import
this project, it draws the sample stage's pixels (but for a pixel halfway between two
levels, which float round-off may move by one); the same weights give the same bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_gan.core.config import ModelConfig
from mnist_gan.core.files import atomic_folder
from mnist_gan.drawing.sampling import balanced_labels, fixed_latents, generate_pixels
from mnist_gan.networks.gan import build_gan, load_sampler, save_gan
from mnist_gan.serving.export import export_saved_model
from tests.helpers import run_stage

# Runs in a fresh interpreter in isolated mode (-I: no PYTHONPATH, no current folder on
# the path), with imports of this project refused, so only TensorFlow reads the model.
SERVE_WITHOUT_PROJECT = """
import sys

class RefuseProject:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "mnist_gan":
            raise ImportError("the SavedModel must not need mnist_gan")

sys.meta_path.insert(0, RefuseProject())
import numpy as np
import tensorflow as tf

folder, z_path, labels_path, out_path = sys.argv[1:]
serve = tf.saved_model.load(folder).signatures["serving_default"]
z, labels = np.load(z_path), np.load(labels_path)
# One call, as the sample stage draws them in one batch: another batch size may
# round a pixel the other way.
images = serve(z=tf.constant(z), labels=tf.constant(labels))["images"]
np.save(out_path, images.numpy())
"""


def _trained_looking(folder: Path, conditional: bool) -> Path:
    """A small GAN with EMA whose generator weights are spread out, so pixels vary."""
    keras.utils.set_random_seed(3)
    model = ModelConfig(arch="dcgan", z_dim=8, g_width=4, d_width=4, conditional=conditional)
    gan = build_gan(model, ema=True)
    rng = np.random.default_rng(3)
    gan.ema_generator.model.set_weights(
        [
            w + rng.normal(0, 0.3, w.shape).astype(w.dtype)
            for w in gan.ema_generator.model.get_weights()
        ]
    )
    save_gan(gan, folder, {"model": model.model_dump()})
    return folder


@pytest.mark.parametrize("conditional", [True, False])
def test_the_saved_model_draws_the_sample_stage_pixels_without_this_project(
    tmp_path: Path, conditional: bool
) -> None:
    generator = load_sampler(_trained_looking(tmp_path / "gan", conditional))
    export_saved_model(generator, tmp_path / "saved_model")
    z, labels = fixed_latents(5, 40, 8), balanced_labels(40)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "labels.npy", labels)
    served = tmp_path / "served.npy"
    process = subprocess.run(
        [sys.executable, "-I", "-c", SERVE_WITHOUT_PROJECT, str(tmp_path / "saved_model")]
        + [str(tmp_path / name) for name in ("z.npy", "labels.npy", "served.npy")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    pixels = np.load(served)
    expected = generate_pixels(generator, z, labels)
    assert pixels.dtype == np.uint8 and pixels.shape == (40, 28, 28)
    assert len(np.unique(expected)) > 50  # a real test: the pixels vary
    # The SavedModel runs the generator as an optimized graph, the sample stage op by
    # op: on some CPUs their floats differ in the last bits, which moves a pixel one
    # level only where the stage's value lies within that of halfway between two.
    levels = (np.clip(np.asarray(generator(z, labels, training=False)), -1, 1) + 1) * 127.5
    halfway = np.abs(levels - np.floor(levels) - 0.5).reshape(pixels.shape) < 1e-3
    differ = pixels != expected
    assert np.all(np.abs(pixels.astype(int) - expected)[differ] == 1)
    assert not np.any(differ & ~halfway), f"{np.sum(differ & ~halfway)} pixels differ"
    assert np.mean(halfway) < 0.005  # so few that the check above has teeth


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_the_stage_exports_the_same_bytes_twice_and_names_a_missing_model(tmp_path: Path) -> None:
    models = _trained_looking(tmp_path / "gan", conditional=True)
    for name in ("a", "b"):
        process = run_stage("export", "--models", str(models), "--out", str(tmp_path / name))
        assert process.returncode == 0, process.stderr[-3000:]
    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert "fingerprint.pb" in first and "saved_model.pb" in first
    assert first == second

    missing = run_stage(
        "export", "--models", str(tmp_path / "nothing"), "--out", str(tmp_path / "c")
    )
    assert missing.returncode == 2
    assert "gan.json" in missing.stderr and "dvc repro -f train" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert not (tmp_path / "c").exists()


def test_a_failed_folder_write_leaves_the_old_folder_and_no_temporary_one(tmp_path: Path) -> None:
    destination = tmp_path / "out"
    destination.mkdir()
    (destination / "good.txt").write_text("good")
    (tmp_path / ".tmp-killed-out").mkdir()  # what a killed run leaves
    with pytest.raises(RuntimeError), atomic_folder(destination) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (destination / "good.txt").read_text() == "good"

    with atomic_folder(destination) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in destination.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# TensorFlow's own command-line runner: it loads the SavedModel in a TF1 session, the
# way TF Serving's C++ loader restores variables, unlike tf.saved_model.load.
SAVED_MODEL_CLI = Path(sys.executable).with_name("saved_model_cli")


def _saved_model_cli(
    folder: Path, inputs: dict[str, np.ndarray], outdir: Path
) -> subprocess.CompletedProcess:
    """Run `saved_model_cli run` on `folder` with `inputs` (written as .npy files beside
    `outdir`); its outputs land in `outdir` as <name>.npy."""
    for name, array in inputs.items():
        np.save(outdir.parent / f"{name}.npy", array)
    feeds = ";".join(f"{name}={outdir.parent / name}.npy" for name in inputs)
    command = [str(SAVED_MODEL_CLI), "run", "--dir", str(folder), "--tag_set", "serve"]
    command += ["--signature_def", "serving_default", "--inputs", feeds, "--outdir", str(outdir)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("conditional", [True, False])
@pytest.mark.slow
def test_saved_model_cli_serves_what_tf_saved_model_load_serves(
    tmp_path: Path, conditional: bool
) -> None:
    """The session-based loader (saved_model_cli, TF Serving) finds every variable."""
    generator = load_sampler(_trained_looking(tmp_path / "gan", conditional))
    export_saved_model(generator, tmp_path / "saved_model")
    z, labels = fixed_latents(7, 12, 8), balanced_labels(12)
    inputs = {"z": z, "labels": labels}
    process = _saved_model_cli(tmp_path / "saved_model", inputs, tmp_path / "out")
    assert process.returncode == 0, process.stderr[-3000:]
    served = np.load(tmp_path / "out" / "images.npy")
    serve = tf.saved_model.load(str(tmp_path / "saved_model")).signatures["serving_default"]
    loaded = serve(z=tf.constant(z), labels=tf.constant(labels))["images"].numpy()
    assert served.dtype == np.uint8 and served.shape == (12, 28, 28)
    assert len(np.unique(loaded)) > 20  # a real test: the pixels vary
    np.testing.assert_array_equal(served, loaded)
    np.testing.assert_array_equal(served, generate_pixels(generator, z, labels))


@pytest.mark.parametrize("conditional", [True, False])
@pytest.mark.slow
def test_the_saved_model_refuses_labels_outside_0_to_9(tmp_path: Path, conditional: bool) -> None:
    """A label of 10 or -1 is an InvalidArgumentError naming 0..9, not a wrapped digit,
    through tf.saved_model.load and through saved_model_cli; an unconditional model,
    which ignores labels, checks them the same way."""
    generator = load_sampler(_trained_looking(tmp_path / "gan", conditional))
    export_saved_model(generator, tmp_path / "saved_model")
    serve = tf.saved_model.load(str(tmp_path / "saved_model")).signatures["serving_default"]
    z = tf.constant(fixed_latents(7, 3, 8))
    for bad in ([0, 10, 2], [0, -1, 2]):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels must be in 0\.\.9"):
            serve(z=z, labels=tf.constant(bad, tf.int32))
    serve(z=z, labels=tf.constant([0, 9, 5], tf.int32))  # the ends of the range are fine

    inputs = {"z": z.numpy(), "labels": np.array([3, 10, -1], np.int32)}
    process = _saved_model_cli(tmp_path / "saved_model", inputs, tmp_path / "out")
    assert process.returncode != 0
    assert "labels must be in 0..9" in process.stderr
    assert not (tmp_path / "out" / "images.npy").exists()
