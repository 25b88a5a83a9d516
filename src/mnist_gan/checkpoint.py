"""Resumable training checkpoints: one .npz file, replaced atomically, whose bytes
depend only on its contents (numpy's own savez stamps the write time into the zip).

It holds the trainer's variables (weights, optimizer slots, RNG state), the sample
grids so far, and a JSON header with the step, what was logged so far (so the curves
can be replayed into a fresh DVCLive folder) and a fingerprint of everything the run
depends on. A checkpoint whose fingerprint differs from the current run's is not
resumed from.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnist_gan.files import atomic_path

CHECKPOINT_FILE = "checkpoint.npz"
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def fingerprint(description: dict, images: np.ndarray) -> str:
    """sha256 of the resolved config (JSON) and the training images' bytes."""
    digest = hashlib.sha256(json.dumps(description, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()


@dataclass
class Checkpoint:
    """step: steps done; variables: the trainer's state; grids: uint8 [T, H, W];
    history: every logged (step, prefix, values) and sampled step, in order."""

    fingerprint: str
    step: int
    variables: list[np.ndarray]
    grids: list[np.ndarray] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)

    def last_logged(self) -> dict[str, float]:
        """The values of the last plain (loss) log event, or {}."""
        logs = [e["values"] for e in self.history if e.get("prefix") == ""]
        return logs[-1] if logs else {}


def save(folder: Path, checkpoint: Checkpoint) -> None:
    header = {
        "fingerprint": checkpoint.fingerprint,
        "step": checkpoint.step,
        "history": checkpoint.history,
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
    """The checkpoint in `folder`, or None if there is none."""
    path = Path(folder) / CHECKPOINT_FILE
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes().decode())
        variables = [archive[f"variable_{i:04d}"] for i in range(header["variables"])]
        grids = list(archive["grids"]) if "grids" in archive else []
    return Checkpoint(header["fingerprint"], header["step"], variables, grids, header["history"])
