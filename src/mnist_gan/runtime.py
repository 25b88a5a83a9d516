"""Where and how TensorFlow runs: devices and tf.distribute strategies, XLA, seeding."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from mnist_gan.errors import ParamsError


def use_xla(setting: bool | str, xla_on_cpu: bool) -> bool:
    """Resolve `train.jit`: "auto" is on with a GPU, else the architecture's measured
    choice for a CPU (its `xla_on_cpu` registry entry)."""
    if setting != "auto":
        return bool(setting)
    return bool(tf.config.list_physical_devices("GPU")) or xla_on_cpu


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy for `train.strategy`.

    one_device: the first GPU, else the CPU. mirrored: every GPU of this machine (else
    every logical CPU device, which is how it is tested). multi_worker: one replica set
    per machine listed in the TF_CONFIG environment variable. auto: multi_worker when
    TF_CONFIG is set, mirrored with more than one GPU, else one_device. Create it
    before any other TensorFlow work: multi-worker set-up must come first.
    """
    if name == "auto":
        if os.environ.get("TF_CONFIG"):
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ParamsError(
                "train.strategy = multi_worker needs the TF_CONFIG environment variable "
                "(cluster addresses and this worker's index); see the README"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    return tf.distribute.OneDeviceStrategy(devices[0].name)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the outputs: always, except on workers other than
    worker 0 of a multi-worker run."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is None or resolver.task_type is None or resolver.task_id == 0


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def output_folders(strategy: tf.distribute.Strategy, *folders: Path) -> tuple[Path, ...]:
    """`folders` on the chief; on the other workers of a multi-worker run, which keep
    nothing, as many fresh folders in a scratch directory."""
    if is_chief(strategy):
        return folders
    scratch = Path(tempfile.mkdtemp(prefix="mnist-gan-worker-"))
    return tuple(scratch / str(index) for index in range(len(folders)))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's CPU kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
