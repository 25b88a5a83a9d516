"""The generator as a TensorFlow SavedModel, for people without this project: TF
Serving, the TFLite and TF.js converters and `tf.saved_model.load` take it as it is.

Its one signature, `serving_default`, maps
    z float32 [B, z_dim] ~ N(0, 1) and labels int32 [B] in 0..9 (ignored by an
    unconditional model, but checked) -> images uint8 [B, 28, 28] in 0..255,
computing exactly the sample stage's pixels for the same latents in the same batches
(the averaged generator, clipped to [-1, 1], rounded half to even like
`data.to_pixels`; another batch size can round a pixel the other way). A label
outside 0..9 makes the call fail with an InvalidArgumentError naming the range.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import tensorflow as tf
from tensorflow.core.protobuf import fingerprint_pb2

from mnist_gan.core.files import atomic_folder
from mnist_gan.data.splits import IMAGE_SHAPE, NUM_CLASSES
from mnist_gan.networks.architectures import Network

SIGNATURE = "serving_default"
# What a SavedModel folder holds; the export replaces the folder whole.
SAVED_MODEL_ENTRIES = ("saved_model.pb", "fingerprint.pb", "variables", "assets")
FINGERPRINT_FILE = "fingerprint.pb"
LABELS_MESSAGE = f"labels must be in 0..{NUM_CLASSES - 1}"


def _serving_function(generator: Network):
    """serve(z, labels) -> {"images": ...}: the generator's pixels, labels checked."""

    def serve(z: tf.Tensor, labels: tf.Tensor) -> dict[str, tf.Tensor]:
        # An out-of-range label would index the class embedding with wrapped or
        # clamped rows and draw some digit; an unconditional model ignores labels but
        # checks them alike, so a caller's bug shows whichever model it serves.
        checks = [
            tf.debugging.assert_greater_equal(labels, 0, message=LABELS_MESSAGE),
            tf.debugging.assert_less(labels, NUM_CLASSES, message=LABELS_MESSAGE),
        ]
        with tf.control_dependencies(checks):
            labels = tf.identity(labels)
        images = generator(z, labels, training=False)  # float [B, 28, 28, 1]
        pixels = tf.math.round((tf.clip_by_value(images, -1.0, 1.0) + 1.0) * 127.5)
        return {"images": tf.cast(tf.reshape(pixels, [-1, *IMAGE_SHAPE[:2]]), tf.uint8)}

    return serve


class _Serving(tf.Module):
    """What the SavedModel holds: the serving function and the variables it reads.

    The variables are the TensorFlow ones behind the Keras variables, tracked directly
    and in the model's order (as Keras' ExportArchive tracks them, but in an order
    that is the same on every run): every loader then finds the variables the
    function reads. A tracked Keras model would save copies of its variables that
    only `tf.saved_model.load` reconnects, not the session-based loader of TF Serving
    and `saved_model_cli`."""

    def __init__(self, generator: Network):
        super().__init__(name="generator")
        self.generator_variables = [v.value for v in generator.model.variables]
        z_dim = generator.config.z_dim
        self.serve = tf.function(
            _serving_function(generator),
            input_signature=[
                tf.TensorSpec([None, z_dim], tf.float32, name="z"),
                tf.TensorSpec([None], tf.int32, name="labels"),
            ],
            autograph=False,
        )
        tracked = {id(v) for v in self.generator_variables}
        untracked = [
            v.name for v in self.serve.get_concrete_function().variables if id(v) not in tracked
        ]
        if untracked:  # they would be missing from the SavedModel
            raise RuntimeError(f"the serving function reads untracked variables {untracked}")


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
