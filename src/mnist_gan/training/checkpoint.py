"""Resumable training checkpoints: one .npz file, replaced atomically, whose bytes
depend only on its contents (numpy's own savez stamps the write time into the zip).

It holds the trainer's state (`trainer_state`, put back by `restore_trainer`: weights,
optimizer slots, the random stream), the sample grids so far, and a JSON header with
the step, every event logged so far (so the curves can be replayed into a fresh
DVCLive folder) and the run's identity: hashes of the params, the training data and
the project code the run executes, and the versions of the libraries that compute it.
A run resumes a checkpoint only when every part of its identity matches; otherwise
`mismatch` says which part differs.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

from mnist_gan.core.errors import CheckpointError, short_reason
from mnist_gan.core.files import atomic_path

if TYPE_CHECKING:
    from mnist_gan.training.trainer import GANTrainer

CHECKPOINT_FILE = "checkpoint.npz"
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
IDENTITY_PARTS = {
    "params": "other params",
    "data": "other training data",
    "code": "other project code",
    "probe": "another classifier or reference set for the quality probe",
    "libraries": "other library versions",
}


def _sha256(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def run_identity(
    description: dict,
    images: np.ndarray,
    labels: np.ndarray,
    code: str,
    probe: tuple[bytes, ...] = (),
) -> dict[str, str]:
    """What a run's results depend on: the resolved params (JSON), the training images
    and labels, the digest of the project code it runs (sources.code_digest), what the
    logged quality probe measures against (`probe`: the classifier's weights and the
    reference images, as bytes), and the TensorFlow, Keras and NumPy versions."""
    return {
        "params": _sha256(json.dumps(description, sort_keys=True).encode()),
        "data": _sha256(
            np.ascontiguousarray(images).tobytes(), np.ascontiguousarray(labels).tobytes()
        ),
        "code": code,
        "probe": _sha256(*probe),
        "libraries": f"tensorflow {tf.__version__}, keras {keras.__version__}, "
        f"numpy {np.__version__}",
    }


def mismatch(saved: dict[str, str], current: dict[str, str]) -> str | None:
    """Why a checkpoint with identity `saved` is not this run's ("other project code"),
    or None if it is."""
    reasons = [
        text for part, text in IDENTITY_PARTS.items() if saved.get(part) != current.get(part)
    ]
    if not reasons:
        return None
    if "libraries" in saved and saved["libraries"] != current["libraries"]:
        reasons[-1] += f" ({saved['libraries']})"
    return ", ".join(reasons)


def _trainer_variables(trainer: GANTrainer) -> list[tf.Variable]:
    """Everything a resumed run needs: the networks' weights (with the average), both
    optimizers' slots and step counters, and the random stream's state, in that order."""
    gan = trainer.gan
    average = gan.ema_generator.model.weights if gan.ema_generator is not None else []
    return [
        *gan.generator.model.weights,
        *gan.discriminator.model.weights,
        *average,
        *trainer.g_optimizer.variables,
        *trainer.d_optimizer.variables,
        trainer.rng.state,
    ]


def trainer_state(trainer: GANTrainer) -> list[np.ndarray]:
    """Copies of the trainer's variables, for `Checkpoint.variables`."""
    return [np.array(variable.numpy()) for variable in _trainer_variables(trainer)]


def restore_trainer(trainer: GANTrainer, arrays: list[np.ndarray]) -> None:
    """Load `trainer_state` arrays into `trainer`; ValueError, before changing anything,
    if they do not fit (another count, shape or dtype)."""
    variables = _trainer_variables(trainer)
    if len(arrays) != len(variables):
        raise ValueError(f"checkpoint holds {len(arrays)} arrays, expected {len(variables)}")
    for index, (variable, array) in enumerate(zip(variables, arrays, strict=True)):
        expected = (tuple(variable.shape), np.dtype(tf.as_dtype(variable.dtype).as_numpy_dtype))
        if (array.shape, array.dtype) != expected:
            raise ValueError(
                f"checkpoint array {index} is {array.dtype} {array.shape}, expected "
                f"{expected[1]} {expected[0]}"
            )
    for variable, array in zip(variables, arrays, strict=True):
        variable.assign(array)


@dataclass(frozen=True)
class Logged:
    """Values logged at a step; `prefix` is "" for the losses, "eval/" for the probe."""

    step: int
    values: dict[str, float]
    prefix: str = ""


@dataclass(frozen=True)
class Sampled:
    """A progress grid drawn at a step; `grid` indexes the checkpoint's grids."""

    step: int
    grid: int


Event = Logged | Sampled


def _event_from_json(item: dict) -> Event:
    return Sampled(**item) if "grid" in item else Logged(**item)


@dataclass
class Checkpoint:
    """identity: run_identity(); step: steps done; variables: `trainer_state()`;
    grids: uint8 [T, H, W]; history: every event so far, in order."""

    identity: dict[str, str]
    step: int
    variables: list[np.ndarray]
    grids: list[np.ndarray] = field(default_factory=list)
    history: list[Event] = field(default_factory=list)

    def last_logged(self) -> dict[str, float]:
        """The values of the last loss log, or {}."""
        logs = [e.values for e in self.history if isinstance(e, Logged) and e.prefix == ""]
        return logs[-1] if logs else {}


def save(folder: Path, checkpoint: Checkpoint) -> None:
    header = {
        "identity": checkpoint.identity,
        "step": checkpoint.step,
        "history": [asdict(event) for event in checkpoint.history],
        "variables": len(checkpoint.variables),
    }
    arrays = {f"variable_{i:04d}": a for i, a in enumerate(checkpoint.variables)}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    if checkpoint.grids:
        arrays["grids"] = np.stack(checkpoint.grids)
    with atomic_path(Path(folder) / CHECKPOINT_FILE) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_ZIP_TIME)
            with archive.open(entry, "w") as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)


def load(folder: Path) -> Checkpoint | None:
    """The checkpoint in `folder`, or None if there is none. CheckpointError, in one
    line naming the file, if it is unreadable, truncated or not a checkpoint."""
    path = Path(folder) / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(archive["header"].tobytes().decode())
            variables = [archive[f"variable_{i:04d}"] for i in range(header["variables"])]
            grids = list(archive["grids"]) if "grids" in archive else []
        return Checkpoint(
            dict(header["identity"]),
            int(header["step"]),
            variables,
            grids,
            [_event_from_json(item) for item in header["history"]],
        )
    except Exception as error:  # any damage: a bad zip, a missing key, bad JSON, ...
        raise CheckpointError(f"{path} is unreadable or damaged ({short_reason(error)})") from None
