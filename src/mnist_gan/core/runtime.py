"""Where and how TensorFlow runs: devices and tf.distribute strategies, XLA, seeding."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from mnist_gan.core.config import CpuConfig
from mnist_gan.core.errors import ParamsError

# Makes XLA pick deterministic GPU kernels (no autotuning), and fail to compile an op
# that has none, rather than vary. Known to every XLA build, so harmless on a CPU.
DETERMINISTIC_XLA_FLAG = "--xla_gpu_deterministic_ops=true"


def use_xla(setting: bool | str, xla_on_cpu: bool, gpu: bool | None = None) -> bool:
    """Resolve `train.jit` (`gpu`: whether TensorFlow sees a GPU; None asks it).

    "auto" on a CPU is the architecture's measured choice (its `xla_on_cpu` registry
    entry). On a GPU it is off: training runs with op determinism, and XLA's GPU
    kernels are deterministic only with DETERMINISTIC_XLA_FLAG, under which an op
    without a deterministic kernel stops compilation (Keras turns XLA off under op
    determinism for that reason, keras-team/keras#20315). Off is the setting that
    can neither fail nor vary; `train.jit: true` opts in (see `deterministic_xla`).
    """
    if setting != "auto":
        return bool(setting)
    if gpu is None:
        gpu = bool(tf.config.list_physical_devices("GPU"))
    return False if gpu else xla_on_cpu


def deterministic_xla(environ: dict | None = None) -> str:
    """Add DETERMINISTIC_XLA_FLAG to XLA_FLAGS in `environ` (default os.environ) unless
    it sets xla_gpu_deterministic_ops already; returns the new value. XLA reads the
    variable once, at its first compilation: call this before any compiled step."""
    environ = os.environ if environ is None else environ
    flags = environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" not in flags:
        environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_XLA_FLAG}".strip()
    return environ["XLA_FLAGS"]


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
                "(cluster addresses and this worker's index); see docs/engineering.md"
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


PORTABLE_ISA = "AVX2"  # x86-64 since 2013 (Intel Haswell, AMD Excavator and Zen)


def configure_cpu(cpu: CpuConfig, environ: dict | None = None) -> None:
    """Apply `cpu` params. Call it first in a stage, before TensorFlow runs any op:
    oneDNN reads ONEDNN_MAX_CPU_ISA at its first kernel, XLA reads XLA_FLAGS at its
    first compilation, and the thread pool is sized when the runtime starts."""
    if not cpu.portable:
        return
    environ = os.environ if environ is None else environ
    environ["ONEDNN_MAX_CPU_ISA"] = PORTABLE_ISA
    flags = environ.get("XLA_FLAGS", "")
    if "xla_cpu_max_isa" not in flags:
        environ["XLA_FLAGS"] = f"{flags} --xla_cpu_max_isa={PORTABLE_ISA}".strip()
    tf.config.threading.set_intra_op_parallelism_threads(cpu.threads)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's CPU kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
