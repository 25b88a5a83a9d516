"""Atomic file output: a reader never sees a half-written file where a good one belongs."""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mnist_gan.core.errors import (
    InputFileError,
    OutputError,
    quote,
    restore_hint,
    short_reason,
    unreadable,
)

DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def _disk_full(error: BaseException, folder: Path, needed: int | None) -> bool:
    """Whether `error`, raised while writing in `folder`, comes from a full disk (or
    quota). Writers raise many types, some without an errno (NumPy's "1000000 requested
    and 61312 written"), so an OSError on a filesystem left with less than the bytes
    needed (or 1 MiB) counts too."""
    if getattr(error, "errno", None) in DISK_FULL_ERRNOS or "No space left" in str(error):
        return True
    return isinstance(error, OSError) and shutil.disk_usage(folder).free < (needed or 1 << 20)


def _disk_full_error(destination: Path, needed: int | None, error: BaseException) -> OutputError:
    free = shutil.disk_usage(destination.parent).free
    need = f"about {needed:,} bytes needed, " if needed else ""
    return OutputError(
        f"{destination}: cannot be written, the disk is full ({need}{free:,} bytes free "
        f"there; {short_reason(error, 80)}); free some space and rerun. Nothing "
        "half-written was left."
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# What DVCLive writes in its folder when logging without dvc.yaml, report or params.
DVCLIVE_ENTRIES = ("metrics.json", "plots")
TEMPORARY_PREFIX = ".tmp-"  # atomic_path's and atomic_folder's names: a killed write's


def _refuse_link(path: Path, option: str) -> Path:
    """Writing over a symbolic link would either replace the link or write through it,
    into whatever it points at (DVC's cache, say): neither is what anyone asked for."""
    path = Path(path)
    if path.is_symlink():
        raise OutputError(
            f"{path} is a symbolic link; nothing was written. Give {option} a real path "
            "(remove the link, or `dvc unprotect` it if DVC made it)"
        )
    return path


def claim_output(path: Path, option: str) -> Path:
    """Check, before any work, that the stage may write the file `path`: not a folder,
    not a symbolic link. OutputError naming the path and the option."""
    path = _refuse_link(path, option)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give {option} a file path")
    return path


def claim_folder(folder: Path, owned: Collection[str], option: str) -> Path:
    """Check, before any work, that the stage may write the folder `folder`: absent, or
    a real folder whose entries are all names the stage writes (`owned`) or a killed
    write's temporaries. A folder holding anything else (a file the user put there, a
    params.yaml) is refused in one line, never emptied. Returns `folder`."""
    folder = _refuse_link(folder, option)
    if not folder.exists():
        return folder
    if not folder.is_dir():
        raise OutputError(f"{folder} is a file, not a folder; give {option} a folder")
    foreign = sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.name not in owned and not entry.name.startswith(TEMPORARY_PREFIX)
    )
    if foreign:
        named = ", ".join(quote(name) for name in foreign[:3])
        more = f" and {len(foreign) - 3:,} more" if len(foreign) > 3 else ""
        raise OutputError(
            f"{folder} holds files this stage does not write ({named}{more}); nothing was "
            f"changed. Give {option} a new or empty folder, or move them away"
        )
    return folder


def keep_only(folder: Path, written: Collection[str]) -> None:
    """After a run wrote `written` into `folder` (checked by claim_folder), remove every
    other entry: an earlier run's files (per-digit pictures of another model, say) and
    killed writes' temporaries, so the folder holds only what this run wrote."""
    for entry in Path(folder).iterdir():
        if entry.name not in written:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


@contextlib.contextmanager
def atomic_path(destination: Path, needed_bytes: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `destination`; rename it into place on success.

    On any exception the temporary file is removed and `destination` is untouched; a
    full disk becomes one OutputError naming `destination`, the free space and
    `needed_bytes` (the expected size, when the caller knows it). The temporary name
    ends with the destination's name, for writers that check suffixes.
    """
    destination = Path(destination)
    if destination.is_dir() and not destination.is_symlink():
        raise OutputError(f"{destination} is a folder; give a file path there instead")
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=TEMPORARY_PREFIX, suffix=f"-{destination.name}", dir=destination.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        tmp.replace(destination)
    except Exception as error:
        if _disk_full(error, destination.parent, needed_bytes):
            tmp.unlink(missing_ok=True)
            raise _disk_full_error(destination, needed_bytes, error) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(destination: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `destination`; on success it replaces
    `destination` whole (an older folder there is removed after the swap).

    On any exception the temporary folder is removed and `destination` is untouched.
    The two renames are not one atomic step: a crash between them leaves no folder at
    `destination` (never a mixed one), and the next run writes it again. Temporary
    folders a killed run left beside `destination` are removed first.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    for stale in destination.parent.glob(f".tmp-*-{destination.name}*"):  # a killed run's
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(
        tempfile.mkdtemp(
            prefix=TEMPORARY_PREFIX, suffix=f"-{destination.name}", dir=destination.parent
        )
    )
    old = tmp.with_name(tmp.name + ".old")
    try:
        yield tmp
        tmp.chmod(0o777 & ~_umask())  # mkdtemp creates 0700; give the usual permissions
        if destination.exists():
            destination.replace(old)
        tmp.replace(destination)
    except Exception as error:
        if _disk_full(error, destination.parent, None):
            shutil.rmtree(tmp, ignore_errors=True)
            raise _disk_full_error(destination, None, error) from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    with atomic_path(path, len(text.encode())) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows with the same keys as a CSV table with a header line."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, array.nbytes + 128) as tmp:  # 128: the .npy header
        np.save(tmp, array, allow_pickle=False)


def require_finite(arrays: Iterable[np.ndarray], path: Path, fix: str) -> None:
    """InputFileError naming `path` unless every value of `arrays` (e.g. a model's
    loaded weights) is finite: NaN weights draw black digits and score nonsense."""
    bad = sum(int(np.size(array) - np.count_nonzero(np.isfinite(array))) for array in arrays)
    if bad:
        raise InputFileError(
            f"{path}: holds {bad:,} non-finite weights (NaN or inf), so it cannot be used "
            f"(a diverged training?); {fix}"
        )


def read_npy(path: Path, fix: str | None = None) -> np.ndarray:
    """An array saved by `write_npy`; InputFileError naming the file and `fix` if it is
    missing, truncated or not a plain .npy array (nothing is unpickled)."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise unreadable(path, error, fix or restore_hint(path)) from None
