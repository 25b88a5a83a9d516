"""Fetch files from an ordered list of mirrors, verify their md5, and only then keep them.

A mirror is an http(s):// URL, a file:// URL or a local folder. For each file, the
mirrors are tried in order: network errors are retried with exponential backoff (at
most `max_backoff_seconds` between tries), a checksum mismatch, a file over the size
ceiling, a transfer past its deadline or a definite "no" (HTTP 4xx, missing file)
moves on to the next mirror. The file streams into a temporary file beside its
destination and is renamed into place only once its md5 matches, so the destination
folder never holds a partial or unverified file; temporary files that a killed run
left behind are removed at the start of the next.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from mnist_gan.core.config import DataConfig, FileEntry
from mnist_gan.core.errors import DownloadError
from mnist_gan.core.files import atomic_path

CHUNK_BYTES = 1 << 20


class _ChecksumMismatchError(Exception):
    pass


class _OverLimitError(Exception):
    """The file is larger than the ceiling, or its transfer outlived its deadline."""


class _RetryableError(Exception):
    """A transient failure (connection, timeout, HTTP 5xx/429) worth another try."""


@dataclass(frozen=True)
class Attempt:
    """What one mirror answered for one file, for the final error message."""

    location: str
    outcome: str


def is_url(mirror: str) -> bool:
    return mirror.lower().startswith(("http://", "https://", "file://"))


# Where DVC runs a queued or --temp experiment: a copy of the repo in this folder of
# the workspace it was queued from.
EXPERIMENT_COPIES = (".dvc", "tmp", "exps")


def project_root(folder: Path) -> Path:
    """The workspace a stage running in `folder` belongs to: `folder` itself, or, for a
    copy under `<workspace>/.dvc/tmp/exps/`, that workspace."""
    parts = Path(folder).absolute().parts
    for index in range(len(parts) - len(EXPERIMENT_COPIES), 0, -1):
        if parts[index : index + len(EXPERIMENT_COPIES)] == EXPERIMENT_COPIES:
            return Path(*parts[:index])
    return Path(folder).absolute()


def resolve_mirror(mirror: str, root: Path) -> str:
    """A URL as it is; a local folder with `~` expanded and, when relative, taken
    relative to `root` (the project root), so that `../shared/mnist` means the same
    folder in the workspace and in an experiment's copy of it."""
    if is_url(mirror):
        return mirror
    return str(Path(root) / Path(mirror).expanduser())


def locate(mirror: str, name: str) -> str:
    """The address of file `name` on `mirror` (a URL, or a local path)."""
    if is_url(mirror):
        return mirror.rstrip("/") + "/" + name
    return str(Path(mirror).expanduser() / name)


@contextmanager
def _open(location: str, timeout: float) -> Iterator[tuple[BinaryIO, int | None]]:
    """Open a URL or local path for reading; yield (stream, size in bytes or None)."""
    if not is_url(location):
        with Path(location).open("rb") as handle:
            yield handle, Path(location).stat().st_size
        return
    try:
        response = urllib.request.urlopen(location, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code >= 500 or error.code == 429:
            raise _RetryableError(f"HTTP {error.code} {error.reason}") from None
        raise
    except urllib.error.URLError as error:
        if isinstance(error.reason, FileNotFoundError):
            raise error.reason from None
        raise _RetryableError(f"cannot connect: {error.reason}") from None
    with response:
        length = response.headers.get("Content-Length")
        yield response, int(length) if length and length.isdigit() else None


def _copy_verified(
    location: str,
    entry: FileEntry,
    destination: Path,
    timeout: float,
    progress: bool | None,
    max_bytes: int = 64 << 20,
    deadline_seconds: float = 600.0,
) -> None:
    """Stream one file to `destination` if its md5 matches; raise otherwise. Reads
    return as soon as any bytes arrive (`read1`), so a mirror that trickles data still
    meets the deadline between reads, and no more than `max_bytes` + one chunk is
    ever read."""
    digest = hashlib.md5()
    deadline = time.monotonic() + deadline_seconds
    received = 0
    with atomic_path(destination) as tmp:
        try:
            with _open(location, timeout) as (stream, size), tmp.open("wb") as out:
                if size is not None and size > max_bytes:
                    raise _OverLimitError(f"{size:,} bytes announced, over {_limit(max_bytes)}")
                bar = tqdm(
                    total=size,
                    unit="B",
                    unit_scale=True,
                    desc=entry.name,
                    disable=None if progress is None else not progress,
                )
                with bar:
                    while chunk := stream.read1(CHUNK_BYTES):
                        received += len(chunk)
                        if received > max_bytes:
                            raise _OverLimitError(f"more than {_limit(max_bytes)} sent")
                        if time.monotonic() > deadline:
                            raise _OverLimitError(
                                f"still sending after {deadline_seconds:g} s "
                                f"({received:,} bytes; data.file_deadline_seconds)"
                            )
                        digest.update(chunk)
                        out.write(chunk)
                        bar.update(len(chunk))
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise _RetryableError(f"transfer failed: {error!r}") from None
        if digest.hexdigest() != entry.md5:
            raise _ChecksumMismatchError(
                f"md5 mismatch: got {digest.hexdigest()}, expected {entry.md5}"
            )


def _limit(max_bytes: int) -> str:
    return f"{max_bytes / (1 << 20):g} MB (data.max_file_megabytes)"


def remove_stale_temporaries(folder: Path, names: list[str]) -> list[Path]:
    """Delete the temporary files (`files.atomic_path`'s `.tmp-*-<name>`) that a killed
    download of one of `names` left in `folder`; returns what was removed."""
    stale = [
        path for name in names for path in Path(folder).glob(f".tmp-*-{name}") if path.is_file()
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def fetch(
    entry: FileEntry,
    mirrors: list[str],
    folder: Path,
    *,
    retries: int = 3,
    backoff_seconds: float = 1.0,
    max_backoff_seconds: float = 30.0,
    timeout_seconds: float = 30.0,
    deadline_seconds: float = 600.0,
    max_bytes: int = 64 << 20,
    progress: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download `entry` into `folder` from the first mirror that serves it intact.

    Each try reads at most `max_bytes` and lasts at most `deadline_seconds` (plus one
    `timeout_seconds` read); waits between tries double from `backoff_seconds` up to
    `max_backoff_seconds`. Returns the path of the verified file. Raises DownloadError
    listing what every mirror answered if none did.
    """
    folder = Path(folder)
    destination = folder / entry.name
    # The schema already forbids folders in names; this guards any other caller.
    if destination.resolve().parent != folder.resolve():
        raise DownloadError(f"file name {entry.name!r} would escape {folder}")
    attempts: list[Attempt] = []
    for mirror in mirrors:
        location = locate(mirror, entry.name)
        for attempt in range(retries + 1):
            try:
                _copy_verified(
                    location,
                    entry,
                    destination,
                    timeout_seconds,
                    progress,
                    max_bytes,
                    deadline_seconds,
                )
                return destination
            except _RetryableError as error:
                outcome = str(error)
                if attempt < retries:
                    sleep(_backoff(backoff_seconds, attempt, max_backoff_seconds))
                    continue
                outcome += f" (after {retries + 1} tries)"
            except (_ChecksumMismatchError, _OverLimitError) as error:
                outcome = str(error)
            except urllib.error.HTTPError as error:
                outcome = f"HTTP {error.code} {error.reason}"
            except FileNotFoundError:
                outcome = "no such file"
            except OSError as error:
                outcome = f"cannot read: {error.strerror or error}"
            attempts.append(Attempt(location, outcome))
            break
    lines = [f"could not get {entry.name} with md5 {entry.md5} from any mirror:"]
    lines += [f"  {a.location}: {a.outcome}" for a in attempts]
    lines.append(
        "Check data.mirrors and data.files in params.yaml (a local mirror needs its md5s)."
    )
    raise DownloadError("\n".join(lines))


def _backoff(first: float, attempt: int, ceiling: float) -> float:
    """first * 2**attempt, at most `ceiling` (and no float overflow for any attempt)."""
    return min(ceiling, first * 2 ** min(attempt, 64)) if first else 0.0


def download_all(
    config: DataConfig, folder: Path, root: Path, progress: bool | None = None
) -> list[Path]:
    """Fetch the four MNIST files of `config` into `folder`; returns their paths. A
    relative local mirror is taken relative to `root` (`project_root`)."""
    folder = Path(folder)
    mirrors = [resolve_mirror(mirror, root) for mirror in config.mirrors]
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder, [entry.name for entry in config.files.entries()])
    return [
        fetch(
            entry,
            mirrors,
            folder,
            retries=config.retries,
            backoff_seconds=config.backoff_seconds,
            max_backoff_seconds=config.max_backoff_seconds,
            timeout_seconds=config.timeout_seconds,
            deadline_seconds=config.file_deadline_seconds,
            max_bytes=config.max_file_megabytes << 20,
            progress=progress,
        )
        for entry in config.files.entries()
    ]
