"""The SavedModel export: loaded by plain TensorFlow in a process that cannot import
this project, it draws the sample stage's pixels; the same weights give the same bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
images = [
    serve(z=tf.constant(z[i : i + 7]), labels=tf.constant(labels[i : i + 7]))["images"]
    for i in range(0, len(z), 7)
]
np.save(out_path, np.concatenate([image.numpy() for image in images]))
"""


def _trained_looking(folder: Path, conditional: bool) -> Path:
    """A small GAN with EMA whose generator weights are spread out, so pixels vary."""
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
    np.testing.assert_array_equal(pixels, expected)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


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
