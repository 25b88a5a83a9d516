"""Where and how TensorFlow runs: devices and tf.distribute strategies, XLA, seeding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from mnist_gan.core.config import CpuConfig
from mnist_gan.core.errors import ParamsError, quote

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


_TF_CONFIG_FIX = (
    'set it to {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
    '"index": i}} or unset TF_CONFIG'
)


def read_tf_config(environ: dict | None = None) -> dict | None:
    """The TF_CONFIG environment variable of `environ` (default os.environ), parsed
    and checked: None when unset or empty. Raises ParamsError, naming the variable
    and the fix, unless it is a JSON object with a `cluster` of job name -> list of
    "host:port" strings and a `task` whose type is one of those jobs and whose index
    is within that job's list."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not text:
        return None
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ParamsError(f"TF_CONFIG is not JSON ({error}); {_TF_CONFIG_FIX}") from None
    if not isinstance(config, dict):
        kind = type(config).__name__
        raise ParamsError(f"TF_CONFIG is not a JSON object (a {kind}); {_TF_CONFIG_FIX}")
    cluster = config.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise ParamsError(f"TF_CONFIG has no cluster of workers; {_TF_CONFIG_FIX}")
    for job, addresses in cluster.items():
        if not (
            isinstance(addresses, list)
            and addresses
            and all(isinstance(address, str) for address in addresses)
        ):
            raise ParamsError(
                f'TF_CONFIG\'s cluster.{job} = {quote(addresses)} is not a list of "host:port" '
                f"strings; {_TF_CONFIG_FIX}"
            )
    task = config.get("task")
    if not isinstance(task, dict) or not task:
        raise ParamsError(f"TF_CONFIG has no task (this process's place); {_TF_CONFIG_FIX}")
    job, index = task.get("type"), task.get("index", 0)
    if job not in cluster:
        raise ParamsError(
            f"TF_CONFIG's task type {quote(job)} is not a job of its cluster "
            f"({', '.join(map(str, cluster))}); {_TF_CONFIG_FIX}"
        )
    if type(index) is not int or not 0 <= index < len(cluster[job]):
        raise ParamsError(
            f"TF_CONFIG's task index {quote(index)} is not in 0..{len(cluster[job]) - 1} "
            f"for its {len(cluster[job])} {job} address(es); {_TF_CONFIG_FIX}"
        )
    return config


def describe_cluster(config: dict, wait_seconds: int) -> str:
    """One line on what a multi-worker run of TF_CONFIG `config` (read_tf_config)
    does: this process's place, and whom it waits for, how long."""
    job, index = config["task"]["type"], config["task"].get("index", 0)
    addresses = [address for addresses in config["cluster"].values() for address in addresses]
    mine = config["cluster"][job][index]
    others = [address for address in addresses if address != mine]
    line = f"TF_CONFIG: {job} {index} of {len(addresses)} (train.strategy multi_worker); "
    if not others:
        return line + "no other worker to wait for"
    shown = ", ".join(others[:8]) + (f" and {len(others) - 8} more" if len(others) > 8 else "")
    return line + f"waiting up to {wait_seconds} s for {shown} to connect"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


_WATCHDOG = """
import os, signal, sys, time
parent, seconds, line = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
time.sleep(seconds)
if os.getppid() == parent:
    print(line, file=sys.stderr, flush=True)
    os.kill(parent, signal.SIGKILL)
"""


def _cluster_watchdog(wait_seconds: int) -> subprocess.Popen:
    """A process that stops this one with one error line after `wait_seconds`, unless
    killed first. It is a process, not a thread or an alarm: TensorFlow waits for the
    workers in C++ holding the GIL, and catches SIGTERM while it waits."""
    line = (
        f"error: the workers of TF_CONFIG did not all connect within {wait_seconds} s; "
        "start every worker its cluster lists, or raise train.cluster_wait_seconds"
    )
    command = [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(wait_seconds), line]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def make_strategy(
    name: str, report: Callable[[str], None] = _say, cluster_wait_seconds: int = 600
) -> tf.distribute.Strategy:
    """The tf.distribute strategy for `train.strategy`.

    one_device: the first GPU, else the CPU. mirrored: every GPU of this machine (else
    every logical CPU device, which is how it is tested). multi_worker: one replica set
    per machine listed in the TF_CONFIG environment variable. auto: multi_worker when
    TF_CONFIG is set, mirrored with more than one GPU, else one_device. Create it
    before any other TensorFlow work: multi-worker set-up must come first.

    A malformed TF_CONFIG is a ParamsError (`read_tf_config`), whatever the strategy.
    `report` gets one line when TF_CONFIG is set: that a one-machine strategy ignores
    it, or, for multi_worker, whom this process waits for before training: at most
    `cluster_wait_seconds`, then the process is stopped (SIGKILL) after one error line.
    """
    tf_config = read_tf_config()
    if name == "auto":
        if tf_config:
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    elif tf_config and name != "multi_worker":
        report(
            f"TF_CONFIG is set but ignored: train.strategy = {name} trains on this machine "
            "only (auto or multi_worker train on the machines it lists)"
        )
    if name == "multi_worker":
        if not tf_config:
            raise ParamsError(
                "train.strategy = multi_worker needs the TF_CONFIG environment variable "
                "(cluster addresses and this worker's index); see docs/engineering.md"
            )
        report(describe_cluster(tf_config, cluster_wait_seconds))
        watchdog = _cluster_watchdog(cluster_wait_seconds)
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()  # returns once all connect
        finally:
            watchdog.kill()
            watchdog.wait()
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
