"""The generator as a TensorFlow SavedModel, for people without this project: TF
Serving, the TFLite and TF.js converters and `tf.saved_model.load` take it as it is.

Its one signature, `serving_default`, maps
    z float32 [B, z_dim] ~ N(0, 1) and labels int32 [B] in 0..9 (ignored by an
    unconditional model) -> images uint8 [B, 28, 28] in 0..255,
computing exactly the sample stage's pixels for the same latents (the averaged
generator, clipped to [-1, 1], rounded half to even like `data.to_pixels`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import tensorflow as tf
from tensorflow.core.protobuf import fingerprint_pb2

from mnist_gan.core.files import atomic_folder
from mnist_gan.data.splits import IMAGE_SHAPE
from mnist_gan.networks.architectures import Network

SIGNATURE = "serving_default"
FINGERPRINT_FILE = "fingerprint.pb"


class _Serving(tf.Module):
    """What the SavedModel holds: the generator's variables and the serving function."""

    def __init__(self, generator: Network):
        super().__init__(name="generator")
        self.model = generator.model  # tracked, so its variables are saved
        self._generator = generator
        z_dim = generator.config.z_dim
        self.serve = tf.function(
            self._serve,
            input_signature=[
                tf.TensorSpec([None, z_dim], tf.float32, name="z"),
                tf.TensorSpec([None], tf.int32, name="labels"),
            ],
        )

    def _serve(self, z: tf.Tensor, labels: tf.Tensor) -> dict[str, tf.Tensor]:
        images = self._generator(z, labels, training=False)  # float [B, 28, 28, 1]
        pixels = tf.math.round((tf.clip_by_value(images, -1.0, 1.0) + 1.0) * 127.5)
        return {"images": tf.cast(tf.reshape(pixels, [-1, *IMAGE_SHAPE[:2]]), tf.uint8)}


def export_saved_model(generator: Network, folder: Path) -> None:
    """Write `folder` as a SavedModel (replacing it whole, never half-written).

    Same weights give the same bytes: TensorFlow writes a random `uuid` into
    fingerprint.pb on every save, which is replaced here by one derived from the
    fingerprint's content hashes (a reproducible output must not carry a random id)."""
    module = _Serving(generator)
    with atomic_folder(Path(folder)) as tmp:
        tf.saved_model.save(module, str(tmp), signatures={SIGNATURE: module.serve})
        _derandomize_fingerprint(tmp / FINGERPRINT_FILE)


def _derandomize_fingerprint(path: Path) -> None:
    fingerprint = fingerprint_pb2.FingerprintDef()
    fingerprint.ParseFromString(path.read_bytes())
    fingerprint.ClearField("uuid")
    content = hashlib.sha256(fingerprint.SerializeToString(deterministic=True)).digest()
    fingerprint.uuid = str(int.from_bytes(content[:16], "big"))  # TF's form: a decimal
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))
